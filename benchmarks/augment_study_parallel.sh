#!/usr/bin/env bash
# The augment study (benchmarks/augment_bench.py --protocol study) with its seeds and arms split over
# parallel processes, for a machine with a GPU (or many cores); the report is then written by the
# plain command, which reads every finished run back from the study cache.
#
#   python benchmarks/augment_bench.py --datasets cifar mnist --prepare --protocol study --device cuda
#        # the GAN (trained without the study's validation split; on the GPU with --device), samples, classical images
#   bash benchmarks/augment_study_parallel.sh cuda 60 cifar mnist         # DEVICE EPOCHS DATASET...
#
# Per dataset and seed, three processes: the teacher's arms (real first, then soft labels, filtered at
# 0.9, the combination), the other teacher arms once real is cached (filtered at 0.5 and the 20 % share
# variants), and the arms that need no teacher (classical, plain synthetic, pre-training, 20 % share, and
# real-only over twice the epochs).
# ONLINE="medium ..." also runs real + each classical preset drawn anew every batch (arms online-PRESET), in the
# arms-without-teacher shard.
# STUDY_TIMEOUT (seconds, default none) stops the shards; whatever finished stays in the cache, and the
# report is then left to a later run of the same command. Logs: runs/augment_bench/logs/.
set -u
device=${1:?usage: augment_study_parallel.sh DEVICE EPOCHS DATASET...}
epochs=${2:?usage: augment_study_parallel.sh DEVICE EPOCHS DATASET...}
shift 2
cd "$(dirname "$0")/.." || exit 1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# STUDY_ARGS: e.g. --per-seed-split, or --channels-last to reuse runs a CPU made with it (the cache keys the layout)
common=(--protocol study --epochs "$epochs" --device "$device" --shares 0.2 ${STUDY_ARGS:-})
online=()
for preset in ${ONLINE:-}; do online+=("online-$preset"); done
[ -n "${ONLINE:-}" ] && common+=(--online-classical ${ONLINE})
logs=runs/augment_bench/logs
mkdir -p "$logs"
limit=()
[ -n "${STUDY_TIMEOUT:-}" ] && limit=(timeout "$STUDY_TIMEOUT")
shard() {  # DATASET SEED NAME ARMS...
    local ds=$1 seed=$2 name=$3
    shift 3
    "${limit[@]}" python benchmarks/augment_bench.py --datasets "$ds" "${common[@]}" --study-seeds "$seed" \
        --arms "$@" >"$logs/$ds-seed$seed-$name.log" 2>&1
}
pids=()
for ds in "$@"; do
    for seed in 0 1 2; do
        rm -f "$logs/$ds-seed$seed-teacher.log"
        shard "$ds" "$seed" teacher soft filtered-0.9 combo &
        first=$!
        pids+=("$first")
        (
            # the teacher shard logs its real-only run, trained or read from the cache (whose other files may be
            # other protocols' runs); the teacher arms need it
            while ! grep -q "study seed $seed real:" "$logs/$ds-seed$seed-teacher.log" 2>/dev/null &&
                kill -0 "$first" 2>/dev/null; do sleep 5; done
            shard "$ds" "$seed" more filtered-0.5 soft@0.2 filtered-0.9@0.2
        ) &
        pids+=($!)
        shard "$ds" "$seed" plain classical synthetic pretrain synthetic@0.2 real-x2 "${online[@]}" &
        pids+=($!)
    done
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
echo "study shards done ($failed stopped or failed; logs in $logs)"
[ "$failed" -eq 0 ] || exit 1
for ds in "$@"; do
    python benchmarks/augment_bench.py --datasets "$ds" "${common[@]}" --reuse-prepared >"$logs/$ds-report.log" 2>&1 &
done
wait
tail -n 30 "$logs"/*-report.log
