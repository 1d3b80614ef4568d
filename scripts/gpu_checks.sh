#!/usr/bin/env bash
# One device call for the checks that need a GPU and no training (prepared in the
# seventh session): unpack the carried wheels (scripts/device_wheels.sh), run the
# CUDA-only tests (the pipeline's CUDA graphs, the server on CUDA), then
# benchmarks/bench_gpu.py (kernels, graphs, fp16/bf16 fidelity, the VQGAN decoder through
# torch.compile, pipeline rows with graphs on and off) and benchmarks/bench_server.py on
# CUDA (micro-batching under concurrent load). Everything lands in $OUT: checks.txt,
# gpu.json, server_default.json, server_large.json.
#   run(command="OUT=$OUT bash scripts/gpu_checks.sh", carry=[".carry/wheels-cp312"])
# A try on a machine without CUDA (PY_VERSION=3.11 wheels from scripts/device_wheels.sh):
#   DEVICE=cpu PYTHON=<python> WHEELS=<wheels> OUT=<dir> REQUESTS=4 SERVER_ARGS="--clients 1 2" \
#   BENCH_GPU_ARGS="--preset tiny --batches 1 4 --fidelity-episodes 8" LARGE=0 bash scripts/gpu_checks.sh
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
PYTHON=${PYTHON:-python3}
WHEELS=${WHEELS:-.carry/wheels-cp312}
SITE=${SITE:-/tmp/visprompt-site}
DEVICE=${DEVICE:-cuda}
T0=$(date +%s)
END=$((T0 + ${CALL_SECONDS:-540}))
"$PYTHON" - "$WHEELS" "$SITE" <<'PY' || exit 1
import sys
import zipfile
from pathlib import Path

wheels, site = Path(sys.argv[1]), Path(sys.argv[2])
found = sorted(wheels.glob("*.whl"))
if not found:
    sys.exit(f"no wheels in {wheels}: run scripts/device_wheels.sh and carry the folder")
for wheel in found:
    zipfile.ZipFile(wheel).extractall(site)
print(f"{len(found)} wheels unpacked into {site}")
PY
export PYTHONPATH=".:$SITE${PYTHONPATH:+:$PYTHONPATH}"
log() { tee -a "$OUT/checks.txt"; }
echo "== CUDA-only tests" | log
timeout $((END - 400 - $(date +%s))) "$PYTHON" -m pytest -q -p no:cacheprovider -rs \
  tests/core/test_graphs.py tests/server/test_server_gpu.py 2>&1 | tail -15 | log
echo "== bench_gpu ($(( $(date +%s) - T0 )) s in)" | log
timeout $((END - 150 - $(date +%s))) "$PYTHON" benchmarks/bench_gpu.py --device "$DEVICE" \
  --warmup 2 --repeat 10 --compile --json "$OUT/gpu.json" ${BENCH_GPU_ARGS:-} 2>&1 | log
echo "== bench_server, default model ($(( $(date +%s) - T0 )) s in)" | log
timeout $((END - 90 - $(date +%s))) "$PYTHON" benchmarks/bench_server.py --device "$DEVICE" \
  --requests "${REQUESTS:-256}" --json "$OUT/server_default.json" ${SERVER_ARGS:-} 2>&1 \
  | tail -30 | log
[ "${LARGE:-1}" = 1 ] || { echo "== done after $(( $(date +%s) - T0 )) s" | log; exit 0; }
echo "== bench_server, published size, random weights ($(( $(date +%s) - T0 )) s in)" | log
"$PYTHON" - <<'PY' 2>&1 | log
import sys

sys.path.insert(0, "benchmarks")
from bench_cpu_speed import random_model  # noqa: E402

from visprompt_core.checkpoints import save_model  # noqa: E402
from visprompt_core.config import PRESETS  # noqa: E402

save_model(random_model("mae_vqgan_large"), PRESETS["mae_vqgan_large"],
           "/tmp/visprompt-large.safetensors", dtype="fp16")
print("wrote /tmp/visprompt-large.safetensors")
PY
timeout $((END - 5 - $(date +%s))) "$PYTHON" benchmarks/bench_server.py --device "$DEVICE" \
  --model /tmp/visprompt-large.safetensors --requests "${REQUESTS:-128}" \
  --json "$OUT/server_large.json" ${SERVER_ARGS:-} 2>&1 | tail -30 | log
echo "== done after $(( $(date +%s) - T0 )) s" | log
