"""PSNR vs throughput, one point per model (srgan's highlighted), from quality.json and speed_cpu.json.

python benchmarks/plot.py [--dataset Set5] [--size 128]
"""

from __future__ import annotations

import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from common import RESULTS

NAME_MAP = {"RRDBNet": None, "SwinIR-M": None, "SwinIR-light": None}  # no trained weights here: no PSNR


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dataset", default="Set5")
    ap.add_argument("--size", type=int, default=128)
    args = ap.parse_args()
    quality = json.loads((RESULTS / "quality.json").read_text())["rows"]
    speed = json.loads((RESULTS / "speed_cpu.json").read_text())["rows"]
    points = []
    for s in speed:
        if "error" in s or s["lr_size"] != args.size:
            continue
        key = s["model"].split(":", 1)[-1]
        label = key if not s["model"].startswith("opencv:") else f"{key} (OpenCV)"
        q = next((r for r in quality if r["scale"] == 4 and r["dataset"] == args.dataset and not r["published"]
                  and (r["method"] == label or r["method"].startswith(key + " "))), None)  # fmt: skip
        if q is None:
            continue
        points.append((label, s["out_megapixels_per_s"], q["psnr_y"], s["model"].startswith("srgan:")))
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for label, mps, psnr, ours in points:
        ax.scatter(mps, psnr, s=80 if ours else 40, c="crimson" if ours else "steelblue", zorder=3)
        ax.annotate(label, (mps, psnr), textcoords="offset points", xytext=(6, 4), fontsize=8,
                    fontweight="bold" if ours else "normal")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel(f"output megapixels per second (CPU, {args.size}x{args.size} LR, x4), log scale")
    ax.set_ylabel(f"{args.dataset} x4 Y-PSNR (dB)")
    ax.set_title("Quality vs speed (srgan in red)")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(RESULTS / "psnr_vs_speed.png")
    print(f"wrote {RESULTS / 'psnr_vs_speed.png'} with {len(points)} points")


if __name__ == "__main__":
    main()
