"""One-canvas prompts as a step without host round trips, and its CUDA-graph replay.

``AnswerStep``: the answer of B one-canvas prompts of one layout, canvases (B, 3, S, S) in
[0, 1] -> (argmax tokens (B, N), answer cells (B, 3, h, w)), decoded by the model's
recipe exactly as ``VisualPrompter`` does eagerly. The mask's patch order and the decode
window are planned once, so the step itself never waits for the host and a CUDA graph
can capture it.

``GraphedAnswers``: one captured graph per batch bucket (powers of two up to
``max_batch``), made on first use; a batch is padded to its bucket with copies of its
first canvas. Each capture is checked against the eager step on its warm-up input; where
capture fails or disagrees, that bucket runs eager (logged), as do batches above
``max_batch``. At batch 1 a graph removes the kernel-launch overhead that dominates GPU
model time (docs/performance.md, section "GPU").
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

from visprompt_core import canvas as cv
from visprompt_core.model import MAEVQGAN
from visprompt_core.model.mae_vqgan import DecodeWindow

log = logging.getLogger(__name__)

Answers = tuple[torch.Tensor, torch.Tensor]
Replay = Callable[[torch.Tensor], Answers]
# The largest batch bucket captured by default. Larger batches run eager: on the H200 a
# graph saved 25 % at batch 8 (23.6 -> 17.7 ms) and nothing at 64 (123.8 -> 122.7 ms,
# docs/performance.md), while every captured bucket keeps its memory.
MAX_GRAPH_BATCH = 16
# Largest answer-pixel difference a graph may show against the eager step (kernels are
# the same; this only allows for a different reduction order).
GRAPH_TOLERANCE = 1 / 255


class AnswerStep:
    """B one-canvas prompts of ``layout`` -> (argmax tokens, answer cells); see module doc."""

    def __init__(self, model: MAEVQGAN, layout: cv.Layout, batch: int) -> None:
        self.model = model
        self.layout = layout
        device = model.pixel_mean.device
        self.mask = layout.patch_mask().to(device)
        self.pixels = cv.pixel_mask(self.mask)[None]  # what paste_answer computes per call
        ids_shuffle, self.ids_restore, n_keep = model.mask_order(self.mask.expand(batch, -1))
        self.ids_keep = ids_shuffle[:, :n_keep].contiguous()
        margin = model.model_config.decode_margin
        self.window: DecodeWindow | None = (
            None if margin is None else model.window_plan(self.mask, margin))

    @torch.inference_mode()
    def __call__(self, canvases: torch.Tensor) -> Answers:
        m = self.model
        latent = m.forward_encoder(m.normalize(canvases), self.ids_keep)
        tokens = m.forward_decoder(latent, self.ids_restore).float().argmax(-1)
        if self.window is None:
            decoded = m.decode(m.context_tokens(canvases, tokens, self.mask))
        else:
            decoded = m.decode_in_window(canvases, tokens, self.window)
        cells = cv.crop_answer(torch.where(self.pixels, decoded, canvases.float()),
                               self.layout)
        return tokens, cells


def capture_cuda_graph(step: AnswerStep, example: torch.Tensor) -> Replay:
    """A CUDA-graph replay of ``step`` for inputs shaped like ``example`` (its outputs are
    the graph's static buffers: copy them before the next replay)."""
    static_in = example.clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):  # warm-up: lazy initialisation and autotuning happen here
            step(static_in)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.inference_mode(), torch.cuda.graph(graph):
        static_out = step(static_in)

    def replay(canvases: torch.Tensor) -> Answers:
        static_in.copy_(canvases)
        graph.replay()
        return static_out

    return replay


def bucket_size(batch: int) -> int:
    """The power of two a batch is padded to."""
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    return 1 << (batch - 1).bit_length()


class GraphedAnswers:
    """``AnswerStep`` for any batch size, replayed from per-bucket graphs (module doc).

    ``capture`` makes the replay of a step (default ``capture_cuda_graph``)."""

    def __init__(self, model: MAEVQGAN, layout: cv.Layout, max_batch: int = MAX_GRAPH_BATCH,
                 capture: Callable[[AnswerStep, torch.Tensor], Replay] = capture_cuda_graph
                 ) -> None:
        self.model = model
        self.layout = layout
        self.max_batch = max_batch
        self.capture = capture
        self.replays: dict[int, Replay | None] = {}  # None: this bucket runs eager
        self._eager: dict[int, AnswerStep] = {}

    def __call__(self, canvases: torch.Tensor) -> Answers:
        batch = canvases.shape[0]
        bucket = bucket_size(batch)
        if bucket > self.max_batch:
            return self.eager(canvases)
        padded = pad_batch(canvases, bucket)
        if bucket not in self.replays:
            self.replays[bucket] = self._capture(bucket, padded)
        replay = self.replays[bucket]
        if replay is None:
            return self.eager(canvases)
        tokens, cells = replay(padded)
        return tokens[:batch].clone(), cells[:batch].clone()

    def eager(self, canvases: torch.Tensor) -> Answers:
        """The step run as it is (no graph)."""
        batch = canvases.shape[0]
        if batch not in self._eager:
            self._eager[batch] = AnswerStep(self.model, self.layout, batch)
        return self._eager[batch](canvases)

    def _capture(self, bucket: int, example: torch.Tensor) -> Replay | None:
        step = AnswerStep(self.model, self.layout, bucket)
        try:
            replay = self.capture(step, example)
            tokens, cells = (x.clone() for x in replay(example))
        except RuntimeError as exc:
            log.warning("CUDA graph for batch %d not captured, running eager: %s", bucket,
                        str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return None
        want_tokens, want_cells = step(example)
        mask = step.mask
        if not torch.equal(tokens[:, mask], want_tokens[:, mask]) \
                or float((cells - want_cells).abs().max()) > GRAPH_TOLERANCE:
            log.warning("CUDA graph for batch %d disagrees with the eager step; running "
                        "eager", bucket)
            return None
        log.info("CUDA graph captured for batches of up to %d one-canvas prompts", bucket)
        return replay


def pad_batch(canvases: torch.Tensor, size: int) -> torch.Tensor:
    """``canvases`` followed by copies of its first canvas, ``size`` in all."""
    missing = size - canvases.shape[0]
    if missing <= 0:
        return canvases
    return torch.cat([canvases, canvases[:1].expand(missing, -1, -1, -1)])
