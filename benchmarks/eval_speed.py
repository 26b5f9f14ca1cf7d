"""`srgan evaluate` against a straightforward float64 numpy implementation of the same protocol.

    python benchmarks/eval_speed.py [--datasets Set14 BSD100] [--scale 4]

The numpy side does everything itself, plainly: modcrop, MATLAB bicubic LR and upscale
(per-pass rounding for uint8, as MATLAB does) with weights computed output pixel by output
pixel, then Y conversion, border crop, PSNR and SSIM (scipy filtering). Both must give the
same numbers to 1e-4 dB; the time ratio is the point. Writes benchmarks/results/eval_speed.md.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np
from common import REPO, command_line, data_dir, machine, page_header, write_results

from srgan.evaluation import evaluate, resolve_method
from srgan.imageio import list_images, read_image

sys.path.insert(0, str(REPO / "tests"))  # the float64 reference implementation lives with the tests
from reference.metrics import reference_psnr, reference_ssim, reference_y


def _keys(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    return np.where(
        ax <= 1, 1.5 * ax**3 - 2.5 * ax**2 + 1, np.where(ax <= 2, -0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2, 0.0)
    )


def _matrix(n_in: int, n_out: int, scale: float) -> np.ndarray:
    m = np.zeros((n_out, n_in))
    width = 4.0 / scale if scale < 1 else 4.0
    for i in range(1, n_out + 1):
        u = i / scale + 0.5 * (1 - 1 / scale)
        j = math.floor(u - width / 2) + np.arange(math.ceil(width) + 2)
        w = scale * _keys(scale * (u - j)) if scale < 1 else _keys(u - j)
        w /= w.sum()
        jj = j - 1
        jj = np.where(jj < 0, -jj - 1, jj)
        jj = np.where(jj >= n_in, 2 * n_in - jj - 1, jj)
        np.add.at(m[i - 1], jj, w)
    return m


def numpy_resize_uint8(img: np.ndarray, scale: float) -> np.ndarray:
    h, w = img.shape[:2]
    oh, ow = math.ceil(h * scale - 1e-9), math.ceil(w * scale - 1e-9)
    a = np.einsum("oh,hwc->owc", _matrix(h, oh, scale), img.astype(np.float64))
    a = np.floor(np.clip(a, 0, 255) + 0.5)
    a = np.einsum("pw,owc->opc", _matrix(w, ow, scale), a)
    return np.floor(np.clip(a, 0, 255) + 0.5).astype(np.uint8)


def numpy_evaluate(folder, scale: int) -> list[tuple[str, float, float]]:
    out = []
    for f in list_images(folder):
        img = read_image(f)
        img = img[:, :, :3] if img.shape[2] >= 3 else np.repeat(img[:, :, :1], 3, axis=2)
        hr = img[: img.shape[0] - img.shape[0] % scale, : img.shape[1] - img.shape[1] % scale]
        sr = numpy_resize_uint8(numpy_resize_uint8(hr, 1 / scale), scale)
        a, b = reference_y(sr), reference_y(hr)
        out.append((f.name, reference_psnr(a, b, scale), reference_ssim(a, b, scale)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--datasets", nargs="+", default=["Set14", "BSD100"])
    ap.add_argument("--scale", type=int, default=4)
    args = ap.parse_args()
    root = data_dir()
    rows = []
    for ds in args.datasets:
        t0 = time.perf_counter()
        (res,), _ = evaluate(root / ds, [resolve_method("bicubic", args.scale)], scale=args.scale)
        t_srgan = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref = numpy_evaluate(root / ds, args.scale)
        t_numpy = time.perf_counter() - t0
        diff = max(abs(s.psnr_y - r[1]) for s, r in zip(res.images, ref, strict=True))
        sdiff = max(abs(s.ssim_y - r[2]) for s, r in zip(res.images, ref, strict=True))
        rows.append({"dataset": ds, "images": len(ref), "srgan_s": t_srgan, "numpy_s": t_numpy,
                     "speedup": t_numpy / t_srgan, "srgan_psnr": res.psnr_y,
                     "numpy_psnr": float(np.mean([r[1] for r in ref])), "max_psnr_diff_db": diff,
                     "max_ssim_diff": sdiff})  # fmt: skip
        print(rows[-1], flush=True)
    m = machine()
    record = {"command": command_line(), "machine": m, "rows": rows}
    lines = [
        *page_header("Evaluation speed: srgan evaluate vs a plain float64 numpy implementation "
                     f"(bicubic, x{args.scale})", m),
        "| dataset | images | srgan s | numpy s | speed-up | mean PSNR srgan / numpy | max diff (dB / SSIM) |",
        "|---|---:|---:|---:|---:|---|---|",
        *[f"| {r['dataset']} | {r['images']} | {r['srgan_s']:.2f} | {r['numpy_s']:.2f} | {r['speedup']:.1f}x "
          f"| {r['srgan_psnr']:.4f} / {r['numpy_psnr']:.4f} | {r['max_psnr_diff_db']:.1e} / {r['max_ssim_diff']:.1e} |"
          for r in rows],
    ]  # fmt: skip
    write_results("eval_speed", record, lines)


if __name__ == "__main__":
    main()
