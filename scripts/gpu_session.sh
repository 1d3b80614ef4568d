#!/usr/bin/env bash
# One device call (the fifth session's first, on an H200): a 3-step CUDA smoke run of
# training; if it passes, the GPU training run (scripts/train_default_gpu.sh, tokenizer
# 140 s, MAE 230 s); then benchmarks/bench_gpu.py with the time that is left, its
# figures appended to checks.txt and written to gpu.json. Everything lands in $OUT
# (8 files, the device's limit). CALL_SECONDS is the call's own time limit, minus margin.
#   OUT=<folder> bash scripts/gpu_session.sh
set -uo pipefail
export PYTHONPATH=. PYTHONUNBUFFERED=1
T0=$(date +%s)
END=$((T0 + ${CALL_SECONDS:-575}))
python3 -m visprompt_core.train --out /tmp/smoke --preset small --tok-steps 3 --tok-batch 64 \
  --mae-steps 3 --mae-batch 64 --eval-episodes 16 --log-every 1 > /tmp/smoke.log 2>&1
rc=$?
echo "smoke rc $rc after $(( $(date +%s) - T0 )) s"; tail -4 /tmp/smoke.log
if [ $rc = 0 ]; then
  TOK_BUDGET=${TOK_BUDGET:-140} MAE_BUDGET=${MAE_BUDGET:-230} OUT=$OUT \
    timeout $((END - 100 - $(date +%s))) bash scripts/train_default_gpu.sh > /dev/null 2>&1
  echo "train rc $? after $(( $(date +%s) - T0 )) s" | tee -a "$OUT/checks.txt"
  tail -40 "$OUT/train.log"; tail -12 "$OUT/checks.txt"
else
  cp /tmp/smoke.log "$OUT/smoke.log"; tail -60 /tmp/smoke.log
fi
left=$((END - $(date +%s)))
echo "bench_gpu with $left s left"
timeout $left python3 benchmarks/bench_gpu.py --warmup 2 --repeat 10 --json "$OUT/gpu.json" \
  2>&1 | tee -a "$OUT/checks.txt"
echo "done after $(( $(date +%s) - T0 )) s"
