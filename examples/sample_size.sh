#!/usr/bin/env bash
# The sample-size study: R on train and test and test accuracy against the training sample size n.
#
#   examples/sample_size.sh [DATASET]         DATASET: digits (default, bundled), mnist, cifar10, ...
#
# Pipeline (CLI only): one `actcode train --sample-size n --tile` per (width, n, seed) (the paper
# trains on the first n examples, repeated so that every epoch has about as many steps as the full
# set), then actcode extract | actcode measure | actcode probe, then
#   actcode chart curves --x sample_size --hue width ...   -> $OUT/sample_size.png
# Train R is measured on the n training examples; test R and the accuracies on the full test set.
#
# Environment overrides (defaults: a reduced digits grid; measured 577 s, 189 s of CPU, on 2 CPU cores
# shared with other jobs, load average 8-12):
#   WIDTHS   hidden widths                                       "8 16 32"
#   SIZES    training sample sizes (digits has 1150 training     "10 30 100 300 1150"
#            examples: the first 80 % of its training split)
#   DEPTH    hidden layers                                       1
#   EPOCHS   maximum epochs                                      20
#   SEEDS    seeds (averaged; the band is their std)             "0 1"
#   OUT      output folder                                       out/sample_size-$DATASET
#   JOBS     trainings run in parallel                           2
#   ACTCODE  the actcode command                                 actcode
#   TRAIN_ARGS  extra options for every `actcode train`
#
# The study's full grids (PAPER.md section 2.4): BatchNorm, Adam lr 1e-2 decayed x0.1 every 20
# epochs, batch 64, weight decay 1e-6, at most 200 epochs with early stopping (patience 10), 10 seeds:
#   MNIST, 1 layer:     WIDTHS="40 50 60" DEPTH=1
#                       SIZES="10 30 60 100 300 600 1000 2000 3000 6000 10000 20000 30000 40000"
#   CIFAR-10, 5 layers: WIDTHS="50 100 200 400" DEPTH=5   (per-layer 10, 20, 40, 80)
#                       SIZES="10 20 50 100 200 500 1000 2000 5000 10000 20000 40000"
#   e.g. SEEDS="$(seq -s' ' 0 9)" EPOCHS=200 WIDTHS="40 50 60" SIZES="10 30 60 100 300 600 1000 2000 3000 6000 10000 20000 30000 40000" \
#        TRAIN_ARGS="--early-stop 10 --weight-decay 1e-6 --device cuda" examples/sample_size.sh mnist
# Expected time on one GPU (an ESTIMATE, not measured here): MNIST 3 x 14 x 10 = 420 runs of up to
# 200 tiled epochs (about 48k samples each), usually stopped early: about 6-12 GPU hours; CIFAR-10
# 4 x 12 x 10 = 480 runs: about 8-16 GPU hours. Use fewer seeds first.
set -euo pipefail

DATASET=${1:-digits}
WIDTHS=${WIDTHS:-"8 16 32"}
SIZES=${SIZES:-"10 30 100 300 1150"}
DEPTH=${DEPTH:-1}
EPOCHS=${EPOCHS:-20}
SEEDS=${SEEDS:-"0 1"}
OUT=${OUT:-out/sample_size-$DATASET}
JOBS=${JOBS:-2}
ACTCODE=${ACTCODE:-actcode}
TRAIN_ARGS=${TRAIN_ARGS:-}

mkdir -p "$OUT/runs"
start=$SECONDS
# One line of shell-quoted `actcode train` arguments per run (no trailing blank: xargs -L 1 would
# join the next line to it). TRAIN_ARGS is split into words.
args_line() { local line; line=$(printf '%q ' "$@"); echo "${line% }"; }

for seed in $SEEDS; do
  for w in $WIDTHS; do
    for n in $SIZES; do
      args_line --dataset "$DATASET" --width "$w" --depth "$DEPTH" --epochs "$EPOCHS" --sample-size "$n" \
        --tile --seed "$seed" -o "$OUT/runs" $TRAIN_ARGS
    done
  done
done | xargs -P "$JOBS" -L 1 $ACTCODE -q train \
  | $ACTCODE -q extract | $ACTCODE -q measure | $ACTCODE -q probe > "$OUT/codes.txt"

echo "trained, extracted, measured and probed $(wc -l < "$OUT/codes.txt") runs in $((SECONDS - start)) s" >&2

# The paper's figure: R on train (dashed) and test (solid), then K-Means, K-NN and LR test accuracy.
$ACTCODE chart curves --x sample_size --hue width --logx \
  --y 'redundancy_train+redundancy_test,kmeans_test,knn_test,logreg_test' \
  -o "$OUT/sample_size.png" < "$OUT/codes.txt"
echo "done in $((SECONDS - start)) s" >&2
