"""MAE-VQGAN: the token-predicting MAE with its VQGAN tokenizer under ``vae``.

Parameter names match the published checkpoints: MAE keys at the root, tokenizer keys
under ``vae.``. Canvases enter as (B, 3, H, W) float in [0, 1].

Speed (see ``docs/performance.md``): ``optimize_for_inference`` keeps the tokenizer's
convolution weights channels-last (same answers, faster on CPU). Opt-in fast modes that
change pixels or tokens slightly: ``decode(..., region=mask)`` decodes only the token
window around the answer, ``quantize_linears_int8`` swaps the ViT linears for dynamic
int8 ones (CPU only). Reduced precision is the caller's ``model.to(dtype)``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from visprompt_core.config import ModelConfig
from visprompt_core.model.mae import MaskedAutoencoderViT
from visprompt_core.model.vqgan import VQGAN

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Context tokens decoded around the answer block by ``decode(..., region=...)``; the PSNR
# of the answer against the full decode for each margin is in docs/performance.md.
REGION_MARGIN = 3


@dataclass(frozen=True)
class DecodeWindow:
    """The token window ``decode_window`` decodes: its rows and columns of the grid, which
    of its tokens are answer patches ((1 or B, h, w) bool), and whether all are."""

    rows: slice
    cols: slice
    inside: torch.Tensor
    all_inside: bool


class MAEVQGAN(MaskedAutoencoderViT):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__(cfg.mae)
        self.model_config = cfg
        self.vae = VQGAN(cfg.vqgan)
        self.register_buffer("pixel_mean", torch.empty(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.empty(1, 3, 1, 1), persistent=False)
        self.reset_constants()

    def reset_constants(self) -> None:
        """Fill the non-saved constant buffers (after ``to_empty`` from the meta device)."""
        if self.pixel_mean.is_meta:
            return
        with torch.no_grad():
            self.pixel_mean.copy_(torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
            self.pixel_std.copy_(torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    # ------------------------------------------------------------------- inference

    def optimize_for_inference(self) -> MAEVQGAN:
        """Answer-preserving speed-ups, in place; call after the final ``.to(device, dtype)``.

        The tokenizer's 4-D convolution weights go channels-last, and ``tokenize`` feeds
        its encoder channels-last pixels. The decoder's activations already are (the code
        lookup yields an NHWC view), so oneDNN stops reordering every weight on every
        call. Same values to rounding: pixels agree with the contiguous layout to ~1e-5,
        and the encoder's nearest codes agree but for rare near-ties (one token of 12,544
        on 64 canvases of the evaluation's families; none of their answer windows and
        queries, docs/performance.md).
        """
        for module in (self.vae.encoder, self.vae.quant_conv, self.vae.post_quant_conv,
                       self.vae.decoder):
            module.to(memory_format=torch.channels_last)
        return self

    def quantize_linears_int8(self) -> MAEVQGAN:
        """Opt-in fast mode (CPU, fp32): dynamic int8 for the ViT blocks' linears, in place.

        The token head (``decoder_pred``) and the tokenizer stay in float. The model can no
        longer be saved in the checkpoint layout or moved to CUDA afterwards.
        """
        from torch.ao.quantization import quantize_dynamic

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao's deprecation notices
            for blocks in (self.blocks, self.decoder_blocks):
                quantize_dynamic(blocks, {nn.Linear}, dtype=torch.qint8, inplace=True)
        log.info("ViT linears quantised to dynamic int8")
        return self

    # ------------------------------------------------------------------- stages

    def normalize(self, canvas: torch.Tensor) -> torch.Tensor:
        """[0, 1] canvas -> ImageNet-normalised MAE input, in the model's dtype."""
        dtype = self.patch_embed.proj.weight.dtype
        return ((canvas.float() - self.pixel_mean) / self.pixel_std).to(dtype)

    def canvas_logits(self, canvas: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1], (B, N) bool -> (B, N, vocab) float32 logits."""
        return self(self.normalize(canvas), mask).float()

    def tokenize(self, canvas: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, N) VQGAN token ids, row-major."""
        weight = self.vae.encoder.conv_in.weight  # 3x3: its layout tells the two apart
        pixels = (canvas.float() * 2 - 1).to(weight.dtype)
        if weight.is_contiguous(memory_format=torch.channels_last):  # optimize_for_inference
            pixels = pixels.contiguous(memory_format=torch.channels_last)
        ids = self.vae.encode(pixels)
        return ids.flatten(1)

    def context_tokens(self, canvas: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor
                       ) -> torch.Tensor:
        """The token map to decode: ``tokens`` (B, N) on the answer patches (``mask``, (N,)
        or (B, N) bool) and around them the context of ``ModelConfig.decode_context``:
        ``tokens`` themselves ("predicted") or the tokenizer's tokens of ``canvas``
        (B, 3, H, W) in [0, 1] ("encoded")."""
        if self.model_config.decode_context == "predicted":
            return tokens
        return torch.where(mask.to(tokens.device), tokens, self.tokenize(canvas))

    def reconstruct_region(self, canvas: torch.Tensor, rows: slice, cols: slice
                           ) -> torch.Tensor:
        """What the tokenizer makes of ``canvas[:, :, rows, cols]`` (pixel slices of
        (B, 3, H, W) in [0, 1]): the patch block covering them tokenized and decoded on
        its own, cropped back to the slices. (B, 3, h, w) float32 in [0, 1]."""
        p = self.cfg.patch_size
        top, left = rows.start // p * p, cols.start // p * p
        bottom, right = -(-rows.stop // p) * p, -(-cols.stop // p) * p
        ids = self.tokenize(canvas[:, :, top:bottom, left:right])
        ids = ids.view(-1, (bottom - top) // p, (right - left) // p)
        pixels = self._to_unit(self.vae.decode_tokens(ids))
        return pixels[:, :, rows.start - top:rows.stop - top, cols.start - left:cols.stop - left]

    def decode_answer(self, canvas: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor
                      ) -> torch.Tensor:
        """Decode one-canvas prompts by the model's recipe: (B, 3, H, W) in [0, 1], exact
        on the answer patches (``mask``, (N,) bool) whose ``tokens`` (B, N) the MAE chose.

        ``ModelConfig.decode_margin`` None decodes the whole canvas around the context of
        ``decode_context``; k decodes only the answer block and k tokens around it
        (``decode_window``; pixels outside are 0.5)."""
        margin = self.model_config.decode_margin
        if margin is None:
            return self.decode(self.context_tokens(canvas, tokens, mask))
        return self.decode_window(canvas, tokens, mask, margin)

    def decode(self, tokens: torch.Tensor, region: torch.Tensor | None = None,
               margin: int = REGION_MARGIN) -> torch.Tensor:
        """(B, N) token ids -> (B, 3, H, W) float32 in [0, 1].

        ``region`` (opt-in fast mode): an (N,) or (B, N) bool patch mask, e.g. the answer
        mask. Only the tokens in its bounding box, widened by ``margin`` tokens of context
        on every side (clipped to the grid), go through the VQGAN decoder; pixels outside
        that window are 0.5. Inside the region the pixels approximate the full decode: the
        decoder's group norms and attention see the window instead of the whole grid.
        """
        grid = round(tokens.shape[1] ** 0.5)
        ids = tokens.view(-1, grid, grid)
        if region is None:
            return self._to_unit(self.vae.decode_tokens(ids))
        rows, cols = token_window(region, grid, margin)
        return self._paste_window(self.vae.decode_tokens(ids[:, rows, cols]), rows, cols, grid)

    def decode_window(self, canvas: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor,
                      margin: int = 2) -> torch.Tensor:
        """Decode only the window around the answer, context and all: (B, 3, H, W) in [0, 1].

        ``tokens`` (B, N) fill the ``mask`` patches ((N,) or (B, N) bool); the window is
        the bounding box of all of them widened by ``margin`` tokens. Its context tokens come
        from the model's recipe (``decode_context``), "encoded" ones from tokenizing the
        window's pixels of ``canvas`` alone, so both the tokenizer and the decoder see only
        the window. Pixels outside it are 0.5. The decode of ensemble canvases
        (``visprompt_core.ensemble``) and of models with a ``decode_margin``; its answers
        against the whole decode are measured in docs/quality.md.
        """
        return self.decode_in_window(canvas, tokens, self.window_plan(mask, margin))

    def window_plan(self, mask: torch.Tensor, margin: int) -> DecodeWindow:
        """Where ``decode_window`` decodes for ``mask`` and ``margin`` (host work only once,
        so a CUDA graph can capture ``decode_in_window``)."""
        grid = self.cfg.img_size // self.cfg.patch_size
        rows, cols = token_window(mask, grid, margin)
        inside = mask.view(-1, grid, grid)[:, rows, cols]
        return DecodeWindow(rows, cols, inside, bool(inside.all()))

    def decode_in_window(self, canvas: torch.Tensor, tokens: torch.Tensor,
                         window: DecodeWindow) -> torch.Tensor:
        """``decode_window`` with its window planned (``window_plan``)."""
        grid = self.cfg.img_size // self.cfg.patch_size
        rows, cols = window.rows, window.cols
        predicted = tokens.view(-1, grid, grid)[:, rows, cols]
        if self.model_config.decode_context == "predicted" or window.all_inside:
            ids = predicted
        else:
            p = self.cfg.patch_size
            pixels = canvas[:, :, rows.start * p:rows.stop * p, cols.start * p:cols.stop * p]
            inside = window.inside.to(tokens.device)
            ids = torch.where(inside, predicted, self.tokenize(pixels).view_as(predicted))
        return self._paste_window(self.vae.decode_tokens(ids), rows, cols, grid)

    def _paste_window(self, part: torch.Tensor, rows: slice, cols: slice, grid: int
                      ) -> torch.Tensor:
        """Decoded window pixels -> full canvases, 0.5 outside the window."""
        part = self._to_unit(part)
        p = part.shape[-1] // (cols.stop - cols.start)
        out = part.new_full((part.shape[0], part.shape[1], grid * p, grid * p), 0.5)
        out[:, :, rows.start * p:rows.stop * p, cols.start * p:cols.stop * p] = part
        return out

    @staticmethod
    def _to_unit(pixels: torch.Tensor) -> torch.Tensor:
        return (pixels.float().clamp(-1, 1) + 1) / 2


def token_window(region: torch.Tensor, grid: int, margin: int) -> tuple[slice, slice]:
    """Bounding box of the True patches of an (N,) / (B, N) mask, widened by ``margin``."""
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    cells = region.reshape(-1, grid, grid).any(0)
    if not bool(cells.any()):
        raise ValueError("the decode region is empty")
    rows = torch.nonzero(cells.any(1)).flatten()
    cols = torch.nonzero(cells.any(0)).flatten()
    r0, r1 = max(0, int(rows[0]) - margin), min(grid, int(rows[-1]) + 1 + margin)
    c0, c1 = max(0, int(cols[0]) - margin), min(grid, int(cols[-1]) + 1 + margin)
    return slice(r0, r1), slice(c0, c1)
