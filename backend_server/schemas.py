"""Wire schemas of API v1. The OpenAPI document is generated from these models."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

JobState = Literal["queued", "running", "done", "failed", "cancelled"]

PNG_DOC = "base64-encoded PNG (JPEG and WebP are accepted too)"

# 8x8 PNGs for the documented example request.
_BLACK = (
    "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAADElEQVR42mNgGB4AAADIAAGTvaWOAAAAAElFTkSuQmCC"
)
_WHITE = (
    "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAFUlEQVR42mP8//8/AzbAxIADDE4JAFbUAw3/dxQW"
    "AAAAAElFTkSuQmCC"
)
_GRAY = (
    "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAFUlEQVR42mNsaGhgwAaYGHCAwSkBADAXAZDUexXG"
    "AAAAAElFTkSuQmCC"
)
EXAMPLE_PROMPT = {
    "examples": [{"input": _BLACK, "output": _WHITE}],
    "query": _GRAY,
    "mask": None,
    "options": {"model": None, "ensemble": None, "select": None, "answer_size": None,
                "upscale": None, "detail": None},
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    code: str = Field(description="stable machine-readable code")
    message: str = Field(description="text for a person")


class ErrorResponse(BaseModel):
    error: ErrorDetail


class ExamplePair(_Strict):
    input: str = Field(description=f"example input, {PNG_DOC}")
    output: str = Field(description=f"example output, {PNG_DOC}")


class PromptOptions(_Strict):
    model: str | None = Field(
        default=None, max_length=200, description="model name; null = the loaded model"
    )
    ensemble: int | None = Field(
        default=None, ge=1, le=16, description="number of canvases to average; null = default"
    )
    select: int | None = Field(
        default=None, ge=1, le=8,
        description="treat `examples` as a pool of up to max_pool pairs and answer with the "
        "`select` pairs whose inputs look most like the query; null = use every pair sent",
    )
    upscale: Literal["auto", "bicubic", "guided", "tiled"] | None = Field(
        default=None,
        description="how the answer cell becomes the answer size: bicubic, guided (edge-aware "
        "filter guided by the query), tiled (one canvas per tile; slow, local tasks only); "
        "null or auto = the core's choice by size",
    )
    answer_size: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]] | None = Field(
        default=None,
        description="(width, height) of the answer; null = the query's size",
    )
    detail: bool | None = Field(
        default=None,
        description="carry the query's fine detail into the answer where the model's recipe "
        "has it (the default model: the query mirrored or turned where every example pair "
        "is that mirror or quarter turn of its input; the query through the example's "
        "lines where every output channel is a straight line of one input channel or the "
        "luma (a channel swap, a greyscale, levels) and the model's answer agrees; answers "
        "whose example pair recolours "
        "in place or draws line art; the query with the areas closed by lines filled in "
        "their colour where the pair fills its outlines; the example's colours mapped on "
        "the query's pixels where the pair maps colours to colours (a palette swap, a hue "
        "shift, the mask of a colour); a crisp rectangle where every example output is one "
        "filled rectangle (a bounding box); answers in the query's own regions where the pair "
        "repaints flat regions in touching regions' colours; where the pair is a linear "
        "filter such as a blur, the query through that filter); false = the answer exactly "
        "as decoded; null = on",
    )


class PromptRequest(_Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_PROMPT]})

    examples: list[ExamplePair] = Field(
        min_length=1,
        description="1..max_pairs example pairs, or 1..max_pool with options.select "
        "(see /v1/info)",
    )
    query: str = Field(description=f"query image, {PNG_DOC}")
    mask: str | None = Field(
        default=None,
        description=f"optional mask at the query's size, {PNG_DOC}; nonzero = apply there",
    )
    options: PromptOptions = Field(default_factory=PromptOptions)


class Timings(BaseModel):
    decode_ms: float
    queue_ms: float
    model_ms: float
    encode_ms: float
    total_ms: float
    batch_size: int = Field(description="prompts computed in the same forward pass")


class PromptResponse(BaseModel):
    image: str = Field(description="the answer, base64-encoded PNG at the answer size")
    width: int
    height: int
    model: str
    timings: Timings


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"


class ModelEntry(BaseModel):
    name: str
    loaded: bool
    available: bool
    description: str = ""


class ModelsResponse(BaseModel):
    models: list[ModelEntry]


class LoadModelRequest(_Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "default"}]})

    name: str = Field(min_length=1, max_length=200)


class LoadModelResponse(BaseModel):
    loaded_model: str


class InfoResponse(BaseModel):
    version: str
    api: str = "v1"
    device: str
    memory: dict[str, float | int | None] = Field(
        description="bytes: process_rss, and device_allocated/device_total on CUDA"
    )
    models: list[ModelEntry]
    loaded_model: str | None
    model_info: dict[str, object] = Field(default_factory=dict)
    queue_depth: int
    queue_size: int
    max_pairs: int
    max_pool: int = Field(description="example pairs a request may send with options.select")
    max_pixels: int = Field(description="pixels per image")
    max_request_pixels: int = Field(description="pixels of all images of a request together")
    max_body_bytes: int
    max_batch: int
    ensemble: bool = True


class JobCreated(BaseModel):
    id: str
    state: JobState


class JobStatus(BaseModel):
    id: str
    state: JobState
    progress: float = Field(ge=0.0, le=1.0, description="estimate, 1.0 when finished")
    result: PromptResponse | None = None
    error: ErrorDetail | None = None
