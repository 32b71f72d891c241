#!/usr/bin/env bash
# `make demo [COMPETITION=demo-digits]`: the whole path from a competition's name to a
# scored submission, offline, against kagglekit's local Kaggle (`kagglekit sandbox`).
# COMPETITION=demo-digits-code is the code competition: train in a kernel, submit an
# inference kernel, and the score comes from the sandbox's rerun on the hidden test set.
#   COMPETITION   demo-digits or demo-digits-code (built in), or a folder name under $SHARED (e.g. dogs-vs-cats)
#   SHARED        where competition folders live [../shared/data]
#   TRAIN_ARGS    extra `kagglekit train` options [quick settings for photo competitions]
set -euo pipefail
cd "$(dirname "$0")/.."

COMPETITION="${1:-${COMPETITION:-demo-digits}}"
SHARED="${SHARED:-../shared/data}"
KK=.venv/bin/kagglekit
DATA_DIR="data/$COMPETITION"

data_args=()
if [ "$COMPETITION" != "demo-digits" ] && [ "$COMPETITION" != "demo-digits-code" ]; then
    if [ ! -d "$SHARED/$COMPETITION" ]; then
        echo "demo: no folder $SHARED/$COMPETITION to serve; set SHARED or COMPETITION" >&2
        exit 1
    fi
    data_args=(--data "$SHARED/$COMPETITION")
    # Photos at full settings take hours on two cores; the demo trains small and fast.
    TRAIN_ARGS="${TRAIN_ARGS:---image-size 64 --epochs 6 --budget 8m}"
fi

# A fresh sandbox state each time: the daily submission limit never blocks a rerun.
work="$(mktemp -d "${TMPDIR:-/tmp}/kagglekit-demo.XXXXXX")"
"$KK" sandbox --port 0 --state "$work/sandbox" "${data_args[@]}" >"$work/sandbox.log" 2>&1 &
sandbox_pid=$!
stop_sandbox() {
    kill "$sandbox_pid" 2>/dev/null || true
    wait "$sandbox_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap stop_sandbox EXIT

# The sandbox writes its client environment once it is listening.
for _ in $(seq 1 1200); do
    [ -f "$work/sandbox/client.env" ] && break
    if ! kill -0 "$sandbox_pid" 2>/dev/null; then
        echo "demo: the sandbox did not start:" >&2
        cat "$work/sandbox.log" >&2
        exit 1
    fi
    sleep 0.1
done
[ -f "$work/sandbox/client.env" ] || { echo "demo: the sandbox did not start within 2 minutes" >&2; exit 1; }
set -a
# shellcheck disable=SC1091
. "$work/sandbox/client.env"
set +a
echo "== sandbox: $(head -n 1 "$work/sandbox.log")"

echo "== kagglekit fetch -c $COMPETITION"
"$KK" fetch -c "$COMPETITION" --data-dir "$DATA_DIR"

if [ "$COMPETITION" = "demo-digits-code" ]; then
    # A code competition: Kaggle takes a kernel version, not a file, and scores its rerun.
    export KAGGLEKIT_KERNEL_POLL="${KAGGLEKIT_KERNEL_POLL:-2}"
    train_kernel="$COMPETITION-train"
    predict_kernel="$COMPETITION-predict"
    echo "== kagglekit kernel build -c $COMPETITION --name $train_kernel (the competition's small [train] settings)"
    "$KK" kernel build -c "$COMPETITION" --name "$train_kernel"
    "$KK" kernel push "$train_kernel"
    "$KK" kernel status "$train_kernel" --wait
    echo "== kagglekit kernel build -c $COMPETITION --predict-from kernel:$KAGGLE_USERNAME/$train_kernel"
    "$KK" kernel build -c "$COMPETITION" --predict-from "kernel:$KAGGLE_USERNAME/$train_kernel" --name "$predict_kernel"
    "$KK" kernel push "$predict_kernel"
    "$KK" kernel status "$predict_kernel" --wait
    echo "== kagglekit submit --kernel $KAGGLE_USERNAME/$predict_kernel --wait (rerun on the hidden test set)"
    "$KK" submit -c "$COMPETITION" --kernel "$KAGGLE_USERNAME/$predict_kernel" -m "make demo" --wait \
        | tee "$work/submit.log"
    score="$(sed -n 's/^public score: //p' "$work/submit.log")"
    echo "== demo done: $COMPETITION scored ${score:-?} on the sandbox's public leaderboard (the rerun on the hidden test set)"
    exit 0
fi
echo "== kagglekit train -c $COMPETITION --folds 5 ${TRAIN_ARGS:-}"
# shellcheck disable=SC2086
"$KK" train -c "$COMPETITION" --data-dir "$DATA_DIR" --folds 5 ${TRAIN_ARGS:-}
echo "== kagglekit predict -c $COMPETITION"
"$KK" predict -c "$COMPETITION" --data-dir "$DATA_DIR"
echo "== kagglekit submit --wait -c $COMPETITION"
"$KK" submit -c "$COMPETITION" --data-dir "$DATA_DIR" -m "make demo" --wait | tee "$work/submit.log"
score="$(sed -n 's/^public score: //p' "$work/submit.log")"
echo "== demo done: $COMPETITION scored ${score:-?} on the sandbox's public leaderboard"
