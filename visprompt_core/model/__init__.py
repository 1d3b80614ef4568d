"""Networks: ViT blocks, the token-predicting MAE, the VQGAN tokenizer, and both together."""

from visprompt_core.model.mae import MaskedAutoencoderViT
from visprompt_core.model.mae_vqgan import MAEVQGAN
from visprompt_core.model.vqgan import VQGAN

__all__ = ["MAEVQGAN", "VQGAN", "MaskedAutoencoderViT"]
