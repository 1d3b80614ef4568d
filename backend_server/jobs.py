"""The job store: asynchronous prompts that clients poll, and may cancel.

Finished jobs are kept for ``ttl_s`` seconds, and at most ``max_jobs`` jobs exist at once.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from backend_server.errors import ApiError
from backend_server.worker import Task


@dataclass(eq=False)
class Job:
    id: str
    task: Task
    decode_ms: float
    created_at: float = field(default_factory=time.monotonic)
    response: Any = None  # the encoded PromptResponse, made on first read
    lock: threading.Lock = field(default_factory=threading.Lock)


class JobStore:
    def __init__(self, ttl_s: float, max_jobs: int) -> None:
        self.ttl_s = ttl_s
        self.max_jobs = max_jobs
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def add(self, task: Task, decode_ms: float) -> Job:
        with self._lock:
            self._expire()
            if len(self._jobs) >= self.max_jobs:
                raise ApiError(
                    "queue_full",
                    f"too many jobs ({len(self._jobs)}); fetch or cancel finished ones",
                    retry_after=5,
                )
            job = Job(id=secrets.token_urlsafe(12), task=task, decode_ms=decode_ms)
            self._jobs[job.id] = job
            return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            self._expire()
            job = self._jobs.get(job_id)
        if job is None:
            raise ApiError("not_found", f"no job {job_id!r} (finished jobs expire)")
        return job

    def _expire(self) -> None:
        now = time.monotonic()
        stale = [
            key
            for key, job in self._jobs.items()
            if job.task.finished_at is not None and now - job.task.finished_at > self.ttl_s
        ]
        for key in stale:
            del self._jobs[key]

    def remove(self, job_id: str) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)
