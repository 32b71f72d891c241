#!/bin/bash
# One ablation row: folds 0 and 1 of the 5-fold split, fixed epochs, one thread, nice'd.
#   competitions/dogs_vs_cats/trial.sh NAME [train flags...]     (FOLDS="0 1" by default; FOLDS=1 for one)
# Trains into runs/ablation/NAME; score with competitions/dogs_vs_cats/score_trials.py runs/ablation/NAME.
name=$1; shift
export OMP_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 TF_CPP_MIN_LOG_LEVEL=2
mkdir -p runs/ablation
for k in ${FOLDS:-0 1}; do
  nice -n 15 kagglekit train -c dogs-vs-cats --data-dir ../shared/data/dogs-vs-cats \
    --run-dir runs/ablation/$name --no-report --folds 5 --fold $k --seed 42 --precision float32 "$@" \
    > runs/ablation/$name.fold$k.log 2>&1
done
