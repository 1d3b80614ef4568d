"""Model names -> weight files: the embedded default model and models in the data dir."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from visprompt_core.errors import ModelNotFoundError
from visprompt_core.paths import models_dir

DEFAULT_MODEL = "default"
_PACKAGE_WEIGHTS = Path(__file__).resolve().parent / "weights"


def default_weights_path() -> Path:
    return _PACKAGE_WEIGHTS / "default.safetensors"


def _published() -> dict[str, Any]:
    from visprompt_core.published import CATALOGUE

    return CATALOGUE


def resolve_model(name_or_path: str | Path) -> tuple[str, Path]:
    """A model name or a file path -> (display name, weight file). Never downloads."""
    text = str(name_or_path)
    if text == DEFAULT_MODEL:
        path = default_weights_path()
        if not path.is_file():
            raise ModelNotFoundError(f"the embedded default model is missing at {path}; "
                                     "reinstall the package")
        return DEFAULT_MODEL, path
    as_path = Path(text).expanduser()
    if as_path.suffix in (".safetensors", ".pth", ".pt") or as_path.is_file():
        if not as_path.is_file():
            raise ModelNotFoundError(f"{as_path}: no such model file")
        return as_path.stem, as_path
    installed = models_dir() / f"{text}.safetensors"
    if installed.is_file():
        return text, installed
    if text in _published():
        raise ModelNotFoundError(
            f"model '{text}' is not downloaded yet: run `visprompt models download {text}` "
            f"(or import a file you have with `visprompt models import {text} FILE`)"
        )
    raise ModelNotFoundError(f"unknown model '{text}'; known models: "
                             + ", ".join(m["name"] for m in list_models()))


def list_models() -> list[dict[str, Any]]:
    """Every model this install knows: name, available (weights on disk), description, path."""
    models = [{"name": DEFAULT_MODEL, "available": default_weights_path().is_file(),
               "description": "small MAE-VQGAN trained by VisPrompt on synthetic tasks "
                              "(embedded)", "path": str(default_weights_path())}]
    seen = {DEFAULT_MODEL}
    catalogue = _published()
    for name, entry in catalogue.items():
        path = models_dir() / f"{name}.safetensors"
        models.append({"name": name, "available": path.is_file(),
                       "description": getattr(entry, "description", ""), "path": str(path)})
        seen.add(name)
    folder = models_dir()
    if folder.is_dir():
        for path in sorted(folder.glob("*.safetensors")):
            if path.stem not in seen:
                models.append({"name": path.stem, "available": True,
                               "description": "user model", "path": str(path)})
    return models
