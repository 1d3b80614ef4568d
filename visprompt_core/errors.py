"""The exceptions visprompt_core raises. Callers catch ``VisPromptError``."""

from __future__ import annotations


class VisPromptError(Exception):
    """Base class of every error this package raises on purpose."""

    code = "visprompt_error"


class InputError(VisPromptError, ValueError):
    """Bad user input: images, masks, sizes, options."""

    code = "bad_input"


class CheckpointError(VisPromptError):
    """A checkpoint file is missing, truncated, of the wrong kind or does not match."""

    code = "bad_checkpoint"


class ModelNotFoundError(VisPromptError, LookupError):
    """No model of that name is known or its weights are not on disk."""

    code = "model_not_found"


class DownloadError(VisPromptError):
    """A weight download failed or its checksum did not match."""

    code = "download_failed"
