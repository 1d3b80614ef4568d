"""Unit tests of the inference worker's failure handling.

An out-of-memory cannot be provoked on purpose with the small default model on a CPU,
so these tests drive ``InferenceWorker`` with a stand-in model manager that raises
torch's own ``OutOfMemoryError``. (The GPU check in docs/server.md provokes a real one.)
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import pytest
import torch

from backend_server.errors import ApiError
from backend_server.models import ModelManager
from backend_server.worker import InferenceWorker, Task


@dataclass
class FakeRequest:
    value: int
    oom: bool = False
    explode: bool = False


class StandInManager(ModelManager):
    """Answers ``value * 2``; fails like a device that fits only one prompt at a time."""

    def __init__(self, max_fit: int = 1) -> None:
        super().__init__("cpu")
        self.max_fit = max_fit
        self.calls: list[int] = []
        self.gate = threading.Event()
        self.gate.set()

    def load(self, name_or_path: str) -> str:
        self.name = name_or_path
        self.model = object()
        return name_or_path

    def prompt_batch(self, requests: list[Any]) -> list[Any]:
        self.gate.wait(10)
        self.calls.append(len(requests))
        if len(requests) > self.max_fit or any(r.oom for r in requests):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if any(r.explode for r in requests):
            raise ValueError("something unexpected")
        return [r.value * 2 for r in requests]


def make_task(value: int, **flags: bool) -> Task:
    return Task(request=FakeRequest(value, **flags), model=None, canvases=1, timeout_s=30)


@pytest.fixture
def worker() -> Any:
    manager = StandInManager()
    worker = InferenceWorker(manager, "stand-in", queue_size=16, max_batch=8)
    worker.start()
    assert worker.ready.wait(10)
    yield worker
    worker.stop()


def run_all(worker: InferenceWorker, tasks: list[Task]) -> None:
    manager = worker.manager
    assert isinstance(manager, StandInManager)
    manager.gate.clear()  # hold the worker so the tasks queue up and batch together
    for task in tasks:
        worker.submit(task)
    manager.gate.set()
    for task in tasks:
        assert task.done.wait(10)


def test_oom_on_batch_retries_one_by_one(worker: InferenceWorker) -> None:
    tasks = [make_task(i) for i in range(5)]
    run_all(worker, tasks)
    assert [t.state for t in tasks] == ["done"] * 5
    assert [t.result for t in tasks] == [0, 2, 4, 6, 8]
    assert max(worker.manager.calls) > 1  # a batch was tried, failed, and split


def test_oom_reported_and_worker_recovers(worker: InferenceWorker) -> None:
    tasks = [make_task(1), make_task(2, oom=True), make_task(3, explode=True), make_task(4)]
    run_all(worker, tasks)
    assert [t.state for t in tasks] == ["done", "failed", "failed", "done"]
    assert tasks[1].error is not None and tasks[1].error.code == "out_of_memory"
    assert tasks[1].error.status == 503
    assert tasks[2].error is not None and tasks[2].error.code == "internal"
    later = make_task(5)
    worker.submit(later)
    assert later.done.wait(10) and later.result == 10


def test_queue_full(worker: InferenceWorker) -> None:
    worker.manager.gate.clear()
    try:
        tasks = [make_task(i) for i in range(20)]
        with pytest.raises(ApiError) as caught:
            for task in tasks:
                worker.submit(task)
        assert caught.value.code == "queue_full"
        assert caught.value.retry_after is not None and caught.value.retry_after >= 1
    finally:
        worker.manager.gate.set()


def test_stop_fails_waiting_tasks() -> None:
    manager = StandInManager()
    worker = InferenceWorker(manager, "stand-in", queue_size=16, max_batch=1)
    worker.start()
    assert worker.ready.wait(10)
    manager.gate.clear()
    tasks = [make_task(i) for i in range(3)]
    for task in tasks:
        worker.submit(task)
    manager.gate.set()
    worker.stop()
    assert all(t.done.is_set() for t in tasks[1:])
    with pytest.raises(ApiError) as caught:
        worker.submit(make_task(9))
    assert caught.value.code == "shutting_down"
