#!/usr/bin/env bash
# The model-size study: the redundancy ratio R and categorization accuracy against hidden width.
#
#   examples/model_size.sh [DATASET]          DATASET: digits (default, bundled), mnist, cifar10, ...
#
# Pipeline (CLI only): one `actcode train` per (width, seed), then
#   actcode extract | actcode measure | actcode probe      -> code files with their results
#   actcode chart curves --x width ...                     -> $OUT/model_size.png
#
# Environment overrides (defaults: a reduced digits grid; measured 389 s on 2 CPU cores shared with
# other jobs, load average 12-13):
#   WIDTHS   hidden widths (total units, split evenly over DEPTH layers)  "1 2 3 4 6 8 12 16 24 32 64"
#   DEPTH    hidden layers                                                1
#   EPOCHS   maximum epochs                                               30
#   SEEDS    seeds; files that differ only in seed are averaged           "0 1"
#   OUT      output folder                                                out/model_size-$DATASET
#   JOBS     trainings run in parallel                                    2
#   ACTCODE  the actcode command (may be "python -m actcode")             actcode
#   TRAIN_ARGS  extra options for every `actcode train`, split into words
#               (e.g. "--device cuda --data-root $HOME/data")
#
# The study's full grids (PAPER.md section 2.2), all with BatchNorm, Adam lr 1e-2 decayed x0.1 every
# 20 epochs, batch 64, weight decay 1e-6, at most 200 epochs with early stopping (patience 10), 10 seeds:
#   MNIST, 1 hidden layer:
#     DEPTH=1 EPOCHS=200 SEEDS="$(seq -s' ' 0 9)" \
#     WIDTHS="3 7 10 15 20 23 27 30 33 37 40 43 47 50 53 57 60 65 70 75 80 90 100" \
#     TRAIN_ARGS="--early-stop 10 --weight-decay 1e-6 --device cuda" examples/model_size.sh mnist
#   CIFAR-10, 5 hidden layers, per-layer width 10..200 (total 50..1000 in steps of 50):
#     DEPTH=5 EPOCHS=200 SEEDS="$(seq -s' ' 0 9)" WIDTHS="$(seq -s' ' 50 50 1000)" \
#     TRAIN_ARGS="--early-stop 10 --weight-decay 1e-6 --device cuda" examples/model_size.sh cifar10
#   (WIDTHS is the total number of hidden units, as the paper's `num_neuron`; the chart's x axis is
#   that total. Divide by DEPTH for the per-layer width the paper's CIFAR-10 figure shows.)
# Expected time on one GPU (an ESTIMATE, not measured here): MNIST 23 widths x 10 seeds = 230 runs
# of at most 200 epochs of 48k samples, usually stopped early: about 3-6 GPU hours; CIFAR-10 20 x 10
# = 200 runs: about 4-8 GPU hours. Extraction, measure and probe add minutes per run (probe's K-NN
# and logistic regression on 48k x D codes dominate).
set -euo pipefail

DATASET=${1:-digits}
WIDTHS=${WIDTHS:-"1 2 3 4 6 8 12 16 24 32 64"}
DEPTH=${DEPTH:-1}
EPOCHS=${EPOCHS:-30}
SEEDS=${SEEDS:-"0 1"}
OUT=${OUT:-out/model_size-$DATASET}
JOBS=${JOBS:-2}
ACTCODE=${ACTCODE:-actcode}
TRAIN_ARGS=${TRAIN_ARGS:-}

mkdir -p "$OUT/runs"
start=$SECONDS
# One line of shell-quoted `actcode train` arguments per run (no trailing blank: xargs -L 1 would
# join the next line to it). TRAIN_ARGS is split into words.
args_line() { local line; line=$(printf '%q ' "$@"); echo "${line% }"; }

# One line of `actcode train` arguments per run, run JOBS at a time; checkpoint paths go to stdout.
for seed in $SEEDS; do
  for w in $WIDTHS; do
    args_line --dataset "$DATASET" --width "$w" --depth "$DEPTH" --epochs "$EPOCHS" --seed "$seed" \
      -o "$OUT/runs" $TRAIN_ARGS
  done
done | xargs -P "$JOBS" -L 1 $ACTCODE -q train \
  | $ACTCODE -q extract | $ACTCODE -q measure | $ACTCODE -q probe > "$OUT/codes.txt"

echo "trained, extracted, measured and probed $(wc -l < "$OUT/codes.txt") runs in $((SECONDS - start)) s" >&2

# The paper's figure: R on train (dashed) and test (solid); K-Means, K-NN, LR and the network's test accuracy.
$ACTCODE chart curves --x width \
  --y 'redundancy_train+redundancy_test,kmeans_test+knn_test+logreg_test+accuracy_test' \
  -o "$OUT/model_size.png" < "$OUT/codes.txt"
# Per-layer R of the deepest layer vs width is one option away, e.g. --scope layer:NAME (see actcode info).
echo "done in $((SECONDS - start)) s" >&2
