"""The work behind the routes: validating and decoding a prompt, waiting for it, answering.

``Service`` holds the per-app objects (config, model manager, worker, jobs); the app
factory creates one and the routes call into it. Nothing here knows about routing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from typing import Any

from PIL import Image
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from backend_server import __version__, schemas
from backend_server.config import ServerConfig
from backend_server.errors import ApiError
from backend_server.images import encode_png, load_image, open_image
from backend_server.jobs import Job, JobStore
from backend_server.models import ModelManager, make_core_request
from backend_server.worker import InferenceWorker, Task

logger = logging.getLogger(__name__)

DISCONNECT_POLL_S = 0.25
DECODE_SLOTS = 4


class Service:
    def __init__(self, config: ServerConfig, manager: ModelManager | None = None) -> None:
        self.config = config
        self.manager = manager or ModelManager(config.device)
        self.worker = InferenceWorker(
            self.manager,
            initial_model=config.model,
            queue_size=config.queue_size,
            max_batch=config.max_batch,
            batch_wait_ms=config.batch_wait_ms,
        )
        self.jobs = JobStore(config.job_ttl_s, config.max_jobs)
        # Decoded images take memory: decode a few requests at a time.
        self.decode_slots = asyncio.Semaphore(DECODE_SLOTS)

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        self.worker.start()
        await run_in_threadpool(self.worker.ready.wait)
        if self.worker.startup_error is not None:
            exc = self.worker.startup_error
            logger.error("cannot load model %r: %s", self.config.model, exc)
            raise RuntimeError(f"cannot load model {self.config.model!r}: {exc}") from exc
        logger.info("model %s ready", self.manager.name)

    async def stop(self) -> None:
        await run_in_threadpool(self.worker.stop)

    # -- prompts -----------------------------------------------------------------------

    def prepare(self, body: schemas.PromptRequest) -> Task:
        """Validate and decode a request (runs in a thread: decoding is CPU work)."""
        cfg = self.config
        select = body.options.select
        limit = cfg.max_pairs if select is None else cfg.max_pool
        if len(body.examples) > limit:
            what = "" if select is None else " with options.select"
            raise ApiError(
                "too_many_pairs",
                f"{len(body.examples)} example pairs sent, at most {limit} are allowed{what}",
            )
        model = body.options.model
        if model is not None:
            self.manager.check_name(model)
        # Open every image first (headers only) so that the request's total pixel count
        # is known before any pixel is decompressed.
        opened: list[tuple[str, Image.Image]] = []
        for i, pair in enumerate(body.examples):
            for side in ("input", "output"):
                field = f"examples[{i}].{side}"
                opened.append((field, open_image(getattr(pair, side), field, cfg.max_pixels)))
        opened.append(("query", open_image(body.query, "query", cfg.max_pixels)))
        if body.mask is not None:
            opened.append(("mask", open_image(body.mask, "mask", cfg.max_pixels)))
        total = sum(image.width * image.height for _, image in opened)
        if total > cfg.max_request_pixels:
            raise ApiError(
                "image_too_large",
                f"the request's images hold {total} pixels together, the limit is "
                f"{cfg.max_request_pixels}",
            )
        images = {field: load_image(image, field) for field, image in opened}
        examples: list[tuple[Image.Image, Image.Image]] = []
        for i in range(len(body.examples)):
            src, dst = images[f"examples[{i}].input"], images[f"examples[{i}].output"]
            if src.size != dst.size:
                raise ApiError(
                    "size_mismatch",
                    f"examples[{i}]: input is {_wh(src)} but output is {_wh(dst)}; "
                    "the two images of a pair must have the same size",
                )
            examples.append((src, dst))
        query = images["query"]
        mask = images.get("mask")
        if mask is not None:
            if mask.size != query.size:
                raise ApiError(
                    "size_mismatch",
                    f"mask is {_wh(mask)} but the query is {_wh(query)}; they must match",
                )
            if mask.mode not in ("L", "1"):
                mask = mask.getchannel("A") if mask.mode in ("RGBA", "LA") else mask.convert("L")
        answer_size = body.options.answer_size
        if answer_size is not None:
            width, height = answer_size
            if width < 1 or height < 1:
                raise ApiError("bad_input", f"answer_size must be positive, got {answer_size}")
            if width * height > cfg.max_pixels:
                raise ApiError(
                    "image_too_large",
                    f"answer_size {width}x{height} exceeds the {cfg.max_pixels} pixel limit",
                )
        request = make_core_request(
            examples=examples,
            query=query,
            mask=mask,
            ensemble=body.options.ensemble,
            answer_size=tuple(answer_size) if answer_size is not None else None,
            upscale=body.options.upscale,
            select=select,
            detail=body.options.detail,
        )
        return Task(
            request=request,
            model=model,
            # A tiled answer needs one canvas per tile: give it a forward pass of its own.
            canvases=self.worker.max_canvases
            if body.options.upscale == "tiled"
            else body.options.ensemble or min(select or len(examples), len(examples)),
            timeout_s=cfg.request_timeout_s,
        )

    async def _prepare(self, body: schemas.PromptRequest) -> Task:
        async with self.decode_slots:
            return await run_in_threadpool(self.prepare, body)

    async def run_prompt(self, body: schemas.PromptRequest, request: Request) -> dict[str, Any]:
        start = time.perf_counter()
        task = await self._prepare(body)
        decode_ms = (time.perf_counter() - start) * 1000
        loop = asyncio.get_running_loop()
        finished = asyncio.Event()

        def wake(_: Task) -> None:
            with contextlib.suppress(RuntimeError):  # loop closed during shutdown
                loop.call_soon_threadsafe(finished.set)

        task.on_done = wake
        task.enqueued_at = time.monotonic()
        self.worker.submit(task)
        await self._wait(task, finished, request)
        if task.error is not None:
            raise task.error
        return await run_in_threadpool(self.respond, task, decode_ms, start)

    async def _wait(self, task: Task, finished: asyncio.Event, request: Request) -> None:
        """Wait for the worker; give up on timeout or when the client goes away."""
        while not task.done.is_set():
            left = task.deadline - time.monotonic()
            if left <= 0:
                self.worker.cancel(task, ApiError("timeout", _timeout_text(task)))
                return
            try:
                await asyncio.wait_for(finished.wait(), timeout=min(left, DISCONNECT_POLL_S))
            except asyncio.TimeoutError:
                if await request.is_disconnected():
                    logger.info("client went away; cancelling its request")
                    self.worker.cancel(task)
                    return

    def respond(self, task: Task, decode_ms: float, start: float) -> dict[str, Any]:
        """Encode the answer (runs in a thread)."""
        image: Image.Image = task.result
        t0 = time.perf_counter()
        data = encode_png(image)
        encode_ms = (time.perf_counter() - t0) * 1000
        assert task.started_at is not None and task.finished_at is not None
        queue_ms = (task.started_at - task.enqueued_at) * 1000
        model_ms = (task.finished_at - task.started_at) * 1000
        return {
            "image": data,
            "width": image.width,
            "height": image.height,
            "model": task.model_name or self.manager.name or "",
            "timings": {
                "decode_ms": round(decode_ms, 3),
                "queue_ms": round(queue_ms, 3),
                "model_ms": round(model_ms, 3),
                "encode_ms": round(encode_ms, 3),
                "total_ms": round((time.perf_counter() - start) * 1000, 3),
                "batch_size": task.batch_size,
            },
        }

    # -- jobs --------------------------------------------------------------------------

    async def create_job(self, body: schemas.PromptRequest) -> Job:
        start = time.perf_counter()
        task = await self._prepare(body)
        decode_ms = (time.perf_counter() - start) * 1000
        task.enqueued_at = time.monotonic()
        job = self.jobs.add(task, decode_ms)
        try:
            self.worker.submit(task)
        except ApiError:
            self.jobs.remove(job.id)
            raise
        return job

    async def job_status(self, job_id: str) -> dict[str, Any]:
        job = self.jobs.get(job_id)
        task = job.task
        if task.state == "failed" and task.error is None:  # pragma: no cover - defensive
            task.error = ApiError("internal", "the job failed")
        status: dict[str, Any] = {
            "id": job.id,
            "state": task.state,
            "progress": round(self.worker.progress(task), 3),
        }
        if task.state == "done":
            if job.response is None:
                job.response = await run_in_threadpool(self._job_response, job)
            status["result"] = job.response
        elif task.error is not None:
            status["error"] = task.error.to_dict()
        return status

    def _job_response(self, job: Job) -> dict[str, Any]:
        with job.lock:
            if job.response is None:
                # total_ms of a job: from submission to the end of encoding.
                job.response = self.respond(job.task, job.decode_ms, time.perf_counter())
                timings = job.response["timings"]
                assert job.task.finished_at is not None
                timings["total_ms"] = round(
                    timings["decode_ms"]
                    + (job.task.finished_at - job.task.enqueued_at) * 1000
                    + timings["encode_ms"],
                    3,
                )
            return job.response

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        job = self.jobs.get(job_id)
        self.worker.cancel(job.task)
        return {"id": job.id, "state": job.task.state}

    # -- models and info ---------------------------------------------------------------

    def models(self) -> list[dict[str, Any]]:
        loaded = self.manager.name
        entries = []
        for entry in self.manager.list_models():
            entries.append(
                {
                    "name": str(entry.get("name", "")),
                    "loaded": entry.get("name") == loaded,
                    "available": bool(entry.get("available", True)),
                    "description": str(entry.get("description", "") or ""),
                }
            )
        if loaded is not None and not any(e["loaded"] for e in entries):
            entries.append({"name": loaded, "loaded": True, "available": True, "description": ""})
        return entries

    def load_model(self, name: str) -> str:
        self.manager.check_name(name)
        return self.worker.call(lambda: self.manager.load(name), self.config.request_timeout_s)

    def info(self) -> dict[str, Any]:
        model_info = _jsonable(self.manager.info())
        return {
            "version": __version__,
            "api": "v1",
            "device": str(model_info.get("device", self.config.device)),
            "memory": memory_figures(),
            "models": self.models(),
            "loaded_model": self.manager.name,
            "model_info": model_info,
            "queue_depth": self.worker.depth,
            "queue_size": self.config.queue_size,
            "max_pairs": self.config.max_pairs,
            "max_pool": self.config.max_pool,
            "max_pixels": self.config.max_pixels,
            "max_request_pixels": self.config.max_request_pixels,
            "max_body_bytes": self.config.max_body_bytes,
            "max_batch": self.config.max_batch,
            "ensemble": True,
        }


def _wh(image: Image.Image) -> str:
    return f"{image.width}x{image.height}"


def _timeout_text(task: Task) -> str:
    return f"the request did not finish within {task.timeout_s:g} s"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def memory_figures() -> dict[str, int | None]:
    """Process memory in bytes, and the CUDA allocator's figures when on a GPU."""
    figures: dict[str, int | None] = {"process_rss": None, "process_peak_rss": None}
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    figures["process_rss"] = int(line.split()[1]) * 1024
                elif line.startswith("VmHWM:"):
                    figures["process_peak_rss"] = int(line.split()[1]) * 1024
    except OSError:
        try:
            import resource

            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            figures["process_peak_rss"] = peak if sys.platform == "darwin" else peak * 1024
        except ImportError:  # Windows
            pass
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        figures["device_allocated"] = int(torch.cuda.memory_allocated())
        figures["device_reserved"] = int(torch.cuda.memory_reserved())
        figures["device_total"] = int(torch.cuda.get_device_properties(0).total_memory)
    figures["pid"] = os.getpid()
    return figures
