#!/usr/bin/env bash
# The activation hash phase chart: R over width x epoch and over width x training sample size, with
# the under-, critically- and sufficiently-expressive regimes (rule: formats/phase-chart.md).
#
#   examples/phase_chart.sh [DATASET]         DATASET: digits (default, bundled), mnist, cifar10, ...
#
# Pipeline (CLI only):
#   width x epoch:       one `actcode train --save-at ...` per (width, seed)
#   width x sample size: one `actcode train --sample-size n --tile` per (width, n, seed)
#   then actcode extract | actcode measure | actcode probe, and
#   actcode chart phase --x width --y epoch        -> $OUT/phase_width_epoch.png
#   actcode chart phase --x width --y sample_size  -> $OUT/phase_width_sample_size.png
#
# Environment overrides (defaults: a reduced digits grid; measured 454 s, 216 s of CPU, on 2 CPU cores
# shared with other jobs, load average 11-12):
#   WIDTHS   hidden widths                            "2 4 8 16 24 48"
#   SAVE_AT  epochs of the width x epoch grid         "0 1 3 10 30"
#   SIZES    sample sizes of the width x n grid       "30 100 300 1150"
#   EPOCHS   epochs of the width x n runs             20
#   DEPTH    hidden layers                            1
#   SEEDS    seeds (cells are means over seeds)       "0"
#   OUT      output folder                            out/phase_chart-$DATASET
#   JOBS     trainings run in parallel                2
#   ACTCODE  the actcode command                      actcode
#   TRAIN_ARGS   extra options for every `actcode train`
#   PHASE_ARGS   extra options for `actcode chart phase` (thresholds: --r-high 0.1 --r-low 0.01
#                --a-low 0.75 --a-high 0.95; --accuracy logreg_test; --style contour; ...)
#
# The study's grids: MNIST 1 layer, widths 3..100 (the model-size list) x the training-time save points
#   SAVE_AT="0 1 3 6 10 20 30 40 60 80 100 120 140 160 180 200", and x sample sizes 10..40000;
#   CIFAR-10 5 layers, per-layer widths 10..200 (WIDTHS = totals 50..1000), same epochs, n 10..40000.
#   e.g. WIDTHS="3 7 10 15 20 27 33 40 50 60 80 100" SIZES="10 30 100 300 1000 3000 10000 40000" \
#        SAVE_AT="0 1 3 6 10 20 30 40 60 80 100 120 140 160 180 200" EPOCHS=200 SEEDS="0 1 2" \
#        TRAIN_ARGS="--weight-decay 1e-6 --device cuda" examples/phase_chart.sh mnist
# Expected time on one GPU (an ESTIMATE, not measured here): for that MNIST grid, 36 training-time
# runs of 200 epochs and 288 sample-size runs (early stopping helps: add --early-stop 10 to
# TRAIN_ARGS for those), about 5-10 GPU hours, plus probing about 900 code files.
set -euo pipefail

DATASET=${1:-digits}
WIDTHS=${WIDTHS:-"2 4 8 16 24 48"}
SAVE_AT=${SAVE_AT:-"0 1 3 10 30"}
SIZES=${SIZES:-"30 100 300 1150"}
EPOCHS=${EPOCHS:-20}
DEPTH=${DEPTH:-1}
SEEDS=${SEEDS:-"0"}
OUT=${OUT:-out/phase_chart-$DATASET}
JOBS=${JOBS:-2}
ACTCODE=${ACTCODE:-actcode}
TRAIN_ARGS=${TRAIN_ARGS:-}
PHASE_ARGS=${PHASE_ARGS:-}

mkdir -p "$OUT/epoch" "$OUT/size"
start=$SECONDS
# One line of shell-quoted `actcode train` arguments per run (no trailing blank: xargs -L 1 would
# join the next line to it). TRAIN_ARGS is split into words.
args_line() { local line; line=$(printf '%q ' "$@"); echo "${line% }"; }
save_at=$(echo $SAVE_AT | tr ' ' ',')
last=${SAVE_AT##* }

for seed in $SEEDS; do
  for w in $WIDTHS; do
    args_line --dataset "$DATASET" --width "$w" --depth "$DEPTH" --epochs "$last" --save-at "$save_at" \
      --seed "$seed" -o "$OUT/epoch" $TRAIN_ARGS
    for n in $SIZES; do
      args_line --dataset "$DATASET" --width "$w" --depth "$DEPTH" --epochs "$EPOCHS" --sample-size "$n" \
        --tile --seed "$seed" -o "$OUT/size" $TRAIN_ARGS
    done
  done
done | xargs -P "$JOBS" -L 1 $ACTCODE -q train \
  | $ACTCODE -q extract | $ACTCODE -q measure | $ACTCODE -q probe > "$OUT/codes.txt"

echo "trained, extracted, measured and probed $(wc -l < "$OUT/codes.txt") files in $((SECONDS - start)) s" >&2

# Width x epoch (runs of $OUT/epoch) and width x sample size (runs of $OUT/size).
# Both axes log-scaled (the grids are geometric; epoch 0 is drawn at 0.5). Without --logx/--logy an
# axis is log-scaled only when its positive values span two decades.
grep -F "$OUT/epoch/" "$OUT/codes.txt" | $ACTCODE chart phase --x width --y epoch --logx --logy $PHASE_ARGS \
  -o "$OUT/phase_width_epoch.png"
grep -F "$OUT/size/" "$OUT/codes.txt" | $ACTCODE chart phase --x width --y sample_size --logx --logy $PHASE_ARGS \
  -o "$OUT/phase_width_sample_size.png"
echo "done in $((SECONDS - start)) s" >&2
