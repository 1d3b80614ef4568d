"""Downloads and published-model management against a real HTTP server on loopback."""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from visprompt_core import downloads, models_cli, published
from visprompt_core.downloads import (
    DownloadCancelled,
    download,
    page_refusal,
    parse_confirmation_page,
)
from visprompt_core.errors import CheckpointError, DownloadError

PAYLOAD = bytes(range(256)) * 4096 * 3  # 3 MiB, not a multiple of the 1 MiB chunk
SHA = hashlib.sha256(PAYLOAD).hexdigest()

DRIVE_PAGE = """<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title>
</head><body><div class="uc-main"><p class="uc-warning-caption">Google Drive can't scan
this file for viruses.</p><form id="download-form" action="/drive-download" method="get">
<input type="submit" id="uc-download-link" value="Download anyway"/>
<input type="hidden" name="id" value="FILEID"><input type="hidden" name="export"
value="download"><input type="hidden" name="confirm" value="t"><input type="hidden"
name="uuid" value="a1b2-c3"></form></div></body></html>"""

DRIVE_OLD_PAGE = """<html><body><p>Google Drive can't scan this file for viruses.</p>
<a id="uc-download-link" href="/drive-old?export=download&amp;confirm=AbC_9&amp;id=FILEID">
Download anyway</a></body></html>"""

QUOTA_PAGE = """<html><head><title>Google Drive - Quota exceeded</title></head><body>
<p>Sorry, you can't view or download this file at this time.</p><p>Too many users have
viewed or downloaded this file recently. Please try accessing the file again later.</p>
</body></html>"""


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD in several ill-behaved ways; ``server.hits`` counts requests."""

    server: Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        self.server.hits[url.path] = self.server.hits.get(url.path, 0) + 1
        self.server.ranges.append(self.headers.get("Range"))
        n = self.server.hits[url.path]
        route = url.path
        if route == "/file":
            self._send_file(ranged=True)
        elif route == "/interrupted":
            # First answer stops after 1.5 MiB; later ones honour Range.
            self._send_file(ranged=True, cut_at=len(PAYLOAD) // 2 if n == 1 else None)
        elif route == "/trickle":
            # Every answer stops after 512 KiB: only progress keeps the download going.
            m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "bytes=0-")
            assert m
            self._send_file(ranged=True, cut_at=int(m.group(1)) + (1 << 19))
        elif route == "/norange-interrupted":
            self._send_file(ranged=False, cut_at=len(PAYLOAD) // 3 if n == 1 else None)
        elif route == "/changed":
            # The file changes between attempts: If-Range must make the server send it whole.
            self._send_file(
                ranged=True, cut_at=len(PAYLOAD) // 2 if n == 1 else None, etag=f'"v{n}"'
            )
        elif route == "/unavailable":
            if n == 1:
                self.send_response(503)
                self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._send_file(ranged=True)
        elif route == "/missing":
            self.send_error(404, "Not Found")
        elif route == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/hop")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif route == "/hop":
            self.send_response(301)
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_port}/file")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif route == "/drive":
            self._send_html(
                DRIVE_PAGE.replace("FILEID", query.get("id", "")), cookie="NID=abc; Path=/"
            )
        elif route == "/drive-download":
            if query.get("confirm") == "t" and query.get("uuid") == "a1b2-c3":
                self._send_file(ranged=True)
            else:
                self._send_html(DRIVE_PAGE)
        elif route == "/drive-old":
            if query.get("confirm") == "AbC_9" and "download_warning" in (
                self.headers.get("Cookie") or ""
            ):
                self._send_file(ranged=True)
            else:
                self._send_html(DRIVE_OLD_PAGE, cookie="download_warning_1=AbC_9; Path=/")
        elif route == "/drive-int":
            self._send_html(DRIVE_PAGE.replace("/drive-download", "/drive-int-download"))
        elif route == "/drive-int-download":
            if query.get("confirm") != "t":
                self._send_html(DRIVE_PAGE)
            else:
                self._send_file(ranged=True, cut_at=len(PAYLOAD) // 4 if n == 1 else None)
        elif route == "/drive-quota":
            self._send_html(QUOTA_PAGE)
        elif route == "/html-only":
            self._send_html("<html><body>Hello, this is not your file.</body></html>")
        elif route == "/slow":
            threading.Event().wait(1.0)
            self._send_file(ranged=True)
        elif route.startswith("/static/"):
            body = self.server.static[route]
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404)

    def _send_html(self, page: str, cookie: str | None = None) -> None:
        body = page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        if cookie:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_file(self, ranged: bool, cut_at: int | None = None, etag: str = '"v1"') -> None:
        start = 0
        rng = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if ranged and rng and (if_range is None or if_range == etag):
            m = re.fullmatch(r"bytes=(\d+)-", rng)
            assert m, rng
            start = int(m.group(1))
            if start >= len(PAYLOAD):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(PAYLOAD)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        if ranged:
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", etag)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(PAYLOAD) - start))
        self.end_headers()
        body = PAYLOAD[start:cut_at] if cut_at is not None else PAYLOAD[start:]
        self.wfile.write(body)
        self.wfile.flush()
        if cut_at is not None:
            self.close_connection = True


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.hits: dict[str, int] = {}
        self.ranges: list[str | None] = []
        self.static: dict[str, bytes] = {}

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_port}{path}"


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VISPROMPT_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


FAST = {"backoff": 0.01, "timeout": 5.0}


# --------------------------------------------------------------------------- downloads


def test_plain_download_with_progress(server: Server, tmp_path: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    result = download(
        server.url("/file"),
        tmp_path / "f.bin",
        sha256=SHA,
        progress=lambda d, t: seen.append((d, t)),
        **FAST,
    )
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD
    assert result.sha256 == SHA and result.size == len(PAYLOAD) and not result.resumed
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert not list(tmp_path.glob("*.part*"))


def test_interrupted_transfer_resumes_with_range(server: Server, tmp_path: Path) -> None:
    result = download(server.url("/interrupted"), tmp_path / "f.bin", sha256=SHA, **FAST)
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD
    assert result.resumed and result.restarts == 0
    assert server.hits["/interrupted"] == 2
    assert server.ranges[-1] == f"bytes={len(PAYLOAD) // 2}-"


def test_part_file_survives_failure_and_next_run_resumes(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "f.bin"
    with pytest.raises(DownloadError, match="giving up"):
        download(server.url("/interrupted"), dest, retries=0, **FAST)
    part = tmp_path / "f.bin.part"
    assert part.stat().st_size == len(PAYLOAD) // 2 and not dest.exists()
    result = download(server.url("/interrupted"), dest, sha256=SHA, **FAST)
    assert result.resumed and dest.read_bytes() == PAYLOAD and not part.exists()


def test_complete_part_file_gets_416_and_finishes(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "f.bin"
    download(server.url("/file"), dest, **FAST)
    dest.rename(tmp_path / "f.bin.part")
    (tmp_path / "f.bin.part.json").write_text(
        json.dumps(
            {
                "origin": server.url("/file"),
                "url": server.url("/file"),
                "final_url": server.url("/file"),
                "validator": '"v1"',
            }
        )
    )
    result = download(server.url("/file"), dest, sha256=SHA, **FAST)
    assert dest.read_bytes() == PAYLOAD and result.size == len(PAYLOAD)


def test_flaky_connection_that_progresses_is_not_given_up(server: Server, tmp_path: Path) -> None:
    result = download(server.url("/trickle"), tmp_path / "f.bin", sha256=SHA, retries=1, **FAST)
    assert result.resumed and server.hits["/trickle"] == 6  # 3 MiB in 512 KiB pieces


def test_server_without_range_support_restarts_from_zero(server: Server, tmp_path: Path) -> None:
    result = download(server.url("/norange-interrupted"), tmp_path / "f.bin", sha256=SHA, **FAST)
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD
    assert not result.resumed and result.restarts == 1
    assert server.ranges[-1] is not None  # it asked, the server ignored it


def test_changed_file_is_sent_whole_thanks_to_if_range(server: Server, tmp_path: Path) -> None:
    result = download(server.url("/changed"), tmp_path / "f.bin", sha256=SHA, **FAST)
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD and result.restarts == 1


def test_wrong_hash_deletes_the_part_file(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        download(server.url("/file"), tmp_path / "f.bin", sha256="0" * 64, **FAST)
    assert not list(tmp_path.glob("f.bin*"))


def test_404_fails_at_once_without_retries(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404") as info:
        download(server.url("/missing"), tmp_path / "f.bin", manual_hint="Do it by hand.", **FAST)
    assert server.hits["/missing"] == 1
    assert "Do it by hand." in str(info.value) and info.value.code == "download_failed"


def test_transient_503_is_retried(server: Server, tmp_path: Path) -> None:
    download(server.url("/unavailable"), tmp_path / "f.bin", sha256=SHA, **FAST)
    assert server.hits["/unavailable"] == 2


def test_redirects_are_followed(server: Server, tmp_path: Path) -> None:
    result = download(server.url("/redirect"), tmp_path / "f.bin", sha256=SHA, **FAST)
    assert result.urls[-1] == server.url("/file") and server.hits["/hop"] == 1


def test_timeout_is_retried_then_reported(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="giving up after 2 attempts"):
        download(server.url("/slow"), tmp_path / "f.bin", timeout=0.2, retries=1, backoff=0.01)
    assert server.hits["/slow"] == 2


def test_drive_confirmation_form_is_followed(server: Server, tmp_path: Path) -> None:
    result = download(server.url("/drive?id=XYZ"), tmp_path / "f.bin", sha256=SHA, **FAST)
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD
    assert server.hits["/drive-download"] == 1
    assert "confirm=t" in result.urls[-1] and "id=XYZ" in result.urls[-1]


def test_drive_download_resumes_across_runs(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "f.bin"
    with pytest.raises(DownloadError, match="giving up"):
        download(server.url("/drive-int?id=XYZ"), dest, retries=0, **FAST)
    assert (tmp_path / "f.bin.part").stat().st_size == len(PAYLOAD) // 4
    result = download(server.url("/drive-int?id=XYZ"), dest, sha256=SHA, **FAST)
    assert result.resumed and dest.read_bytes() == PAYLOAD
    assert server.ranges[-1] == f"bytes={len(PAYLOAD) // 4}-"
    assert server.hits["/drive-int"] == 2


def test_old_drive_confirm_link_with_cookie(server: Server, tmp_path: Path) -> None:
    download(
        server.url("/drive-old?export=download&id=XYZ"), tmp_path / "f.bin", sha256=SHA, **FAST
    )
    assert server.hits["/drive-old"] == 2


def test_drive_refusal_gives_manual_download_message(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"quota is exceeded.*open https://example"):
        download(
            server.url("/drive-quota"),
            tmp_path / "f.bin",
            manual_hint="Download it yourself: open https://example/x",
            **FAST,
        )
    with pytest.raises(DownloadError, match="web page instead of the file"):
        download(server.url("/html-only"), tmp_path / "g.bin", **FAST)
    assert not list(tmp_path.glob("*.bin"))


def test_cancel_keeps_part_file(server: Server, tmp_path: Path) -> None:
    cancel = threading.Event()

    def progress(done: int, total: int | None) -> None:
        if done >= 1 << 20:
            cancel.set()

    with pytest.raises(DownloadCancelled):
        download(server.url("/file"), tmp_path / "f.bin", progress=progress, cancel=cancel, **FAST)
    assert (tmp_path / "f.bin.part").exists() and not (tmp_path / "f.bin").exists()
    assert download(server.url("/file"), tmp_path / "f.bin", sha256=SHA, **FAST).resumed


def test_disk_space_is_checked_before_writing(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        downloads.shutil,
        "disk_usage",
        lambda p: SimpleNamespace(total=10**9, used=10**9, free=1000),
    )
    with pytest.raises(DownloadError, match="not enough disk space"):
        download(server.url("/file"), tmp_path / "f.bin", **FAST)
    assert not (tmp_path / "f.bin.part").exists() or (tmp_path / "f.bin.part").stat().st_size == 0


def test_parsers_on_drive_like_pages() -> None:
    url = parse_confirmation_page(
        DRIVE_PAGE.replace("/drive-download", "https://drive.usercontent.google.com/download"),
        "https://drive.google.com/uc?export=download&id=A",
    )
    assert url is not None and url.startswith("https://drive.usercontent.google.com/download?")
    assert dict(urllib.parse.parse_qsl(url.split("?", 1)[1]))["confirm"] == "t"
    script = "<html><script>var u='/uc?export=download&confirm=Zz9_';</script></html>"
    got = parse_confirmation_page(script, "https://drive.google.com/uc?export=download&id=A")
    assert got == "https://drive.google.com/uc?export=download&id=A&confirm=Zz9_"
    assert parse_confirmation_page("<html>nothing</html>", "http://x/") is None
    assert page_refusal(QUOTA_PAGE) == "the file's download quota is exceeded"
    assert page_refusal(DRIVE_PAGE) is None
    assert (
        downloads.drive_file_id(
            "https://drive.google.com/file/d/1Xe0-cypS4dcwqbPuT8wflqj0b1E9Ct7E/view?usp=sharing"
        )
        == "1Xe0-cypS4dcwqbPuT8wflqj0b1E9Ct7E"
    )


# --------------------------------------------------------------------------- published


def _torch_checkpoint(path: Path) -> bytes:
    import torch

    torch.save({"model": {"cls_token": torch.zeros(1, 1, 4)}, "epoch": 1}, path)
    return path.read_bytes()


class FakeConverter:
    def __init__(self) -> None:
        self.calls: list[tuple[Path, Path, str]] = []

    def __call__(self, src: Path, dst: Path, dtype: str = "fp16") -> None:
        self.calls.append((Path(src), Path(dst), dtype))
        Path(dst).write_bytes(b"converted:" + Path(src).read_bytes()[:16])


@pytest.fixture
def local_catalogue(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, bytes]:
    ckpt = _torch_checkpoint(tmp_path / "ckpt.pth")
    yaml_text = b"model:\n  params:\n    embed_dim: 256\n    n_embed: 1024\n"
    server.static = {
        "/static/checkpoint-1000.pth": ckpt,
        "/static/last.ckpt": ckpt,
        "/static/model.yaml": yaml_text,
    }
    patched = {}
    for name, model in published.CATALOGUE.items():
        files = tuple(
            replace(f, url=server.url(f"/static/{f.filename}"), approx_size=None)
            for f in model.files
        )
        patched[name] = replace(model, files=files)
    monkeypatch.setattr(published, "CATALOGUE", patched)
    return server.static


def test_install_records_hash_then_verifies_later_downloads(
    local_catalogue: dict[str, bytes], server: Server, data_dir: Path
) -> None:
    conv = FakeConverter()
    seen: list[str] = []
    out = published.install(
        "mae-vqgan-cvf", converter=conv, progress=lambda n, d, t: seen.append(n), **FAST
    )
    assert out == data_dir / "models" / "mae-vqgan-cvf.safetensors" and out.exists()
    assert conv.calls[0][2] == "fp16" and set(seen) == {"checkpoint-1000.pth", "convert"}
    assert seen[-2:] == ["convert", "convert"]
    assert not (data_dir / "models" / "downloads" / "mae-vqgan-cvf").exists()
    digest = hashlib.sha256(local_catalogue["/static/checkpoint-1000.pth"]).hexdigest()
    url = published.CATALOGUE["mae-vqgan-cvf"].files[0].url
    assert published.recorded_hashes() == {url: digest}
    record = json.loads(published.record_path("mae-vqgan-cvf").read_text())
    assert record["files"][0]["sha256_actual"] == digest
    assert record["files"][0]["sha256_source"] == "recorded"
    assert published.verify("mae-vqgan-cvf") == []
    assert published.status("mae-vqgan-cvf") == "installed"
    # The host now serves different bytes: the recorded hash catches it.
    server.static["/static/checkpoint-1000.pth"] = (
        local_catalogue["/static/checkpoint-1000.pth"][:-1] + b"\x01"
    )
    out.unlink()
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        published.install("mae-vqgan-cvf", converter=conv, **FAST)
    out.write_bytes(b"tampered")
    assert "changed since it was converted" in published.verify("mae-vqgan-cvf")[0]


def test_install_rejects_a_web_page_saved_as_checkpoint(
    local_catalogue: dict[str, bytes], server: Server, data_dir: Path
) -> None:
    server.static["/static/checkpoint-1000.pth"] = b"<!DOCTYPE html><html>nope</html>"
    with pytest.raises(CheckpointError, match="web page"):
        published.install("mae-vqgan-cvf", converter=FakeConverter(), **FAST)
    assert published.recorded_hashes() == {}
    assert published.status("mae-vqgan-cvf") == "missing"


def test_failed_conversion_records_no_hash_and_keeps_the_download(
    local_catalogue: dict[str, bytes], data_dir: Path
) -> None:
    def broken(src: Path, dst: Path, dtype: str = "fp16") -> None:
        raise CheckpointError("weights do not match the model")

    with pytest.raises(CheckpointError, match="do not match"):
        published.install("mae-vqgan-cvf", converter=broken, **FAST)
    assert published.recorded_hashes() == {}
    assert published.status("mae-vqgan-cvf") == "downloaded"
    seen: list[str] = []
    published.install(
        "mae-vqgan-cvf", converter=FakeConverter(), progress=lambda n, d, t: seen.append(n), **FAST
    )
    assert seen[0] == "verify:checkpoint-1000.pth" and published.recorded_hashes()


def test_vqgan_needs_both_files_and_checks_the_config(
    local_catalogue: dict[str, bytes], data_dir: Path
) -> None:
    conv = FakeConverter()
    out = published.install("vqgan-imagenet-f16-1024", converter=conv, **FAST)
    assert out.name == "last.ckpt" and not conv.calls  # a tokenizer: kept, not converted
    assert published.status("vqgan-imagenet-f16-1024") == "installed"
    assert (published.download_dir("vqgan-imagenet-f16-1024") / "model.yaml").exists()
    assert published.verify("vqgan-imagenet-f16-1024") == []


def test_import_and_structure_checks(tmp_path: Path, data_dir: Path) -> None:
    ckpt = tmp_path / "my-download.pth"
    _torch_checkpoint(ckpt)
    conv = FakeConverter()
    out = published.import_files("mae-vqgan-cvf-imagenet", [ckpt], dtype="fp32", converter=conv)
    assert out.exists() and conv.calls == [(ckpt, conv.calls[0][1], "fp32")]
    assert ckpt.exists()  # the user's file is left alone
    bad_yaml = tmp_path / "model.yaml"
    bad_yaml.write_text("model:\n  params:\n    embed_dim: 256\n    n_embed: 16384\n")
    with pytest.raises(CheckpointError, match="n_embed=16384"):
        published.import_files(
            "vqgan-imagenet-f16-1024",
            [ckpt.rename(tmp_path / "last.ckpt"), bad_yaml],
            converter=conv,
        )
    (tmp_path / "junk.pth").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(CheckpointError):
        published.check_structure(tmp_path / "junk.pth", "mae_vqgan_pth")


def test_models_cli(
    local_catalogue: dict[str, bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(
        published,
        "_convert",
        lambda model, sources, dtype, converter: (
            FakeConverter()(
                sources[model.weights.filename], published.converted_path(model.name), dtype
            )
            or published.converted_path(model.name)
        ),
    )
    assert models_cli.main(["models", "list"]) == 0
    assert "mae-vqgan-cvf " in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert models_cli.main(["models", "download", "mae-vqgan-cvf"]) == 2
    assert "CC BY-NC" in capsys.readouterr().out
    assert models_cli.main(["models", "download", "--yes", "mae-vqgan-cvf", "--timeout", "5"]) == 0
    assert "ready at" in capsys.readouterr().out
    assert models_cli.main(["models", "verify"]) == 0
    published.converted_path("mae-vqgan-cvf").write_bytes(b"x")
    assert models_cli.main(["models", "verify", "mae-vqgan-cvf"]) == 1
    assert models_cli.main(["models", "import", "mae-vqgan-cvf", str(tmp_path / "none.pth")]) == 1


def test_catalogue_points_at_the_authors_links() -> None:
    cat = published.CATALOGUE
    assert set(cat) == {"mae-vqgan-cvf", "mae-vqgan-cvf-imagenet", "vqgan-imagenet-f16-1024"}
    assert "1Xe0-cypS4dcwqbPuT8wflqj0b1E9Ct7E" in cat["mae-vqgan-cvf"].files[0].url
    assert "130vNSlqg3faHzVGGh_vkeUUh-2uVX3se" in cat["mae-vqgan-cvf-imagenet"].files[0].url
    assert all("heibox.uni-heidelberg.de" in f.url for f in cat["vqgan-imagenet-f16-1024"].files)
    assert "CC BY-NC" in published.LICENCE_NOTICE and "not redistribute" in published.LICENCE_NOTICE


@pytest.mark.slow
def test_full_size_checkpoint_downloads_converts_and_loads(
    server: Server, tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint laid out and sized like checkpoint-1000.pth (uninitialised weights)
    goes through download, structure check, the real conversion and load_model."""
    import argparse

    import torch

    from visprompt_core import list_models, load_model
    from visprompt_core.config import PRESETS
    from visprompt_core.model import MAEVQGAN

    with torch.device("meta"):
        skeleton = MAEVQGAN(PRESETS["mae_vqgan_large"])
    state = skeleton.to_empty(device="cpu").state_dict()
    for tensor in state.values():
        tensor.zero_()
    src = tmp_path / "checkpoint-1000.pth"
    args = argparse.Namespace(model="mae_vit_large_patch16")
    torch.save({"model": state, "epoch": 999, "args": args}, src)
    del state, skeleton
    server.static = {"/static/checkpoint-1000.pth": src.read_bytes()}
    src.unlink()
    model = published.CATALOGUE["mae-vqgan-cvf"]
    files = (replace(model.files[0], url=server.url("/static/checkpoint-1000.pth")),)
    monkeypatch.setitem(published.CATALOGUE, "mae-vqgan-cvf", replace(model, files=files))
    out = published.install("mae-vqgan-cvf", dtype="fp16", **FAST)
    assert out.stat().st_size < 0.6 * len(server.static["/static/checkpoint-1000.pth"])
    assert published.verify("mae-vqgan-cvf") == []
    assert "mae-vqgan-cvf" in {m["name"] for m in list_models()}
    loaded = load_model("mae-vqgan-cvf", device="cpu")
    assert loaded.info()["parameters"] > 390_000_000
