"""Asynchronous HTTP client for the backend server, on Qt's event loop.

Nothing here blocks: every call returns a :class:`Call` at once, which later emits
``finished(result)`` or ``failed(ServerError)`` exactly once. A prompt runs as a server
job (``POST /v1/jobs`` then polling), so it reports progress and can be cancelled.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from .errors import ServerError
from .qt import (
    QByteArray,
    QNetworkAccessManager,
    QNetworkProxy,
    QNetworkReply,
    QNetworkRequest,
    QObject,
    QTimer,
    QUrl,
    pyqtSignal,
)
from .wire import API, JobStatus, PromptRequest, PromptResponse, ServerInfo, error_from_body

log = logging.getLogger(__name__)

POLL_MS = 200
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class Call(QObject):
    """One pending operation; emits ``finished`` or ``failed`` once."""

    finished = pyqtSignal(object)
    failed = pyqtSignal(object)
    progress = pyqtSignal(float)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.done = False
        self.result: Any = None
        self.error: ServerError | None = None
        self.inner: Call | None = None  # the call this one waits for, if any

    def _finish(self, result: Any) -> None:
        if not self.done:
            self.done, self.result = True, result
            self.finished.emit(result)

    def _fail(self, error: ServerError) -> None:
        if not self.done:
            self.done, self.error = True, error
            self.failed.emit(error)

    def cancel(self) -> None:
        if self.inner is not None and not self.inner.done:
            self.inner.cancel()
        self._fail(ServerError("cancelled", "Cancelled."))

    def then(
        self, on_result: Callable[[Any], None], on_error: Callable[[ServerError], None]
    ) -> Call:
        self.finished.connect(on_result)
        self.failed.connect(on_error)
        return self


class HttpCall(Call):
    """A single HTTP request."""

    def __init__(self, reply: QNetworkReply, url: str, timeout_s: float) -> None:
        super().__init__()
        self.reply = reply
        self.url = url
        self.timeout_s = timeout_s
        self._cancelled = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_timeout)
        self._timed_out = False
        self._timer.start(int(timeout_s * 1000))
        reply.finished.connect(self._on_finished)

    def cancel(self) -> None:
        self._cancelled = True
        self._timer.stop()
        if not self.done:
            super().cancel()
            self.reply.abort()

    def _on_timeout(self) -> None:
        self._timed_out = True
        self.reply.abort()

    def _on_finished(self) -> None:
        self._timer.stop()
        reply = self.reply
        try:
            if self._cancelled:
                return
            status = reply.attribute(QNetworkRequest.Attribute.HttpStatusCodeAttribute)
            data = bytes(reply.readAll().data())
            error = reply.error()
            if status is None or (error != QNetworkReply.NetworkError.NoError and status < 400):
                self._fail(self._network_error(error, reply.errorString()))
                return
            try:
                body = json.loads(data.decode("utf-8")) if data else None
            except ValueError:
                body = None
            if int(status) >= 400:
                self._fail(error_from_body(body, int(status)))
            elif body is None:
                self._fail(ServerError("bad_answer", "The server's answer is not JSON."))
            else:
                self._finish(body)
        finally:
            reply.deleteLater()

    def _network_error(self, error: Any, text: str) -> ServerError:
        errors = QNetworkReply.NetworkError
        if self._timed_out or error == errors.TimeoutError:
            return ServerError(
                "timeout",
                f"The server at {self.url} did not answer within {self.timeout_s:g} seconds.",
            )
        if error == errors.ConnectionRefusedError:
            return ServerError(
                "server_not_running", f"The Visual Prompt server is not running at {self.url}."
            )
        if error == errors.HostNotFoundError:
            host = urlsplit(self.url).hostname or self.url
            return ServerError("host_not_found", f"Cannot find the server's host {host}.")
        if error in (errors.RemoteHostClosedError, errors.ProxyConnectionClosedError):
            return ServerError(
                "connection_closed", "The server closed the connection (did it crash or stop?)."
            )
        if error == errors.SslHandshakeFailedError:
            return ServerError("ssl", f"Secure connection to {self.url} failed: {text}")
        return ServerError("network", f"Cannot talk to the server at {self.url}: {text}")


class PromptCall(Call):
    """A prompt as a server job: submit, poll, report progress, cancel on the server too."""

    def __init__(self, client: Client, request: PromptRequest, timeout_s: float) -> None:
        super().__init__()
        self.client = client
        self.job_id: str | None = None
        self._pending: Call | None = None
        self._poll = QTimer(self)
        self._poll.setSingleShot(True)
        self._poll.timeout.connect(self._poll_once)
        self._deadline = QTimer(self)
        self._deadline.setSingleShot(True)
        self._deadline.timeout.connect(self._on_deadline)
        self._deadline.start(int(timeout_s * 1000))
        self.timeout_s = timeout_s
        self._body = request.to_json()
        self._pending = client.post("/jobs", self._body, timeout_s=timeout_s)
        self._pending.then(self._on_submitted, self._on_submit_error)

    def _stop(self) -> None:
        self._poll.stop()
        self._deadline.stop()
        if self._pending is not None and not self._pending.done:
            self._pending.cancel()

    def cancel(self) -> None:
        if self.done:
            return
        self._stop()
        if self.job_id:
            self.client.delete(f"/jobs/{self.job_id}")  # best effort, answer ignored
        super().cancel()

    def _on_deadline(self) -> None:
        if self.done:
            return
        self._stop()
        if self.job_id:
            self.client.delete(f"/jobs/{self.job_id}")
        self._fail(
            ServerError("timeout", f"No answer from the server within {self.timeout_s:g} seconds.")
        )

    def _on_submit_error(self, error: ServerError) -> None:
        if error.code == "not_found" and error.status == 404:  # a server without jobs
            self._pending = self.client.post("/prompt", self._body, timeout_s=self.timeout_s)
            self._pending.then(self._on_sync_result, self._on_error)
            return
        self._on_error(error)

    def _on_sync_result(self, body: Any) -> None:
        try:
            self._succeed(PromptResponse.from_json(body))
        except ServerError as exc:
            self._on_error(exc)

    def _on_submitted(self, body: Any) -> None:
        try:
            self._on_status(JobStatus.from_json(body))
        except ServerError as exc:
            self._on_error(exc)

    def _poll_once(self) -> None:
        if self.done or not self.job_id:
            return
        self._pending = self.client.get(f"/jobs/{self.job_id}")
        self._pending.then(self._on_submitted, self._on_error)

    def _on_status(self, status: JobStatus) -> None:
        if self.done:
            return
        self.job_id = status.id
        if status.state == "done":
            if status.result is None:
                self._on_error(ServerError("bad_answer", "The server's job has no result."))
            else:
                self._succeed(status.result)
        elif status.state in ("failed", "cancelled"):
            self._on_error(
                status.error or ServerError(status.state, f"The server's job {status.state}.")
            )
        else:
            self.progress.emit(max(0.0, min(1.0, status.progress)))
            self._poll.start(POLL_MS)

    def _succeed(self, response: PromptResponse) -> None:
        self._stop()
        self.progress.emit(1.0)
        self._finish(response)

    def _on_error(self, error: ServerError) -> None:
        self._stop()
        self._fail(error)


class Client(QObject):
    """The server's HTTP API. ``url`` like ``http://127.0.0.1:7480``; token may be ""."""

    def __init__(
        self,
        url: str,
        token: str = "",
        timeout_s: float = 10.0,
        prompt_timeout_s: float = 300.0,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.url = url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        self.prompt_timeout_s = prompt_timeout_s
        self.manager = QNetworkAccessManager(self)
        if urlsplit(self.url).hostname in _LOOPBACK:
            self.manager.setProxy(QNetworkProxy(QNetworkProxy.ProxyType.NoProxy))
        self._calls: set[Call] = set()

    def _keep(self, call: Call) -> Call:
        self._calls.add(call)
        call.finished.connect(lambda _r, c=call: self._calls.discard(c))
        call.failed.connect(lambda _e, c=call: self._calls.discard(c))
        return call

    def _request(self, path: str) -> QNetworkRequest:
        request = QNetworkRequest(QUrl(self.url + API + path))
        request.setHeader(QNetworkRequest.KnownHeaders.ContentTypeHeader, "application/json")
        if self.token:
            request.setRawHeader(b"Authorization", f"Bearer {self.token}".encode())
        return request

    def _send(self, method: str, path: str, body: Any, timeout_s: float | None) -> Call:
        request = self._request(path)
        timeout = timeout_s or self.timeout_s
        if method == "GET":
            reply = self.manager.get(request)
        elif method == "DELETE":
            reply = self.manager.deleteResource(request)
        else:
            data = QByteArray(json.dumps(body).encode("utf-8"))
            reply = self.manager.post(request, data)
        return self._keep(HttpCall(reply, self.url, timeout))

    def get(self, path: str, timeout_s: float | None = None) -> Call:
        return self._send("GET", path, None, timeout_s)

    def post(self, path: str, body: Any, timeout_s: float | None = None) -> Call:
        return self._send("POST", path, body, timeout_s)

    def delete(self, path: str, timeout_s: float | None = None) -> Call:
        return self._send("DELETE", path, None, timeout_s)

    def health(self) -> Call:
        return self.get("/health")

    def info(self) -> Call:
        """Emits a :class:`ServerInfo`."""
        call = Call()
        inner = self.get("/info")

        def convert(body: Any) -> None:
            try:
                call._finish(ServerInfo.from_json(body))
            except ServerError as exc:
                call._fail(exc)

        inner.then(convert, call._fail)
        call.inner = inner
        return self._keep(call)

    def prompt(self, request: PromptRequest, timeout_s: float | None = None) -> PromptCall:
        """Emits a :class:`PromptResponse`; ``progress`` while the server works."""
        call = PromptCall(self, request, timeout_s or self.prompt_timeout_s)
        self._keep(call)
        return call
