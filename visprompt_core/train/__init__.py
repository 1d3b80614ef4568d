"""Training of the embedded default model: VQ tokenizer first, then the MAE."""
