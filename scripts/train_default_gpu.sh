#!/usr/bin/env bash
# Train the embedded default model on one GPU (run on the device machine, repo root):
#   OUT=/some/folder bash scripts/train_default_gpu.sh
# Everything lands in $OUT, 7 files (the device brings back at most 8): train.log,
# log.jsonl, config.json, eval.json, checks.txt (hardware, tokenizer colour, answer
# colour) and the fp16 weights split into <16 MB parts for transfer
# (`cat model.safetensors.part-* > model.safetensors`).
# Dry run of the whole script on a CPU before spending GPU time (about 10 minutes):
#   PATH=.venv/bin:$PATH OUT=/tmp/out TOK_BUDGET=25 MAE_BUDGET=40 TOK_BATCH=8 MAE_BATCH=8 \
#     EVAL_EPISODES=8 bash scripts/train_default_gpu.sh
set -euo pipefail
export PYTHONPATH=. PYTHONUNBUFFERED=1
RUN=${RUN:-/tmp/visprompt-run}
TOK_BUDGET=${TOK_BUDGET:-130}
MAE_BUDGET=${MAE_BUDGET:-300}
# The tokenizer trains on random 112-px crops (a quarter of a canvas per sample), 512 a step.
TOK_CROP=${TOK_CROP:-112}
TOK_BATCH=${TOK_BATCH:-512}
# Crops taken from each generated canvas (TOK_BATCH / TOK_CROPS_PER_CANVAS canvases a step):
# the data generator, not the GPU, bounded the fifth session's tokenizer stage.
TOK_CROPS_PER_CANVAS=${TOK_CROPS_PER_CANVAS:-1}
MAE_BATCH=${MAE_BATCH:-256}
EVAL_EPISODES=${EVAL_EPISODES:-1024}
MAE_LR=${MAE_LR:-1e-3}
# MAE_FROM=<model.safetensors>: start the MAE from that file's, its token head remapped to
# the new tokenizer's codes (train/retarget.py), e.g. the shipped default with MAE_LR=3e-4.
MAE_FROM=${MAE_FROM:-}
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/checks.txt"
else
  echo "no nvidia-smi: not a GPU machine" | tee "$OUT/checks.txt"
fi
python3 -c "import torch; print('torch', torch.__version__)" | tee -a "$OUT/checks.txt"
python3 -m visprompt_core.train --out "$RUN" --preset small --seed 0 \
  --tok-steps 100000 --tok-batch "$TOK_BATCH" --tok-crop "$TOK_CROP" \
  --tok-crops-per-canvas "$TOK_CROPS_PER_CANVAS" \
  --tok-time-budget "$TOK_BUDGET" \
  --mae-steps 100000 --mae-batch "$MAE_BATCH" --mae-time-budget "$MAE_BUDGET" \
  --mae-lr "$MAE_LR" ${MAE_FROM:+--mae-from "$MAE_FROM"} \
  --log-every 100 --eval-every 1000 --save-every 2000 --eval-episodes "$EVAL_EPISODES" \
  2>&1 | tee "$OUT/train.log"
cp "$RUN/log.jsonl" "$RUN/eval.json" "$RUN/config.json" "$OUT/"
split -b 15m "$RUN/model.safetensors" "$OUT/model.safetensors.part-"
# Does the tokenizer keep colour? (chroma PSNR of an all-grey output: about 17 dB)
MODEL="$RUN/model.safetensors" python3 - <<'PY' | tee -a "$OUT/checks.txt"
import json, os
from visprompt_core.train.tokenizer import reconstruction_figures
from visprompt_core.checkpoints import load_model_file
_, model = load_model_file(os.environ["MODEL"])
print(json.dumps(reconstruction_figures(model.vae.float().eval())))
PY
# Do the answers carry the right colour? (chroma PSNR has to beat the "grey answer" column)
python3 benchmarks/bench_answer_colour.py --episodes 16 \
  --models visprompt_core/weights/default.safetensors "$RUN/model.safetensors" \
  | tee -a "$OUT/checks.txt"
