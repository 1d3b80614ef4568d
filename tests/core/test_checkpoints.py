"""Checkpoint formats: own safetensors, published .pth layout, taming Lightning .ckpt."""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import save_file

from visprompt_core.checkpoints import (
    convert_checkpoint,
    describe,
    load_model_file,
    read_taming_vqgan,
)
from visprompt_core.config import PRESETS
from visprompt_core.errors import CheckpointError
from visprompt_core.model import MAEVQGAN


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        torch.testing.assert_close(sa[key].float(), sb[key].float(), msg=key)


def published_pth(path: Path, model: MAEVQGAN, **extra: object) -> Path:
    """A file in the published MAE-VQGAN layout: dict with model/args/optimizer/epoch."""
    args = argparse.Namespace(model="mae_vit_large_patch16", lr=1e-4)
    torch.save({"model": model.state_dict(), "args": args, "epoch": 999,
                "optimizer": {"state": {}, "param_groups": []}, "scaler": {}, **extra}, path)
    return path


def test_safetensors_round_trip(tiny_file: Path, tiny_model: MAEVQGAN) -> None:
    cfg, loaded = load_model_file(tiny_file)
    assert cfg == PRESETS["tiny"]
    assert_same_weights(tiny_model, loaded)
    info = describe(tiny_file)
    assert info["format"] == "visprompt-safetensors"
    assert info["parameters"] == sum(v.numel() for v in tiny_model.state_dict().values())


def test_published_layout_converts_and_loads(tmp_path: Path, tiny_model: MAEVQGAN,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # The published files hold the large model; a tiny stand-in keeps the test fast, so
    # point the reader's preset at the tiny config.
    import visprompt_core.checkpoints as ck

    monkeypatch.setitem(ck.PRESETS, "mae_vqgan_large", PRESETS["tiny"])
    src = published_pth(tmp_path / "checkpoint-1000.pth", tiny_model)
    out = convert_checkpoint(src, tmp_path / "converted.safetensors", dtype="fp16")
    cfg, loaded = load_model_file(out)
    assert cfg == PRESETS["tiny"]
    for key, value in tiny_model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value.half().float(), msg=key)
    assert describe(out)["dtypes"] == ["float16"]


def test_taming_lightning_checkpoint_ignores_loss_keys(tmp_path: Path,
                                                       tiny_model: MAEVQGAN) -> None:
    vq_state = tiny_model.vae.state_dict()
    state = dict(vq_state)
    state["loss.discriminator.main.0.weight"] = torch.zeros(4, 3, 4, 4)
    state["loss.perceptual_loss.net.slice1.0.weight"] = torch.zeros(2)
    torch.save({"state_dict": state, "epoch": 3, "global_step": 10}, tmp_path / "last.ckpt")
    vq = PRESETS["tiny"].vqgan
    (tmp_path / "model.yaml").write_text(yaml.safe_dump({"model": {"params": {
        "embed_dim": vq.embed_dim, "n_embed": vq.n_embed,
        "ddconfig": {"double_z": False, "z_channels": vq.z_channels, "resolution": 256,
                     "in_channels": 3, "out_ch": 3, "ch": vq.ch, "ch_mult": list(vq.ch_mult),
                     "num_res_blocks": vq.num_res_blocks,
                     "attn_resolutions": list(vq.attn_resolutions), "dropout": 0.0}}}}))
    cfg, loaded = read_taming_vqgan(tmp_path / "last.ckpt", tmp_path / "model.yaml")
    assert cfg == vq
    assert not any(k.startswith("loss.") for k in loaded)
    assert loaded.keys() == vq_state.keys()


def test_truncated_file_gives_clear_error(tmp_path: Path, tiny_model: MAEVQGAN,
                                         tiny_file: Path) -> None:
    src = published_pth(tmp_path / "full.pth", tiny_model)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pth.*(truncated|corrupted)"):
        load_model_file(cut)
    cut_st = tmp_path / "cut.safetensors"
    cut_st.write_bytes(tiny_file.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"cut\.safetensors"):
        load_model_file(cut_st)
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_model_file(empty)


def test_wrong_shape_and_missing_keys_are_named(tmp_path: Path, tiny_model: MAEVQGAN) -> None:
    # contiguous: a prompter made earlier in the session may have put the shared model's
    # convolution weights channels-last (optimize_for_inference), which safetensors refuses
    state = {k: v.contiguous().clone() for k, v in tiny_model.state_dict().items()}
    state["decoder_pred.weight"] = torch.zeros(7, 32)
    del state["blocks.0.attn.qkv.bias"]
    state["extra.weight"] = torch.zeros(1)
    from visprompt_core.checkpoints import CONFIG_KEY

    path = tmp_path / "bad.safetensors"
    save_file(state, str(path), metadata={CONFIG_KEY: PRESETS["tiny"].to_json()})
    with pytest.raises(CheckpointError) as err:
        load_model_file(path)
    text = str(err.value)
    assert "bad.safetensors" in text
    assert "decoder_pred.weight (file (7, 32), model (64, 32))" in text
    assert "missing key(s): blocks.0.attn.qkv.bias" in text
    assert "unexpected key(s): extra.weight" in text


class Payload:
    """Unpickling this would create a marker file: the loader must refuse it."""

    marker: Path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(self.marker),))


def test_arbitrary_pickle_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = Payload()
    payload.marker = marker
    path = tmp_path / "evil.pth"
    with path.open("wb") as handle:
        pickle.dump({"model": {}, "args": payload}, handle)
    with pytest.raises(CheckpointError, match="refused"):
        load_model_file(path)
    assert not marker.exists()


def test_safetensors_without_config_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="not a VisPrompt model file"):
        load_model_file(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_model_file(tmp_path / "nope.safetensors")
