#!/usr/bin/env bash
# The GPU figures of docs/results.md ("The paper-size step on a GPU") in one go, on a machine with
# a CUDA GPU and a CUDA build of torch (the project's dependencies importable, e.g. PYTHONPATH=.):
#
#   OUT=gpu-figures DEADLINE=540 bash benchmarks/gpu_figures.sh
#
# Steps, in order of importance, each under its own time limit and all within DEADLINE seconds:
# the device tests (torch path on the GPU against the numpy path, a training run on both), the
# 784-16-10 full-Hessian step on the GPU (float64, then a float32 Hessian), the 60-step mnist5k
# run on the GPU, the same seeded digits run on CPU and GPU compared, and the 784-16-10 step on
# this machine's CPU cores for the ratio. Everything goes to $OUT/all.log; the JSON figures and
# the mnist5k ledger are packed into $OUT/figures.tgz after every step (a step cut off by its
# limit leaves what it wrote). MEASURED wall-clock seconds only; nothing here is modeled.
set -u
OUT=${OUT:-gpu-figures}
DEADLINE=${DEADLINE:-540}
BIG=${BIG:-784-16-10}
MNIST_STEPS=${MNIST_STEPS:-60}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
WORK=$(mktemp -d)
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 QNEWTON_CACHE=${QNEWTON_CACHE:-$WORK/cache}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
START=$SECONDS
LOG=$OUT/all.log

pack() { tar czf "$OUT/figures.tgz" -C "$WORK" --exclude cache --exclude "*.pt" . 2>/dev/null; }

step() {  # step NAME LIMIT_SECONDS COMMAND...
    local name=$1 limit=$2 left
    shift 2
    left=$((DEADLINE - (SECONDS - START) - 10))
    if [ "$left" -lt 20 ]; then echo "== $name: skipped, ${left} s left" | tee -a "$LOG"; return; fi
    [ "$limit" -gt "$left" ] && limit=$left
    echo "== $name (limit ${limit} s, at $((SECONDS - START)) s): $*" | tee -a "$LOG"
    timeout "$limit" "$@" 2>&1 | tee -a "$LOG"
    echo "== $name: exit ${PIPESTATUS[0]} after $((SECONDS - START)) s" | tee -a "$LOG"
    pack
}

{
    nvidia-smi -L
    nproc
    $PY -c "import torch, numpy, scipy; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'numpy', numpy.__version__, 'scipy', scipy.__version__, 'gpu', torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)"
    $PY -c "from qnewton.analysis.pruning import pruning_backend; print('pruning backend', pruning_backend(12730))"
} 2>&1 | tee -a "$LOG"

step tests 90 $PY -m pytest -q -p no:cacheprovider tests/test_scale_device.py
step bench-cuda-f64 150 $PY benchmarks/bench_step.py --models "$BIG" --device cuda --repeats 2 \
    --json "$WORK/bench-cuda-f64.json"
step mnist5k-cuda 200 $PY -m qnewton train --data mnist5k --hidden 16 --blocks full --steps "$MNIST_STEPS" \
    --method qnewton --device cuda --runs-dir "$WORK/runs" --name mnist5k-cuda --quiet
step devices-digits 90 $PY benchmarks/bench_devices.py --data digits --hidden 16 --blocks full --steps 30 \
    --sgd-steps 10 --methods classical,qnewton --json "$WORK/devices-digits.json"
step bench-cuda-f32 60 $PY benchmarks/bench_step.py --models "$BIG" --device cuda --dtype float32 --repeats 1 \
    --json "$WORK/bench-cuda-f32.json"
step bench-cpu 120 $PY benchmarks/bench_step.py --models "$BIG" --threads "$(nproc)" --repeats 1 \
    --json "$WORK/bench-cpu.json"
echo "== done after $((SECONDS - START)) s" | tee -a "$LOG"
pack
