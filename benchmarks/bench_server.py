"""Benchmark the VisPrompt server: throughput, latency, memory, and HTTP overhead.

Starts a real server process (``python -m backend_server --port 0``), then

* sends the same prompt from 1, 8 and 32 concurrent clients and prints requests per
  second and p50/p95 latency for each level (request bodies are encoded once up front,
  so the figures are the server's);
* reads the server's peak resident memory (VmHWM) at the end;
* compares one client at a time against calling ``model.prompt`` directly in this
  process on the same images: ``server`` = pre-encoded request, answer left encoded;
  ``end to end`` = the client also encodes the PNGs and decodes the answer.

    python benchmarks/bench_server.py                    # CPU, default model
    python benchmarks/bench_server.py --device cuda --requests 200
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def make_images(size: int) -> tuple[Image.Image, Image.Image, Image.Image]:
    """An example pair (image -> its inverse) and a query: gradients with grain, so the
    PNGs are about as large as photographs of that size."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = np.stack([x, y, (x + y) / 2], -1)

    def to_image(a: np.ndarray) -> Image.Image:
        grain = rng.normal(0, 0.03, a.shape)
        return Image.fromarray((np.clip(a + grain, 0, 1) * 255).astype(np.uint8))

    return to_image(base), to_image(1 - base), to_image(np.roll(base, size // 3, axis=1))


def png_b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def body_for(
    src: Image.Image, dst: Image.Image, query: Image.Image, upscale: str | None = None
) -> bytes:
    request: dict[str, Any] = {
        "examples": [{"input": png_b64(src), "output": png_b64(dst)}],
        "query": png_b64(query),
    }
    if upscale is not None:
        request["options"] = {"upscale": upscale}
    return json.dumps(request).encode()


class Server:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        env = dict(os.environ)
        env["VISPROMPT_CONFIG_DIR"] = str(workdir / "config")
        env["VISPROMPT_DATA_DIR"] = env.get("VISPROMPT_DATA_DIR", str(workdir / "data"))
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        cmd = [
            sys.executable,
            "-m",
            "backend_server",
            "--port",
            "0",
            "--model",
            args.model,
            "--device",
            args.device,
            "--queue-size",
            "256",
            "--log-level",
            "warning",
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("VISPROMPT_READY "):
                ready = json.loads(line.split(" ", 1)[1])
                break
        else:
            raise SystemExit(f"the server exited with {self.proc.wait()}")
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        self.host, self.port = ready["host"], ready["port"]
        self.token = Path(ready["token_file"]).read_text().strip()

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
        try:
            conn.request(
                "POST",
                path,
                body,
                {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            )
            answer = conn.getresponse()
            return answer.status, answer.read()
        finally:
            conn.close()

    def get(self, path: str) -> Any:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {self.token}"})
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def peak_rss(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def load_level(server: Server, body: bytes, clients: int, requests: int) -> dict[str, Any]:
    latencies: list[float] = []
    batch_sizes: list[int] = []
    timings: list[dict[str, float]] = []
    lock = threading.Lock()
    counter = iter(range(requests))

    def client() -> None:
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            start = time.perf_counter()
            status, raw = server.post("/v1/prompt", body)
            elapsed = time.perf_counter() - start
            if status != 200:
                raise RuntimeError(f"HTTP {status}: {raw[:300]!r}")
            answer = json.loads(raw)
            with lock:
                latencies.append(elapsed)
                batch_sizes.append(answer["timings"]["batch_size"])
                timings.append(answer["timings"])

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(client) for _ in range(clients)]:
            future.result()
    wall = time.perf_counter() - start
    return {
        "clients": clients,
        "requests": requests,
        "req_per_s": requests / wall,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p95_ms": percentile(latencies, 95) * 1000,
        "mean_batch": statistics.mean(batch_sizes),
        "server_model_ms": statistics.median(t["model_ms"] for t in timings),
        "server_decode_ms": statistics.median(t["decode_ms"] for t in timings),
        "server_encode_ms": statistics.median(t["encode_ms"] for t in timings),
    }


def overhead(server: Server, args: argparse.Namespace, images: tuple[Image.Image, ...]) -> dict:
    """Median latency at one client: direct library call vs the two HTTP variants."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import visprompt_core

    src, dst, query = images
    model = visprompt_core.load_model(args.model, device=args.device)
    body = body_for(src, dst, query, args.upscale)
    extra = {} if args.upscale is None else {"upscale": args.upscale}
    direct: list[float] = []
    via_server: list[float] = []
    end_to_end: list[float] = []
    for _ in range(2):  # warm up both paths
        model.prompt([(src, dst)], query, **extra)
        server.post("/v1/prompt", body)
    # Interleave the three so that drifts in machine load hit them alike.
    for _ in range(args.overhead_requests):
        t0 = time.perf_counter()
        model.prompt([(src, dst)], query, **extra)
        direct.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        server.post("/v1/prompt", body)
        via_server.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        _, raw = server.post("/v1/prompt", body_for(src, dst, query, args.upscale))
        answer = Image.open(io.BytesIO(base64.b64decode(json.loads(raw)["image"])))
        answer.load()
        end_to_end.append(time.perf_counter() - t0)
    d, s, e = (statistics.median(v) * 1000 for v in (direct, via_server, end_to_end))
    return {
        "direct_ms": d,
        "server_ms": s,
        "end_to_end_ms": e,
        "server_ratio": s / d,
        "end_to_end_ratio": e / d,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="default")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (server and direct)")
    p.add_argument("--image-size", type=int, default=512, help="side of the square images")
    p.add_argument("--example-size", type=int, default=None,
                   help="send the example pair at this side (as the Krita plugin sends "
                        "example layers at up to 1024 px); default: --image-size")
    p.add_argument("--upscale", default=None, help="options.upscale (default: the core's)")
    p.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--requests", type=int, default=64, help="requests per level (>= clients)")
    p.add_argument("--overhead-requests", type=int, default=15)
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = p.parse_args()

    src, dst, query = make_images(args.image_size)
    if args.example_size is not None:
        side = (args.example_size, args.example_size)
        src, dst = (im.resize(side, Image.Resampling.BICUBIC) for im in (src, dst))
    images = (src, dst, query)
    body = body_for(*images, args.upscale)
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(args, Path(tmp))
        try:
            info = server.get("/v1/info")
            print(
                f"server: model {info['loaded_model']} on {info['device']}, "
                f"{info['model_info'].get('parameters', 0) / 1e6:.1f} M parameters, "
                f"max batch {info['max_batch']}, body {len(body) / 1024:.0f} KiB "
                f"({args.image_size}px query, "
                f"{args.example_size or args.image_size}px examples)"
            )
            server.post("/v1/prompt", body)  # warm-up
            levels = []
            print(
                f"{'clients':>7} {'requests':>8} {'req/s':>8} {'p50 ms':>9} {'p95 ms':>9} "
                f"{'batch':>6} {'model ms':>9} {'decode ms':>9} {'encode ms':>9}"
            )
            for clients in args.clients:
                level = load_level(server, body, clients, max(args.requests, clients))
                levels.append(level)
                print(
                    f"{level['clients']:>7} {level['requests']:>8} {level['req_per_s']:>8.2f} "
                    f"{level['p50_ms']:>9.1f} {level['p95_ms']:>9.1f} "
                    f"{level['mean_batch']:>6.2f} {level['server_model_ms']:>9.1f} "
                    f"{level['server_decode_ms']:>9.1f} {level['server_encode_ms']:>9.1f}"
                )
            over = overhead(server, args, images)
            peak = server.peak_rss()
        finally:
            server.stop()
    print(f"server peak RSS: {peak / 2**20:.0f} MiB")
    print(
        f"one client, median: direct {over['direct_ms']:.1f} ms, "
        f"server {over['server_ms']:.1f} ms (x{over['server_ratio']:.2f}), "
        f"end to end {over['end_to_end_ms']:.1f} ms (x{over['end_to_end_ratio']:.2f})"
    )
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "levels": levels,
                    "overhead": over,
                    "peak_rss": peak,
                    "args": vars(args) | {"json": None},
                },
                indent=2,
                default=str,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
