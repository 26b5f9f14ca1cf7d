"""Frequency separation at inference: where a GAN model gives up PSNR, on realworld.py's degraded photos.

    python benchmarks/freqsep.py --faithful weights/training/realsr-x4-mixed/raw.safetensors \
        --gan realsrgan-x4 --sigmas 1 2 3 [--datasets 'BSD200[::10]'] [--name freqsep]

Scores the GAN model, the faithful (psnr-stage) model, and for each ``sigma`` their combination
``blur(faithful) + gan - blur(gan)`` (a Gaussian of ``sigma`` HR px): the faithful model's low
frequencies under the GAN's high ones. If the combination keeps the GAN's LPIPS at a higher PSNR,
the GAN stage spent PSNR in frequencies LPIPS hardly sees, and a loss on those frequencies
(``loss.lowpass_weight``) may recover it in one network. A probe, not a shipped method: it runs
two networks. Inputs are realworld.py's one-stage recipe (same seeds). Writes
benchmarks/results/NAME.md and .json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from common import command_line, dataset_dir, machine, page_header, write_results
from realworld import make_lr_folder

from srgan.evaluation import Method, evaluate, model_method, resolve_method
from srgan.metrics.lpips import LPIPS


def remembering(m: Method) -> Method:
    """``m`` keeping its last output: evaluate() runs every method on one LR in turn, so each network runs once."""
    last: list[object] = [None, None]

    def up(lr: np.ndarray) -> np.ndarray:
        if last[0] is not lr:
            last[:] = [lr, np.asarray(m.upscale(lr), np.float64)]
        return last[1]  # type: ignore[return-value]

    return Method(m.name, m.scale, up)


def separated(faithful: Method, gan: Method, sigma: float) -> Method:
    def up(lr: np.ndarray) -> np.ndarray:
        a, b = faithful.upscale(lr), gan.upscale(lr)
        return cv2.GaussianBlur(a, (0, 0), sigma) + b - cv2.GaussianBlur(b, (0, 0), sigma)

    return Method(f"faithful below sigma {sigma:g} + GAN above", 4, up)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faithful", required=True, help="the psnr-stage model (shipped name or weights file)")
    ap.add_argument("--gan", required=True, help="the GAN model (shipped name or weights file)")
    ap.add_argument("--sigmas", nargs="+", type=float, default=[1.0, 2.0, 3.0])
    ap.add_argument("--datasets", nargs="+", default=["BSD200[::10]"])
    ap.add_argument("--name", default="freqsep")
    args = ap.parse_args()
    faithful, gan = model_method(args.faithful, 4, "cpu"), model_method(args.gan, 4, "cpu")
    faithful = remembering(Method(f"faithful: {Path(args.faithful).name}", 4, faithful.upscale))
    gan = remembering(Method(f"GAN: {Path(args.gan).name}", 4, gan.upscale))
    methods = [resolve_method("bicubic", 4), faithful, gan, *(separated(faithful, gan, s) for s in args.sigmas)]
    lp = LPIPS()
    rows = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for ds in args.datasets:
            hr_dir = dataset_dir(ds)
            lr_dir = Path(tmp) / ds
            make_lr_folder(hr_dir, lr_dir, False)
            results, failures = evaluate(hr_dir, methods, scale=4, lr_dir=lr_dir, extra={"lpips": lp.score_uint8})
            if failures:
                raise SystemExit(f"{ds}: {failures[0].message}")
            rows += [{"dataset": ds, "method": r.method, "psnr_y": r.psnr_y, "ssim_y": r.ssim_y,
                      "lpips": r.extra["lpips"]} for r in results]  # fmt: skip
    m = machine()
    record = {"command": command_line(), "machine": m, "seconds": time.perf_counter() - t0, "rows": rows}
    lines = [
        *page_header(
            "Frequency separation at inference: a faithful model's low frequencies under a GAN's high ones", m
        ),
        "One-stage degraded input (benchmarks/realworld.py's recipe and seeds). Y-PSNR (dB) / SSIM / LPIPS-squeeze.",
    ]
    for ds in args.datasets:
        lines += ["", f"## {ds}", "", "| method | one-stage |", "|---|---:|"]
        lines += [f"| {r['method']} | {r['psnr_y']:.2f} / {r['ssim_y']:.4f} / {r['lpips']:.4f} |"
                  for r in rows if r["dataset"] == ds]  # fmt: skip
    write_results(args.name, record, lines)


if __name__ == "__main__":
    main()
