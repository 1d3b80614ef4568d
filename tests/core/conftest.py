"""Fixtures for core tests: tiny random models saved in the project's format."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from visprompt_core.checkpoints import save_model
from visprompt_core.config import PRESETS
from visprompt_core.model import MAEVQGAN
from visprompt_core.pipeline import VisualPrompter


@pytest.fixture(scope="session")
def tiny_model() -> MAEVQGAN:
    torch.manual_seed(0)
    model = MAEVQGAN(PRESETS["tiny"])
    model.init_weights()
    return model.eval()


@pytest.fixture(scope="session")
def tiny_file(tmp_path_factory: pytest.TempPathFactory, tiny_model: MAEVQGAN) -> Path:
    path = tmp_path_factory.mktemp("models") / "tiny.safetensors"
    save_model(tiny_model, PRESETS["tiny"], path)
    return path


@pytest.fixture(scope="session")
def tiny_prompter(tiny_model: MAEVQGAN) -> VisualPrompter:
    return VisualPrompter(tiny_model, name="tiny", device="cpu")
