"""The inference worker: one thread owns the model and the device.

Requests wait in a bounded queue. The worker takes the oldest one, gathers the queued
requests that can share its forward pass (same model, same number of pairs, same
ensembling) and calls ``model.prompt_batch`` once for all of them. A failing batch is
retried one request at a time so that one bad request (or an out-of-memory on a large
batch) does not fail its neighbours. No exception leaves the loop.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from backend_server.errors import ApiError, from_exception, is_out_of_memory
from backend_server.models import ModelManager, free_device_memory

logger = logging.getLogger(__name__)

_ids = itertools.count(1)


@dataclass(eq=False)
class Task:
    """One prompt on its way through the queue. The worker sets the outcome fields."""

    request: Any  # visprompt_core.PromptRequest
    model: str | None
    canvases: int  # canvases this prompt puts through the model (pairs or ensemble)
    timeout_s: float
    on_done: Callable[[Task], None] | None = None
    number: int = field(default_factory=lambda: next(_ids))
    enqueued_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None
    finished_at: float | None = None
    state: str = "queued"  # queued | running | done | failed | cancelled
    result: Any = None
    error: ApiError | None = None
    model_name: str | None = None
    batch_size: int = 0
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def deadline(self) -> float:
        return self.enqueued_at + self.timeout_s

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "cancelled")


class InferenceWorker:
    def __init__(
        self,
        manager: ModelManager,
        initial_model: str,
        queue_size: int,
        max_batch: int,
        batch_wait_ms: float = 0.0,
        max_canvases: int = 32,
    ) -> None:
        self.manager = manager
        self.initial_model = initial_model
        self.queue_size = queue_size
        self.max_batch = max_batch
        self.batch_wait_s = batch_wait_ms / 1000.0
        self.max_canvases = max_canvases
        self._pending: deque[Task] = deque()
        self._control: deque[tuple[Callable[[], Any], _Reply]] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._running: list[Task] = []
        self.ready = threading.Event()
        self.startup_error: BaseException | None = None
        self.batch_seconds_ema: float | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="visprompt-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stopping = True
            leftover = list(self._pending)
            self._pending.clear()
            controls = list(self._control)
            self._control.clear()
            self._cond.notify_all()
        for task in leftover:
            self._finish(task, error=ApiError("shutting_down", "the server is shutting down"))
        for _, reply in controls:
            reply.set(error=ApiError("shutting_down", "the server is shutting down"))
        if self._thread is not None:
            self._thread.join(timeout)

    # -- API used by request handlers (any thread) -------------------------------------

    @property
    def depth(self) -> int:
        with self._cond:
            return len(self._pending) + len(self._running)

    def submit(self, task: Task) -> None:
        """Queue a task or raise ``ApiError('queue_full')``."""
        with self._cond:
            if self._stopping:
                raise ApiError("shutting_down", "the server is shutting down")
            if len(self._pending) >= self.queue_size:
                raise ApiError(
                    "queue_full",
                    f"the server is busy ({len(self._pending)} requests waiting); retry later",
                    retry_after=self.retry_after(),
                )
            self._pending.append(task)
            self._cond.notify_all()

    def cancel(self, task: Task, error: ApiError | None = None) -> bool:
        """Cancel a queued or running task. Returns False if it had already finished.

        A running forward pass cannot be interrupted; its result is thrown away.
        ``error`` replaces the default ``cancelled`` outcome (a timeout, say).
        """
        with self._cond:
            if task.finished:
                return False
            with contextlib.suppress(ValueError):
                self._pending.remove(task)
        self._finish(task, error=error or ApiError("cancelled", "the request was cancelled"))
        return True

    def call(self, func: Callable[[], Any], timeout: float) -> Any:
        """Run ``func`` on the worker thread between batches (model loading)."""
        reply = _Reply()
        with self._cond:
            if self._stopping:
                raise ApiError("shutting_down", "the server is shutting down")
            self._control.append((func, reply))
            self._cond.notify_all()
        return reply.wait(timeout)

    def retry_after(self) -> float:
        per_batch = self.batch_seconds_ema or 1.0
        waiting = len(self._pending) / max(1, self.max_batch) + 1
        return max(1.0, per_batch * waiting)

    def progress(self, task: Task) -> float:
        """A 0..1 estimate from the time a batch usually takes."""
        if task.finished:
            return 1.0
        if task.state != "running" or task.started_at is None:
            return 0.0
        expected = self.batch_seconds_ema or 1.0
        return min(0.95, (time.monotonic() - task.started_at) / expected)

    # -- worker thread -----------------------------------------------------------------

    def _main(self) -> None:
        try:
            self.manager.load(self.initial_model)
        except BaseException as exc:  # report any failure to the starter, then end
            self.startup_error = exc
            self.ready.set()
            return
        self.ready.set()
        while True:
            job = self._next()
            if job is None:
                return
            try:
                if isinstance(job, tuple):
                    func, reply = job
                    self._run_control(func, reply)
                else:
                    self._run_batch(job)
            except Exception:  # the loop must survive anything
                logger.exception("worker loop error")
            finally:
                with self._cond:
                    self._running = []

    def _next(self) -> tuple[Callable[[], Any], _Reply] | list[Task] | None:
        with self._cond:
            while True:
                if self._stopping:
                    return None
                if self._control:
                    return self._control.popleft()
                self._drop_expired()
                if self._pending:
                    break
                self._cond.wait(timeout=1.0)
            first = self._pending.popleft()
            batch = [first]
            self._take_compatible(batch)
            if len(batch) < self.max_batch and self.batch_wait_s > 0:
                end = time.monotonic() + self.batch_wait_s
                while len(batch) < self.max_batch and not self._stopping:
                    left = end - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(timeout=left)
                    self._take_compatible(batch)
            now = time.monotonic()
            for task in batch:
                task.state = "running"
                task.started_at = now
            self._running = batch
            return batch

    def _take_compatible(self, batch: list[Task]) -> None:
        """Move queued tasks that may share ``batch``'s forward pass into it."""
        current = self.manager.name
        model = batch[0].model or current
        canvases = sum(t.canvases for t in batch)
        for task in list(self._pending):
            if len(batch) >= self.max_batch:
                return
            if (task.model or current) == model and canvases + task.canvases <= self.max_canvases:
                self._pending.remove(task)
                batch.append(task)
                canvases += task.canvases

    def _drop_expired(self) -> None:
        now = time.monotonic()
        expired = [t for t in self._pending if t.deadline <= now]
        for task in expired:
            self._pending.remove(task)
            task.state = "failed"
            task.error = _timeout_error(task)
            task.finished_at = now
            task.done.set()
            if task.on_done is not None:
                _safe_callback(task)

    def _run_control(self, func: Callable[[], Any], reply: _Reply) -> None:
        try:
            reply.set(value=func())
        except Exception as exc:
            if is_out_of_memory(exc):
                free_device_memory()
            reply.set(error=from_exception(exc))

    def _run_batch(self, batch: list[Task]) -> None:
        batch = [t for t in batch if not t.finished]
        if not batch:
            return
        model = batch[0].model
        try:
            if model is not None and model != self.manager.name:
                self.manager.load(model)
        except Exception as exc:
            err = from_exception(exc)
            for task in batch:
                self._finish(task, error=err)
            return
        started = time.monotonic()
        try:
            answers = self.manager.prompt_batch([t.request for t in batch])
            if len(answers) != len(batch):
                raise RuntimeError(f"prompt_batch returned {len(answers)} answers")
        except Exception as exc:
            if is_out_of_memory(exc):
                free_device_memory()
            if len(batch) == 1:
                self._finish(batch[0], error=from_exception(exc))
                return
            logger.info("batch of %d failed (%s); retrying one by one", len(batch), exc)
            for task in batch:
                self._run_batch([task])
            return
        elapsed = time.monotonic() - started
        ema = self.batch_seconds_ema
        self.batch_seconds_ema = elapsed if ema is None else 0.8 * ema + 0.2 * elapsed
        for task, answer in zip(batch, answers, strict=True):
            task.batch_size = len(batch)
            task.model_name = self.manager.name
            self._finish(task, result=answer)

    def _finish(self, task: Task, result: Any = None, error: ApiError | None = None) -> None:
        """Record the outcome once; later calls (a cancel racing a result) are ignored."""
        with self._cond:
            if task.finished:
                return
            task.finished_at = time.monotonic()
            if error is None:
                task.result = result
                task.state = "done"
            else:
                task.error = error
                task.state = "cancelled" if error.code == "cancelled" else "failed"
        task.done.set()
        if task.on_done is not None:
            _safe_callback(task)


def _timeout_error(task: Task) -> ApiError:
    return ApiError("timeout", f"the request did not finish within {task.timeout_s:g} s")


def _safe_callback(task: Task) -> None:
    try:
        assert task.on_done is not None
        task.on_done(task)
    except Exception:
        logger.exception("task callback failed")


class _Reply:
    def __init__(self) -> None:
        self._event = threading.Event()
        self._value: Any = None
        self._error: ApiError | None = None

    def set(self, value: Any = None, error: ApiError | None = None) -> None:
        self._value, self._error = value, error
        self._event.set()

    def wait(self, timeout: float) -> Any:
        if not self._event.wait(timeout):
            raise ApiError("timeout", f"the operation did not finish within {timeout:g} s")
        if self._error is not None:
            raise self._error
        return self._value
