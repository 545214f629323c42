#!/usr/bin/env bash
# The activation hash phase chart over width x epoch and width x sample size, from the sweep specs
# examples/phase_chart_epoch.toml and examples/phase_chart_sample_size.toml (reduced digits grids).
#
#   examples/phase_chart.sh [DATASET] [actcode sweep options...]
#   PHASE_ARGS="--accuracy logreg_test --style contour" examples/phase_chart.sh
#
# The study's MNIST grid: examples/paper/mnist_phase_chart.toml. Geometric axes are log-scaled.
set -euo pipefail
DATASET=${1:-digits}; shift || true
OUT=${OUT:-out/phase_chart-$DATASET}
ACTCODE=${ACTCODE:-actcode}
mkdir -p "$OUT"
PHASE_ARGS=${PHASE_ARGS:-}

for grid in epoch sample_size; do
  $ACTCODE sweep "$(dirname "$0")/phase_chart_$grid.toml" --set "train.dataset=$DATASET" \
    --out "$OUT/$grid" --jobs "${JOBS:-2}" "$@" > "$OUT/$grid.codes.txt"
  $ACTCODE chart phase --x width --y "$grid" $PHASE_ARGS -o "$OUT/phase_width_$grid.png" < "$OUT/$grid.codes.txt"
done
