#!/usr/bin/env bash
# The training-time study: R and accuracy against the epoch, one line per width, and R of random
# inputs, from the sweep spec examples/training_time.toml (a reduced digits grid), then the charts.
#
#   examples/training_time.sh [DATASET] [actcode sweep options...]
#
# The study's full grids: examples/paper/{mnist,cifar10}_training_time.toml.
set -euo pipefail
DATASET=${1:-digits}; shift || true
OUT=${OUT:-out/training_time-$DATASET}
ACTCODE=${ACTCODE:-actcode}
mkdir -p "$OUT"

$ACTCODE sweep "$(dirname "$0")/training_time.toml" --set "train.dataset=$DATASET" --out "$OUT" \
  --jobs "${JOBS:-2}" "$@" > "$OUT/codes.txt"
$ACTCODE chart curves --x epoch --hue width \
  --y 'redundancy_train+redundancy_test,kmeans_test+knn_test+logreg_test+accuracy_test' \
  -o "$OUT/training_time.png" < "$OUT/codes.txt"
$ACTCODE chart curves --x epoch --hue width --y redundancy_test+redundancy_random \
  -o "$OUT/training_time_random.png" < "$OUT/codes.txt"
