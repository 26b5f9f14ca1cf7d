#!/usr/bin/env bash
# Regenerate every figure in README.md and benchmarks/results/ (CPU; about an hour on 2 cores).
set -euo pipefail
cd "$(dirname "$0")"
python baseline.py
python quality.py
python speed.py
python eval_speed.py
python train_speed.py
python large_image.py
python plot.py
