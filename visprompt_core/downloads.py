"""Resumable, verified HTTP downloads with the standard library only.

``download(url, dest)`` writes ``dest.part`` next to the target, resumes it with a
``Range`` request after an interruption, retries transient failures with exponential
backoff, checks free disk space before writing, verifies a sha256 when one is known and
renames the finished file into place atomically. Servers that ignore ``Range`` are
handled by starting over. Web pages that stand between a link and the file (Google
Drive's "can't scan this file for viruses" interstitial) are parsed for their
confirmation form or token and followed; when the host refuses (quota exceeded, sign-in
required) the error says how to download by hand.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import http.cookiejar
import json
import logging
import os
import re
import shutil
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from visprompt_core.errors import DownloadError

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, "int | None"], None]
"""Called as ``progress(bytes_done, bytes_total_or_None)`` while data arrives."""

CHUNK = 1 << 20
USER_AGENT = "visprompt-downloader/1 (+https://github.com/visprompt)"
DISK_MARGIN = 64 << 20
MAX_INTERSTITIAL_BYTES = 4 << 20
MAX_CONFIRMATIONS = 3
PERMANENT_HTTP = {400, 401, 403, 404, 405, 410, 451}


class DownloadCancelled(DownloadError):
    """The caller asked the download to stop (the ``.part`` file is kept for resuming)."""

    code = "cancelled"


@dataclass
class DownloadResult:
    path: Path
    sha256: str
    size: int
    resumed: bool = False
    restarts: int = 0
    urls: list[str] = field(default_factory=list)


@dataclass
class _Attempt:
    """Mutable state shared by the attempts of one download."""

    url: str
    resumed: bool = False
    restarts: int = 0
    confirmations: int = 0
    urls: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- helpers


def sha256_file(path: Path, progress: ProgressCallback | None = None) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
            done += len(block)
            if progress is not None:
                progress(done, total)
    return digest.hexdigest()


def check_disk_space(folder: Path, needed: int) -> None:
    """Raise ``DownloadError`` unless ``folder`` has ``needed`` bytes plus a margin free."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < needed + DISK_MARGIN:
        raise DownloadError(
            f"not enough disk space in {folder}: {needed / 1e6:.0f} MB needed "
            f"(+{DISK_MARGIN >> 20} MiB margin), {free / 1e6:.0f} MB free"
        )


def drive_file_id(url: str) -> str | None:
    """The file id in a Google Drive share or download link, or None."""
    parsed = urllib.parse.urlparse(url)
    if not parsed.netloc.endswith(("drive.google.com", "drive.usercontent.google.com")):
        return None
    if m := re.search(r"/file/d/([0-9A-Za-z_-]+)", parsed.path):
        return m.group(1)
    ids = urllib.parse.parse_qs(parsed.query).get("id")
    return ids[0] if ids else None


def drive_download_url(file_id: str) -> str:
    """The direct-download form of a Google Drive file link."""
    return f"https://drive.google.com/uc?export=download&id={file_id}"


class _PageParser(HTMLParser):
    """Collects forms (action, method, named inputs), links and visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, object]] = []
        self.links: list[str] = []
        self.text: list[str] = []
        self._form: dict[str, object] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self._form = {
                "id": a.get("id", ""),
                "action": a.get("action", ""),
                "method": a.get("method", "get").lower(),
                "inputs": {},
            }
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and a.get("name"):
            inputs = self._form["inputs"]
            assert isinstance(inputs, dict)
            inputs[a["name"]] = a.get("value", "")
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(data.strip())


def parse_confirmation_page(page: str, base_url: str) -> str | None:
    """The URL a download interstitial page confirms to, or None if it has none.

    Looks, in order, for a GET form carrying a ``confirm`` field (Drive's current
    ``download-form``), a link whose query has ``confirm=``, and a bare ``confirm=TOKEN``
    in the page's scripts, which is added to ``base_url``.
    """
    parser = _PageParser()
    parser.feed(page)
    forms = sorted(parser.forms, key=lambda f: f["id"] != "download-form")
    for form in forms:
        inputs = form["inputs"]
        assert isinstance(inputs, dict)
        if form["method"] == "get" and ("confirm" in inputs or form["id"] == "download-form"):
            action = urllib.parse.urljoin(base_url, str(form["action"]) or base_url)
            action = action.split("?", 1)[0]
            return f"{action}?{urllib.parse.urlencode(inputs)}"
    for href in parser.links:
        if "confirm=" in href:
            return urllib.parse.urljoin(base_url, href)
    if m := re.search(r"confirm=([0-9A-Za-z_-]+)", page):
        parts = urllib.parse.urlsplit(base_url)
        query = dict(urllib.parse.parse_qsl(parts.query))
        query["confirm"] = m.group(1)
        return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
    return None


_REFUSALS = (
    ("too many users have viewed or downloaded", "the file's download quota is exceeded"),
    ("quota exceeded", "the file's download quota is exceeded"),
    ("you need access", "the file is not shared publicly"),
    ("sign in", "the host asks you to sign in"),
    ("file does not exist", "the file no longer exists"),
)


def page_refusal(page: str) -> str | None:
    """A short reason when a web page says the host refuses the download."""
    parser = _PageParser()
    parser.feed(page)
    text = " ".join(parser.text).lower()
    for needle, reason in _REFUSALS:
        if needle in text:
            return reason
    return None


def _is_html(response: http.client.HTTPResponse) -> bool:
    ctype = response.headers.get("Content-Type", "")
    return ctype.split(";")[0].strip().lower() in {"text/html", "application/xhtml+xml"}


def _content_range(value: str | None) -> tuple[int, int | None] | None:
    """(start, total) from ``bytes START-END/TOTAL``; total None when ``*``."""
    if not value:
        return None
    m = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", value)
    if not m:
        return None
    return int(m.group(1)), (None if m.group(3) == "*" else int(m.group(3)))


def build_opener() -> urllib.request.OpenerDirector:
    """An opener that follows redirects and keeps cookies (Drive's confirmation needs them)."""
    return urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )


# --------------------------------------------------------------------------- download


class Downloader:
    """One download of ``url`` to ``dest``; use ``download()`` unless tuning internals."""

    def __init__(
        self,
        url: str,
        dest: Path,
        *,
        sha256: str | None = None,
        expected_size: int | None = None,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        timeout: float = 30.0,
        retries: int = 5,  # consecutive failed attempts without progress
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        manual_hint: str | None = None,
        opener: urllib.request.OpenerDirector | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if (fid := drive_file_id(url)) and "/file/d/" in url:
            url = drive_download_url(fid)
        self.url = url
        self.dest = Path(dest)
        self.part = self.dest.with_name(self.dest.name + ".part")
        self.meta = self.dest.with_name(self.dest.name + ".part.json")
        self.sha256 = sha256.lower() if sha256 else None
        self.expected_size = expected_size
        self.progress = progress
        self.cancel = cancel
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.manual_hint = manual_hint
        self.opener = opener or build_opener()
        self.sleep = sleep

    # The public entry point --------------------------------------------------------

    def run(self) -> DownloadResult:
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        if self.expected_size:
            have = self.part.stat().st_size if self.part.exists() else 0
            check_disk_space(self.dest.parent, max(self.expected_size - have, 0))
        state = _Attempt(url=self.url)
        failures = 0
        while True:
            self._check_cancel()
            before = self._part_size()
            try:
                done = self._attempt(state)
            except DownloadError:
                raise
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                status = exc.code if isinstance(exc, urllib.error.HTTPError) else None
                if status in PERMANENT_HTTP:
                    raise DownloadError(self._message(f"HTTP {status} for {state.url}")) from exc
                if self._part_size() > before:
                    failures = 0  # it made progress: only consecutive failures count
                failures += 1
                if failures > self.retries:
                    raise DownloadError(
                        self._message(f"giving up after {failures} attempts: {exc}")
                    ) from exc
                delay = min(self.backoff * 2 ** (failures - 1), self.max_backoff)
                if status == 429 or status == 503:
                    with contextlib.suppress(TypeError, ValueError, AttributeError):
                        delay = max(delay, float(exc.headers.get("Retry-After", "")))  # type: ignore[union-attr]
                log.warning(
                    "download of %s failed (%s); retry %d/%d in %.1fs",
                    self.dest.name,
                    exc,
                    failures,
                    self.retries,
                    delay,
                )
                self.sleep(delay)
                continue
            if done:
                return self._finish(state)

    # One HTTP exchange ---------------------------------------------------------------

    def _attempt(self, state: _Attempt) -> bool:
        """Fetch from the current offset. True when the file is complete."""
        offset = self.part.stat().st_size if self.part.exists() else 0
        validator = self._load_validator() if offset else None
        if offset and validator is None:
            # A part file whose origin we cannot vouch for: start over.
            offset = 0
            self.part.unlink(missing_ok=True)
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if validator:
                headers["If-Range"] = validator
        request = urllib.request.Request(state.url, headers=headers)
        try:
            response = self.opener.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset:
                m = re.search(r"\*/(\d+)", exc.headers.get("Content-Range", ""))
                exc.close()
                if m and int(m.group(1)) == offset:
                    return True
                log.info("server refused the resume range; starting %s over", self.dest.name)
                self.part.unlink(missing_ok=True)
                state.restarts += 1
                return False
            raise
        with response:
            final_url = response.geturl()
            if final_url not in state.urls:
                state.urls.append(final_url)
            if _is_html(response):
                self._follow_interstitial(response, state)
                return False
            status = response.status
            length = response.headers.get("Content-Length")
            if offset and status == 206:
                rng = _content_range(response.headers.get("Content-Range"))
                if rng is None or rng[0] != offset:
                    log.info("server sent an unexpected range; starting %s over", self.dest.name)
                    self.part.unlink(missing_ok=True)
                    state.restarts += 1
                    return False
                total = rng[1]
                state.resumed = True
                mode = "ab"
            else:
                if offset:
                    log.info(
                        "server does not resume (HTTP %d); restarting %s from zero",
                        status,
                        self.dest.name,
                    )
                    state.restarts += 1
                offset = 0
                total = int(length) if length and length.isdigit() else None
                mode = "wb"
            if total is not None:
                check_disk_space(self.dest.parent, total - offset)
            self._save_validator(final_url, state.url, response)
            return self._stream(response, mode, offset, total)

    def _stream(
        self, response: http.client.HTTPResponse, mode: str, offset: int, total: int | None
    ) -> bool:
        done = offset
        with self.part.open(mode) as fh:
            if self.progress is not None:
                self.progress(done, total)
            while True:
                self._check_cancel()
                block = response.read(CHUNK)
                if not block:
                    break
                fh.write(block)
                done += len(block)
                if self.progress is not None:
                    self.progress(done, total)
        if total is not None and done < total:
            raise http.client.IncompleteRead(b"", total - done)
        if total is not None and done > total:
            self.part.unlink(missing_ok=True)
            raise DownloadError(f"server sent {done} bytes for a {total}-byte file")
        return True

    def _follow_interstitial(self, response: http.client.HTTPResponse, state: _Attempt) -> None:
        raw = response.read(MAX_INTERSTITIAL_BYTES)
        charset = response.headers.get_content_charset() or "utf-8"
        page = raw.decode(charset, errors="replace")
        base = response.geturl()
        reason = page_refusal(page)
        target = None if reason else parse_confirmation_page(page, base)
        if target is None and not reason and state.url != self.url:
            target = self.url  # a confirmed link that expired: start from the original link
        if target is None or state.confirmations >= MAX_CONFIRMATIONS:
            why = reason or "it answered with a web page instead of the file"
            raise DownloadError(self._message(f"the server refused the download: {why}"))
        state.confirmations += 1
        log.info(
            "following the download confirmation page of %s", urllib.parse.urlsplit(base).netloc
        )
        state.url = target

    def _finish(self, state: _Attempt) -> DownloadResult:
        size = self.part.stat().st_size
        digest = sha256_file(self.part)
        if self.sha256 and digest != self.sha256:
            self.part.unlink(missing_ok=True)
            self.meta.unlink(missing_ok=True)
            raise DownloadError(
                f"sha256 mismatch for {self.dest.name}: expected {self.sha256}, got {digest}; "
                "the partial file was deleted"
            )
        os.replace(self.part, self.dest)
        self.meta.unlink(missing_ok=True)
        log.info("downloaded %s (%d bytes, sha256 %s)", self.dest, size, digest)
        return DownloadResult(self.dest, digest, size, state.resumed, state.restarts, state.urls)

    # Resume bookkeeping ------------------------------------------------------------

    def _save_validator(self, final_url: str, url: str, response: http.client.HTTPResponse) -> None:
        etag = response.headers.get("ETag")
        modified = response.headers.get("Last-Modified")
        validator = etag if etag and not etag.startswith("W/") else modified
        self.meta.write_text(
            json.dumps(
                {
                    "origin": self.url,
                    "url": url,
                    "final_url": final_url,
                    "validator": validator or "",
                }
            )
        )

    def _load_validator(self) -> str | None:
        """The If-Range value for resuming the part file; "" when the server gave none;
        None when the part file did not come from this download's URL."""
        try:
            meta = json.loads(self.meta.read_text())
        except (OSError, ValueError):
            return None
        if meta.get("origin") != self.url:
            return None
        return str(meta.get("validator", ""))

    def _part_size(self) -> int:
        try:
            return self.part.stat().st_size
        except OSError:
            return 0

    def _check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise DownloadCancelled(f"download of {self.dest.name} cancelled")

    def _message(self, text: str) -> str:
        return f"{text}. {self.manual_hint}" if self.manual_hint else text


def download(url: str, dest: Path, **kwargs: object) -> DownloadResult:
    """Download ``url`` to ``dest``; see ``Downloader`` for the keyword arguments."""
    return Downloader(url, dest, **kwargs).run()  # type: ignore[arg-type]
