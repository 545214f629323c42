#!/usr/bin/env bash
# The training-time study: R and categorization accuracy against the epoch, one line per width,
# plus R of random inputs (the paper's random-input experiment reuses these checkpoints).
#
#   examples/training_time.sh [DATASET]       DATASET: digits (default, bundled), mnist, cifar10, ...
#
# Pipeline (CLI only): one `actcode train --save-at ...` per (width, seed) writes a checkpoint at
# every save point (0 = the initialisation), then
#   actcode extract --random N | actcode measure | actcode probe
#   actcode chart curves --x epoch --hue width ...          -> $OUT/training_time.png
#
# Environment overrides (defaults: a reduced digits grid; measured 363 s on 2 CPU cores shared with
# other jobs, load average 12-13):
#   WIDTHS    hidden widths                                     "8 16 32"
#   DEPTH     hidden layers                                     1
#   SAVE_AT   epochs to save (the run trains to the last one)   "0 1 2 3 6 10 20 30 60 100"
#   SEEDS     seeds (averaged; the band is their std)           "0 1"
#   RANDOM_N  rows of uniform random inputs per code file       500
#   OUT       output folder                                     out/training_time-$DATASET
#   JOBS      trainings run in parallel                         2
#   ACTCODE   the actcode command                               actcode
#   TRAIN_ARGS  extra options for every `actcode train`
#
# The study's full grids (PAPER.md section 2.3): no early stopping, BatchNorm, Adam lr 1e-2 decayed
# x0.1 every 20 epochs, batch 64, weight decay 1e-6, 10 seeds, save points
#   SAVE_AT="0 1 3 6 10 20 30 40 60 80 100 120 140 160 180 200"
#   MNIST, 1 layer:     WIDTHS="40 50 60" DEPTH=1
#   CIFAR-10, 5 layers: WIDTHS="50 100 200 400" DEPTH=5   (per-layer widths 10, 20, 40, 80)
#   e.g. SEEDS="$(seq -s' ' 0 9)" SAVE_AT="0 1 3 6 10 20 30 40 60 80 100 120 140 160 180 200" \
#        WIDTHS="40 50 60" TRAIN_ARGS="--weight-decay 1e-6 --device cuda" examples/training_time.sh mnist
# Expected time on one GPU (an ESTIMATE, not measured here): MNIST 3 widths x 10 seeds x 200 epochs
# of 48k samples is 30 runs, about 1-2 GPU hours, plus extracting, measuring and probing 480
# checkpoints (about 1-2 hours more, mostly K-NN and logistic regression); CIFAR-10 40 runs and
# 640 checkpoints, about 2-4 hours in all.
#
# On digits the paper's first-epoch spike of R need not appear: with 1150 training samples and
# one epoch of 18 Adam steps the picture differs from 750 steps on MNIST. The script reports what
# the data show; it does not tune for the paper's shape.
set -euo pipefail

DATASET=${1:-digits}
WIDTHS=${WIDTHS:-"8 16 32"}
DEPTH=${DEPTH:-1}
SAVE_AT=${SAVE_AT:-"0 1 2 3 6 10 20 30 60 100"}
SEEDS=${SEEDS:-"0 1"}
RANDOM_N=${RANDOM_N:-500}
OUT=${OUT:-out/training_time-$DATASET}
JOBS=${JOBS:-2}
ACTCODE=${ACTCODE:-actcode}
TRAIN_ARGS=${TRAIN_ARGS:-}

mkdir -p "$OUT/runs"
start=$SECONDS
# One line of shell-quoted `actcode train` arguments per run (no trailing blank: xargs -L 1 would
# join the next line to it). TRAIN_ARGS is split into words.
args_line() { local line; line=$(printf '%q ' "$@"); echo "${line% }"; }
save_at=$(echo $SAVE_AT | tr ' ' ',')
epochs=${SAVE_AT##* }

for seed in $SEEDS; do
  for w in $WIDTHS; do
    args_line --dataset "$DATASET" --width "$w" --depth "$DEPTH" --epochs "$epochs" --save-at "$save_at" \
      --seed "$seed" -o "$OUT/runs" $TRAIN_ARGS
  done
done | xargs -P "$JOBS" -L 1 $ACTCODE -q train \
  | $ACTCODE -q extract --random "$RANDOM_N" | $ACTCODE -q measure | $ACTCODE -q probe > "$OUT/codes.txt"

echo "trained, extracted, measured and probed $(wc -l < "$OUT/codes.txt") checkpoints in $((SECONDS - start)) s" >&2

# The paper's figure: R (train dashed, test solid) with the first-epoch marker, then the test accuracy
# of K-Means, K-NN and logistic regression; epoch on a log axis with epoch 0 at 0.5.
$ACTCODE chart curves --x epoch --hue width --logx \
  --y 'redundancy_train+redundancy_test,kmeans_test,knn_test,logreg_test' \
  -o "$OUT/training_time.png" < "$OUT/codes.txt"
# The random-input experiment: R of uniform random inputs through training, next to test R.
$ACTCODE chart curves --x epoch --hue width --logx --y 'redundancy_test+redundancy_random' \
  -o "$OUT/training_time_random.png" < "$OUT/codes.txt"
echo "done in $((SECONDS - start)) s" >&2
