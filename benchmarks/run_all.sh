#!/usr/bin/env bash
# Regenerate every figure in README.md and benchmarks/results/ (CPU; about an hour on 2 cores,
# plus the augmenter study). Not here because they train for hours: size_sweep.py (issue 3's
# size choice) and the model trainings themselves (see weights/README.md).
set -euo pipefail
cd "$(dirname "$0")"
python baseline.py
python quality.py
python realworld.py --crops
python checkerboard.py srgan-x4=srgan-x4 realsrgan-x4=realsrgan-x4
python jpeg_hint.py
python jpeg_hint.py --family gan
python block_drop.py ../weights/training/realsr-x4-mild-long2/raw.safetensors --keep 8
python degradation_check.py
python speed.py
python speed_work.py
python speed_polyphase.py --sizes 48 128 256 --runs 15
python crops.py
python eval_speed.py
python train_speed.py
python large_image.py
python augment_bench.py
python plot.py
