"""Model manager: the thin adapter between the worker and ``visprompt_core``.

It keeps at most one model in memory. Every method is called from the worker thread
only (``list_models`` also from request handlers; it touches no model state).
"""

from __future__ import annotations

import logging
from typing import Any

from backend_server.errors import ApiError

logger = logging.getLogger(__name__)


class ModelManager:
    def __init__(self, device: str) -> None:
        self.device = device
        self.model: Any = None
        self.name: str | None = None

    @staticmethod
    def list_models() -> list[dict[str, Any]]:
        import visprompt_core

        return [dict(entry) for entry in visprompt_core.list_models()]

    def check_name(self, name: str) -> None:
        """Refuse names that are not listed (no file paths over HTTP) or not on disk."""
        if name == self.name:
            return
        for entry in self.list_models():
            if entry.get("name") == name:
                if not entry.get("available", True):
                    raise ApiError(
                        "model_not_downloaded",
                        f"model {name!r} is known but its weights are not on this machine; "
                        "download or import it first (visprompt models --help)",
                    )
                return
        raise ApiError("unknown_model", f"unknown model {name!r}; GET /v1/models lists them")

    def load(self, name_or_path: str) -> str:
        """Load a model by name (or path, from the command line) and make it current.

        The current model is released first (device memory rarely holds two). If the new
        one fails to load, the previous one is loaded again and the error re-raised.
        """
        if name_or_path == self.name and self.model is not None:
            return name_or_path
        import visprompt_core

        previous = self.name
        logger.info("loading model %s on %s", name_or_path, self.device)
        self.model, self.name = None, None
        free_device_memory()
        try:
            self.model = visprompt_core.load_model(name_or_path, device=self.device)
        except Exception:
            if previous is not None:
                logger.warning("loading %s failed; reloading %s", name_or_path, previous)
                self.model = visprompt_core.load_model(previous, device=self.device)
                self.name = previous
            raise
        self.name = name_or_path
        return name_or_path

    def prompt_batch(self, requests: list[Any]) -> list[Any]:
        if self.model is None:
            raise ApiError("internal", "no model is loaded")
        return list(self.model.prompt_batch(requests))

    def info(self) -> dict[str, Any]:
        if self.model is None:
            return {}
        try:
            return dict(self.model.info())
        except Exception:  # info is best effort; never fail /v1/info on it
            logger.exception("model.info() failed")
            return {}


def make_core_request(
    examples: list[tuple[Any, Any]],
    query: Any,
    mask: Any,
    ensemble: int | None,
    answer_size: tuple[int, int] | None,
    upscale: str | None = None,
    select: int | None = None,
    detail: bool | None = None,
) -> Any:
    from visprompt_core import PromptRequest

    extra = {} if upscale is None else {"upscale": upscale}
    return PromptRequest(
        examples=examples,
        query=query,
        mask=mask,
        ensemble=ensemble,
        answer_size=answer_size,
        select=select,
        detail=detail,
        **extra,
    )


def free_device_memory() -> None:
    import gc

    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # freeing is best effort
        logger.debug("could not empty the CUDA cache", exc_info=True)
