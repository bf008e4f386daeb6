#!/usr/bin/env bash
# The prepared GPU check: one script, about 6 minutes on one recent GPU, that answers what a GPU adds.
#
#     bash benchmarks/gpu_check.sh [OUT_DIR]        # OUT_DIR defaults to $OUT, else runs/gpu_check
#
# 1. speed.md: training speed of the paper and fast QLAE in float32, mixed_float16 and mixed_bfloat16,
#    measured side by side (benchmarks/precision_speed.py: interleaved repeats, medians).
# 2. precision_tests.log: every catalogued model trains a few steps under each policy with finite losses,
#    and saves and loads with its loss scaling (tests/models/test_precision.py, slow cases included).
# 3. run_<precision>/: the quickstart budget (QLAE, procedural dSprites, 3000 steps) once per policy, each
#    with its evaluation (metrics.json: InfoM/InfoE/InfoC, PSNR) and wall time, to set beside the 3-seed CPU
#    comparison in benchmarks/RESULTS.md.
#
# It needs TensorFlow with GPU support (`pip install -e ".[test]"` and tensorflow[and-cuda] of the pinned
# version). It stops at once when TensorFlow sees no GPU, so a CPU machine does not spend an hour on it;
# GPU_CHECK_ALLOW_CPU=1 runs it anyway, to try the script; GPU_CHECK_STEPS (3000), GPU_CHECK_SPEED_STEPS (50) and
# GPU_CHECK_TESTS (a pytest -k expression; all by default) make such a trial short.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${1:-${OUT:-runs/gpu_check}}"
STEPS="${GPU_CHECK_STEPS:-3000}"
mkdir -p "$OUT_DIR"
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2 KERAS_BACKEND=tensorflow

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "nvidia-smi: none"; } \
    | tee "$OUT_DIR/machine.txt"
python -c "import tensorflow as tf, keras; print('tensorflow', tf.__version__, 'keras', keras.__version__, \
'GPUs', [d.name for d in tf.config.list_physical_devices('GPU')])" | tee -a "$OUT_DIR/machine.txt"
if ! python -c "import sys, tensorflow as tf; sys.exit(0 if tf.config.list_physical_devices('GPU') else 1)"; then
    if [[ "${GPU_CHECK_ALLOW_CPU:-0}" != 1 ]]; then
        echo "TensorFlow sees no GPU here; nothing measured. (GPU_CHECK_ALLOW_CPU=1 runs the script on CPU.)" >&2
        exit 2
    fi
    echo "no GPU: running on CPU because GPU_CHECK_ALLOW_CPU=1 (figures are not GPU figures; mixed_float16 left" \
        "out of the timings and runs: CPUs emulate float16, about 60x slower)" | tee -a "$OUT_DIR/machine.txt"
    POLICIES="float32 mixed_bfloat16"
fi
POLICIES="${POLICIES:-float32 mixed_float16 mixed_bfloat16}"

echo "== 1/3 speed"
python benchmarks/precision_speed.py --architectures=fast,paper --precisions="${POLICIES// /,}" \
    --batch_size=64 --steps="${GPU_CHECK_SPEED_STEPS:-50}" --repeats=3 | tee "$OUT_DIR/speed.md"

echo "== 2/3 every model under every policy"
python -m pytest -q -p no:cacheprovider -m "slow or not slow" ${GPU_CHECK_TESTS:+-k "$GPU_CHECK_TESTS"} \
    tests/models/test_precision.py 2>&1 \
    | tee "$OUT_DIR/precision_tests.log"

echo "== 3/3 the quickstart budget under each policy"
for precision in $POLICIES; do
    start=$(date +%s)
    python trainers/qlae.py --flagfile=trainers/flags/quickstart.flags --precision="$precision" --steps="$STEPS" \
        --eval_interval="$STEPS" --output_dir="$OUT_DIR/run_$precision" --verbose=2 > "$OUT_DIR/run_$precision.log" 2>&1
    echo "$precision: $(( $(date +%s) - start )) s wall" | tee -a "$OUT_DIR/runs.txt"
    python - "$OUT_DIR/run_$precision/metrics.json" <<'EOF' | tee -a "$OUT_DIR/runs.txt"
import json, sys
metrics = json.load(open(sys.argv[1]))
final = metrics["final"]
print(f"    InfoM {final['infom']:.3f} InfoE {final['infoe']:.3f} InfoC {final['infoc']:.3f} "
      f"PSNR {final['psnr']:.2f} dB; training {metrics['train_seconds']:.0f} s")
EOF
done
echo "wrote $OUT_DIR: machine.txt speed.md precision_tests.log runs.txt run_*/"
