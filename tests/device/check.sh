#!/usr/bin/env bash
# The device check of issue 15 in one go (< 5 minutes on one GPU); see tests/device/check.py.
#   tests/device/check.sh            # on CUDA: train, extract GPU vs CPU, GPU K-NN vs Numba, benchmarks
#   tests/device/check.sh --cpu      # the same on the CPU (or ACTCODE_CHECK_CPU=1); --quick: small sizes
# Results: one JSON file, $OUT/device-check.json when $OUT is set (else ./device-check.json, or --out).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
py="${PYTHON:-python}"
[ -x "$root/.venv/bin/python" ] && [ -z "${PYTHON:-}" ] && py="$root/.venv/bin/python"
exec "$py" "$root/tests/device/check.py" "$@"
