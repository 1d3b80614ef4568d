#!/usr/bin/env bash
# Continue the MAE of a finished model on one GPU: same tokenizer, a new cosine schedule
# (the fifth session's second call, on an H200, which gave the shipped default):
#   MODEL=<model.safetensors> OUT=<folder> bash scripts/continue_default_gpu.sh
# $OUT gets train2.log, log2.jsonl, config2.json, eval2.json and the fp16 weights in
# <16 MB parts (`cat model2.safetensors.part-* > model.safetensors`).
set -euo pipefail
export PYTHONPATH=. PYTHONUNBUFFERED=1
MODEL=${MODEL:-visprompt_core/weights/default.safetensors}
RUN=${RUN:-/tmp/visprompt-continue}
python3 -m visprompt_core.train --out "$RUN" --preset small --seed "${SEED:-1}" \
  --init-from "$MODEL" \
  --mae-steps 100000 --mae-batch "${MAE_BATCH:-256}" \
  --mae-time-budget "${MAE_BUDGET:-150}" --mae-lr "${MAE_LR:-3e-4}" \
  --log-every 100 --eval-every 100000 --save-every 100000 \
  --eval-episodes "${EVAL_EPISODES:-1024}" \
  2>&1 | tee "$OUT/train2.log"
cp "$RUN/log.jsonl" "$OUT/log2.jsonl"
cp "$RUN/eval.json" "$OUT/eval2.json"
cp "$RUN/config.json" "$OUT/config2.json"
split -b 15m "$RUN/model.safetensors" "$OUT/model2.safetensors.part-"
