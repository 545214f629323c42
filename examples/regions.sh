#!/usr/bin/env bash
# The geometry of the linear regions around the data, next to the redundancy ratio R: region density
# along chords between test examples of different classes against the width and the epoch, and one
# exact 2-D slice.
#
#   examples/regions.sh [DATASET]       DATASET: digits (default, bundled), mnist, cifar10, ...
#
# Pipeline (CLI only): one `actcode train --save-at ...` per width, then
#   actcode extract | actcode measure --no-nn | actcode regions --analyses lines,local,kernel
#   actcode chart curves --x width --hue epoch --y lines_different_density_mean_test,redundancy_test
#   actcode regions --analyses plane --window box on one net at its last epoch; actcode chart regions
#
# Environment overrides:
#   WIDTHS    hidden widths                                     "8 16 32 64 128"
#   DEPTH     hidden layers                                     1
#   SAVE_AT   epochs to save (the run trains to the last one)   "0 1 3 10 30"
#   SEGMENTS  segments per relation per split                   32
#   SLICE_WIDTH  the width whose last checkpoint gets the 2-D slice  32
#   OUT       output folder                                     out/regions-$DATASET
#   ACTCODE   the actcode command                               actcode
set -euo pipefail

DATASET=${1:-digits}
WIDTHS=${WIDTHS:-"8 16 32 64 128"}
DEPTH=${DEPTH:-1}
SAVE_AT=${SAVE_AT:-"0 1 3 10 30"}
SEGMENTS=${SEGMENTS:-32}
SLICE_WIDTH=${SLICE_WIDTH:-32}
OUT=${OUT:-out/regions-$DATASET}
ACTCODE=${ACTCODE:-actcode}
mkdir -p "$OUT"
last=${SAVE_AT##* }
save=$(echo "$SAVE_AT" | tr ' ' ',')

for w in $WIDTHS; do
  $ACTCODE -q train --dataset "$DATASET" --width "$w" --depth "$DEPTH" --epochs "$last" --save-at "$save" -o "$OUT/runs"
done | $ACTCODE -q extract --splits test \
     | $ACTCODE -q measure --no-nn \
     | $ACTCODE -q regions --analyses lines,local,kernel --segments "$SEGMENTS" --splits test > "$OUT/files.txt"

$ACTCODE chart curves $(cat "$OUT/files.txt") --x width --hue epoch \
  --y lines_different_density_mean_test,redundancy_test -o "$OUT/regions_density-$DATASET.png"
one=$(grep -- "-w${SLICE_WIDTH}-" "$OUT/files.txt" | grep -- "-e$(printf '%04d' "$last").h5" | head -1)
$ACTCODE -q regions "$one" --analyses plane --window box --splits test > /dev/null
$ACTCODE chart regions "$one" --split test -o "$OUT/slice-$DATASET.png"
