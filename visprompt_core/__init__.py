"""VisPrompt core: MAE-VQGAN visual prompting by inpainting.

    from visprompt_core import load_model
    model = load_model("default")
    answer = model.prompt(examples=[(example_in, example_out)], query=query)
"""

from __future__ import annotations

from visprompt_core.errors import (
    CheckpointError,
    InputError,
    ModelNotFoundError,
    VisPromptError,
)
from visprompt_core.pipeline import PromptRequest, VisualPrompter, load_model
from visprompt_core.registry import list_models

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "InputError",
    "ModelNotFoundError",
    "PromptRequest",
    "VisPromptError",
    "VisualPrompter",
    "__version__",
    "list_models",
    "load_model",
]
