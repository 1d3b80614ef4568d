"""Reading and writing model weights, with strict key and shape checks.

Formats:

* the project's own: one ``.safetensors`` file, ``ModelConfig`` JSON in the metadata
  under ``visprompt_config`` (written by ``save_model`` / ``convert_checkpoint``);
* the published MAE-VQGAN torch pickle (``checkpoint-1000.pth`` / ``checkpoint-3400.pth``):
  a dict with ``model`` (bare keys, ``vae.*`` included), ``args``, optimizer state;
* a taming-transformers VQGAN Lightning checkpoint (``last.ckpt``; ``state_dict`` with
  training-only ``loss.*`` keys, which are ignored) plus its ``model.yaml``.

Pickles load with ``torch.load(weights_only=True)``; only ``argparse.Namespace`` is
allow-listed, so no file can run code while loading.
"""

from __future__ import annotations

import argparse
import logging
import os
import pickle
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from visprompt_core.config import PRESETS, ModelConfig, VQGANConfig
from visprompt_core.errors import CheckpointError

log = logging.getLogger(__name__)

CONFIG_KEY = "visprompt_config"
FORMAT_KEY = "format"
FORMAT_NAME = "visprompt-mae-vqgan"
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
_MAX_LISTED = 8


# ------------------------------------------------------------------- strict loading


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    more = len(names) - _MAX_LISTED
    return shown + (f" (+{more} more)" if more > 0 else "")


def check_state_dict(
    module: nn.Module, state: Mapping[str, torch.Tensor], source: str | Path
) -> None:
    """Raise ``CheckpointError`` naming missing, unexpected and wrong-shape keys."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = sorted(
        f"{k} (file {tuple(state[k].shape)}, model {tuple(expected[k].shape)})"
        for k in set(expected) & set(state)
        if tuple(state[k].shape) != tuple(expected[k].shape)
    )
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s): {_listing(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): {_listing(unexpected)}")
    if mismatched:
        problems.append(f"{len(mismatched)} key(s) with the wrong shape: {_listing(mismatched)}")
    if problems:
        raise CheckpointError(f"{source}: weights do not match the model: " + "; ".join(problems))


def load_into(module: nn.Module, state: Mapping[str, torch.Tensor], source: str | Path) -> None:
    """Strictly copy ``state`` into ``module`` (dtype follows the module)."""
    check_state_dict(module, state, source)
    module.load_state_dict(dict(state), strict=True)


# ------------------------------------------------------------------------- reading


def _torch_load(path: Path) -> Any:
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=False)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: refused to load: the file holds Python objects other than tensors "
            f"and plain containers, which could run code ({str(exc).splitlines()[0]})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError) as exc:
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint (truncated or corrupted?): "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the file is empty")


def read_safetensors(path: str | Path) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """The project's own format -> (config, state dict)."""
    path = Path(path)
    _require_file(path)
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file: {exc}") from None
    if CONFIG_KEY not in meta:
        raise CheckpointError(f"{path}: safetensors file without a '{CONFIG_KEY}' entry in its "
                              "metadata: not a VisPrompt model file")
    return ModelConfig.from_json(meta[CONFIG_KEY]), state


def read_published_mae_vqgan(path: str | Path) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """A published MAE-VQGAN ``.pth`` (dict with ``model``) -> (config, state dict)."""
    path = Path(path)
    _require_file(path)
    obj = _torch_load(path)
    state = obj.get("model") if isinstance(obj, dict) else None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a dict with a 'model' state dict "
                              "(published MAE-VQGAN checkpoint layout)")
    state = {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    cfg = PRESETS["mae_vqgan_large"]
    args = obj.get("args")
    model_name = getattr(args, "model", None)
    if model_name is not None and "large" not in str(model_name):
        raise CheckpointError(f"{path}: model '{model_name}' is not a supported published "
                              "variant (mae_vit_large_patch16)")
    return cfg, state


def read_taming_vqgan(
    path: str | Path, yaml_path: str | Path | None = None
) -> tuple[VQGANConfig, dict[str, torch.Tensor]]:
    """A taming-transformers ``last.ckpt`` (+ ``model.yaml``) -> (config, tokenizer state)."""
    path = Path(path)
    _require_file(path)
    obj = _torch_load(path)
    state = obj.get("state_dict") if isinstance(obj, dict) else None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a Lightning checkpoint with 'state_dict'")
    kept = {k: v for k, v in state.items() if not k.startswith("loss.")}
    dropped = len(state) - len(kept)
    if dropped:
        log.info("%s: ignored %d training-only loss.* keys", path, dropped)
    cfg = _vqgan_config_from_yaml(Path(yaml_path)) if yaml_path else VQGANConfig()
    return cfg, kept


def _vqgan_config_from_yaml(path: Path) -> VQGANConfig:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
        params = data["model"]["params"]
        dd = params["ddconfig"]
        return VQGANConfig(
            embed_dim=int(params["embed_dim"]), n_embed=int(params["n_embed"]),
            z_channels=int(dd["z_channels"]), ch=int(dd["ch"]), ch_mult=tuple(dd["ch_mult"]),
            num_res_blocks=int(dd["num_res_blocks"]),
            attn_resolutions=tuple(dd["attn_resolutions"]), resolution=int(dd["resolution"]),
            in_channels=int(dd["in_channels"]), out_ch=int(dd["out_ch"]),
        )
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a taming VQGAN model.yaml: {exc}") from None


def read_checkpoint(path: str | Path) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """Any full-model file (own safetensors or published ``.pth``) -> (config, state)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return read_safetensors(path)
    return read_published_mae_vqgan(path)


def describe(path: str | Path) -> dict[str, Any]:
    """What a checkpoint file holds (for ``visprompt info``)."""
    path = Path(path)
    _require_file(path)
    if path.suffix == ".ckpt":
        vq_cfg, state = read_taming_vqgan(path)
        kind, config = "taming-vqgan", {"vqgan": vq_cfg.__dict__}
    else:
        cfg, state = read_checkpoint(path)
        kind = "visprompt-safetensors" if path.suffix == ".safetensors" else "mae-vqgan-published"
        config = cfg.to_dict()
    n_params = sum(t.numel() for t in state.values())
    dtypes = sorted({str(t.dtype).removeprefix("torch.") for t in state.values()})
    return {"file": str(path), "format": kind, "bytes": path.stat().st_size, "tensors": len(state),
            "parameters": n_params, "dtypes": dtypes, "config": config}


# ------------------------------------------------------------------------- writing


def save_model(model: nn.Module, cfg: ModelConfig, path: str | Path, dtype: str = "fp32",
               extra_meta: Mapping[str, str] | None = None) -> Path:
    """Write the project's format atomically (temp file, then rename)."""
    return save_state(model.state_dict(), cfg, path, dtype, extra_meta)


def save_state(state: Mapping[str, torch.Tensor], cfg: ModelConfig, path: str | Path,
               dtype: str = "fp32", extra_meta: Mapping[str, str] | None = None) -> Path:
    if dtype not in DTYPES:
        raise CheckpointError(f"unknown dtype {dtype!r}; choose from {sorted(DTYPES)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", DTYPES[dtype]).contiguous() for k, v in state.items()}
    meta = {CONFIG_KEY: cfg.to_json(), FORMAT_KEY: FORMAT_NAME, **(extra_meta or {})}
    tmp = path.with_name(path.name + ".tmp")
    try:
        save_file(tensors, str(tmp), metadata=meta)
        tmp.chmod(0o644)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def convert_checkpoint(src: str | Path, dst: str | Path, dtype: str = "fp32",
                       vqgan: str | Path | None = None,
                       vqgan_yaml: str | Path | None = None) -> Path:
    """Published ``.pth`` (optionally with a taming ``last.ckpt`` as tokenizer) -> safetensors.

    Every tensor is checked against the model built from the config before writing.
    """
    from visprompt_core.model import MAEVQGAN

    cfg, state = read_checkpoint(src)
    if vqgan is not None:
        vq_cfg, vq_state = read_taming_vqgan(vqgan, vqgan_yaml)
        cfg = replace(cfg, vqgan=vq_cfg)
        state = {k: v for k, v in state.items() if not k.startswith("vae.")}
        state.update({f"vae.{k}": v for k, v in vq_state.items()})
    with torch.device("meta"):
        skeleton = MAEVQGAN(cfg)
    check_state_dict(skeleton, state, src)
    out = save_state(state, cfg, dst, dtype, {"source": Path(src).name})
    log.info("converted %s -> %s (%s)", src, out, dtype)
    return out


def load_model_file(path: str | Path, assign: bool = True) -> tuple[ModelConfig, nn.Module]:
    """Build an ``MAEVQGAN`` from any supported full-model file, strictly checked, on CPU.

    The model is float32. With ``assign`` (default) the file's tensors become the
    parameters: a float32 safetensors file is used in place through its copy-on-write
    memory map (no copy; pages are read on first use), other dtypes are converted once.
    On Windows, where a mapped file cannot be replaced while in use, the tensors are
    copied out of the map. ``assign=False`` allocates the parameters and copies into
    them (the older path).
    """
    from visprompt_core.model import MAEVQGAN

    cfg, state = read_checkpoint(path)
    with torch.device("meta"):
        model = MAEVQGAN(cfg)
    if not assign:
        model = model.to_empty(device="cpu")  # no random init: every tensor is overwritten
        model.reset_constants()
        load_into(model, state, path)
        return cfg, model
    check_state_dict(model, state, path)
    expected = model.state_dict()
    private = os.name == "nt"  # release the file: copy instead of keeping the map
    state = {k: v.to(expected[k].dtype, copy=private) for k, v in state.items()}
    model.load_state_dict(state, strict=True, assign=True)
    _materialize_meta_buffers(model)
    model.reset_constants()
    return cfg, model


def _materialize_meta_buffers(module: nn.Module) -> None:
    """Give the non-saved buffers left on the meta device real (CPU) storage."""
    for sub in module.modules():
        for name, buf in sub.named_buffers(recurse=False):
            if buf is not None and buf.is_meta:
                sub.register_buffer(name, torch.empty_like(buf, device="cpu"),
                                    persistent=name not in sub._non_persistent_buffers_set)
