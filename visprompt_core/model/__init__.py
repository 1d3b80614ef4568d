"""Networks: ViT blocks, the token-predicting MAE, the VQGAN tokenizer, and both together."""

from visprompt_core.model.mae import MaskedAutoencoderViT
from visprompt_core.model.mae_vqgan import MAEVQGAN, token_window
from visprompt_core.model.threads import configure_threads, cpu_threads
from visprompt_core.model.vqgan import VQGAN

__all__ = ["MAEVQGAN", "VQGAN", "MaskedAutoencoderViT", "configure_threads", "cpu_threads",
           "token_window"]
