"""Real-world benchmark: x4 on degraded photos (blur, noise, JPEG), and the checkerboard score on clean ones.

    python benchmarks/realworld.py [--datasets Set14 BSD100] [--models ...] [--crops] [--name realworld]

Each HR image of Set14 and BSD100 is modcropped and degraded with a fixed, seeded recipe (the
seed is the file name's hash), in two variants, built from :mod:`srgan.data.degrade`'s stages
with milder ranges than training uses:

* one stage: isotropic or anisotropic Gaussian blur (sigma 0.2-2), resize to x1/4 (area,
  bilinear or bicubic), Gaussian noise (sigma 1-10 on 0-255, colour or gray), JPEG quality 40-90;
* two stages: the same stage to a random intermediate size (x1/2 to x1/4 of HR), then again
  to x1/4.

Methods: bicubic, every shipped x4 srgan model, and the real-world peer
``../shared/peers/realesrgan/realesr-animevideov3.pth`` through srgan's spandrel loader (the
same path as ``srgan upscale --model``). Scores: Y-PSNR and SSIM (`srgan evaluate`'s protocol
on the degraded LR), LPIPS-squeeze (RGB, lower is better) and the checkerboard score of
:mod:`srgan.metrics.artifacts` on the output; the last column scores the same on clean
(bicubic LR) inputs, where input noise hides neither a model's own grid nor its texture
(``--clean-only``: that column alone, what a model for clean input is chosen on). Writes
benchmarks/results/realworld.md and .json; with ``--crops``, side-by-side crops of degraded
photos (input | each method | HR) as benchmarks/results/realworld_crop_*.png.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from common import REPO, RESULTS, command_line, data_dir, dataset_dir, machine, page_header, write_results
from crops import label_tile, zoom_tile

from srgan.data.degrade import Stage, add_noise, jpeg, mixed_kernel
from srgan.evaluation import Method, evaluate, model_method, resolve_method
from srgan.imageio import list_images, read_image, write_image
from srgan.metrics.artifacts import checkerboard_score
from srgan.metrics.lpips import LPIPS
from srgan.metrics.protocol import prepare_hr
from srgan.weights import list_models

PEER = REPO.parent / "shared" / "peers" / "realesrgan" / "realesr-animevideov3.pth"

STAGE = Stage(kernel_prob=(0.5, 0.5, 0.0, 0.0, 0.0, 0.0), blur_sigma=(0.2, 2.0), gaussian_noise_prob=1.0,
              noise_range=(1.0, 10.0), gray_noise_prob=0.4, jpeg_range=(40, 90))  # fmt: skip
MODES = (cv2.INTER_AREA, cv2.INTER_LINEAR, cv2.INTER_CUBIC)


def _blur_resize_noise_jpeg(img: np.ndarray, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """One stage of the benchmark recipe: blur, resize to ``size`` (w, h), noise, JPEG."""
    img = cv2.filter2D(img, -1, mixed_kernel(int(rng.choice([7, 9, 11, 13])), STAGE, rng),
                       borderType=cv2.BORDER_REFLECT_101)  # fmt: skip
    img = cv2.resize(img, size, interpolation=MODES[int(rng.integers(3))])
    img = add_noise(img, STAGE, rng)
    return jpeg(img, int(rng.integers(STAGE.jpeg_range[0], STAGE.jpeg_range[1] + 1)))


def degrade_for_benchmark(hr: np.ndarray, two_stage: bool, rng: np.random.Generator) -> np.ndarray:
    """HR uint8 -> x4 LR uint8: one stage, or a first stage at a random intermediate size and then one more."""
    img = hr.astype(np.float32) / 255.0
    h, w = hr.shape[0] // 4, hr.shape[1] // 4
    if two_stage:
        f = rng.uniform(0.5, 1.0)
        img = _blur_resize_noise_jpeg(img, (max(w, round(hr.shape[1] * f / 2)), max(h, round(hr.shape[0] * f / 2))),
                                      rng)  # fmt: skip
    img = _blur_resize_noise_jpeg(img, (w, h), rng)
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


def seed_of(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")


def make_lr_folder(hr_dir: Path, out: Path, two_stage: bool) -> None:
    """Degraded x4 LR of every HR image, as PNG files named like the HR ones."""
    for f in list_images(hr_dir):
        hr = prepare_hr(read_image(f), 4, "basicsr")
        write_image(out / f"{f.stem}.png", degrade_for_benchmark(hr, two_stage, np.random.default_rng(seed_of(f.name))))


def methods_for(names: list[str]) -> list[Method]:
    out = [resolve_method("bicubic", 4)]
    for n in names:  # NAME, a weights file, or LABEL=FILE
        label, _, path = n.rpartition("=")
        m = model_method(path, 4, "cpu")
        out.append(Method(label, 4, m.upscale) if label else m)
    if PEER.is_file():
        peer = model_method(str(PEER), 4, "cpu")
        out.append(Method("realesr-animevideov3 (peer)", 4, peer.upscale))
    return out


#: (dataset, image, top, left) of HR crops: fur and faces, where noise and JPEG blocks show.
CROPS = [("BSD100", "img_010.png", 100, 180), ("Set14", "baboon.png", 40, 220), ("Set14", "face.png", 60, 60)]


def write_crops(root: Path, methods: list[Method], size: int = 96) -> None:
    """Input (nearest x4) | every method | HR, on the one-stage degraded LR, each tile 2x, as PNG strips."""
    for ds, name, top, left in CROPS:
        f = root / ds / name
        if not f.is_file():
            continue
        hr = prepare_hr(read_image(f), 4, "basicsr")
        lr = degrade_for_benchmark(hr, False, np.random.default_rng(seed_of(f.name)))
        sl = (slice(top, top + size), slice(left, left + size))
        tiles = [label_tile(zoom_tile(cv2.resize(lr, None, fx=4, fy=4, interpolation=cv2.INTER_NEAREST)[sl]),
                            "input (degraded, x4 nearest)")]  # fmt: skip
        for meth in methods:
            sr = np.floor(np.clip(np.asarray(meth.upscale(lr), dtype=np.float64), 0, 255) + 0.5).astype(np.uint8)
            tiles.append(label_tile(zoom_tile(sr[sl]), meth.name[:34]))
        tiles.append(label_tile(zoom_tile(hr[sl]), "HR (ground truth)"))
        gap = np.full((tiles[0].shape[0], 4, 3), 255, np.uint8)
        strip = np.concatenate([x for t in tiles for x in (t, gap)][:-1], axis=1)
        write_image(RESULTS / f"realworld_crop_{ds}_{name.rsplit('.', 1)[0]}.png", strip)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--datasets", nargs="+", default=["Set14", "BSD100"])
    ap.add_argument("--models", nargs="+", default=None,
                    help="shipped x4 model names, weights files or LABEL=FILE (default: all shipped)")  # fmt: skip
    ap.add_argument("--crops", action="store_true", help="also write side-by-side crops of degraded photos")
    ap.add_argument("--crops-only", action="store_true", help="only write the crops (no scores)")
    ap.add_argument("--clean-only", action="store_true",
                    help="only the clean (bicubic LR) scores: what a model for clean input is chosen on")  # fmt: skip
    ap.add_argument("--name", default="realworld",
                    help="results file stem (e.g. realworld_val for a validation run on Set5)")  # fmt: skip
    args = ap.parse_args()
    root = data_dir()
    names = args.models or [m.name for m in list_models() if m.scale == 4]
    methods = methods_for(names)
    if args.crops_only:
        write_crops(root, methods)
        return
    lp = LPIPS()
    extra = {"lpips": lp.score_uint8, "checkerboard": lambda sr, hr: checkerboard_score(sr)}
    rows = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for ds in args.datasets:
            hr_dir = dataset_dir(ds)
            for recipe_name in () if args.clean_only else ("one-stage", "two-stage"):
                lr_dir = Path(tmp) / ds / recipe_name
                make_lr_folder(hr_dir, lr_dir, recipe_name == "two-stage")
                results, failures = evaluate(hr_dir, methods, scale=4, lr_dir=lr_dir, extra=extra)
                if failures:
                    raise SystemExit(f"{ds}: {failures[0].message}")
                rows += [{"dataset": ds, "input": recipe_name, "method": r.method, "psnr_y": r.psnr_y,
                          "ssim_y": r.ssim_y, "lpips": r.extra["lpips"], "checkerboard": r.extra["checkerboard"],
                          "seconds": r.seconds} for r in results]  # fmt: skip
                print(f"done {ds} {recipe_name}", flush=True)
            results, _ = evaluate(hr_dir, methods, scale=4, extra=extra)
            rows += [{"dataset": ds, "input": "clean", "method": r.method, "psnr_y": r.psnr_y, "ssim_y": r.ssim_y,
                      "lpips": r.extra["lpips"], "checkerboard": r.extra["checkerboard"], "seconds": r.seconds}
                     for r in results]  # fmt: skip
            print(f"done {ds} clean", flush=True)
    if args.crops:
        write_crops(root, methods)
    m = machine()
    record = {"command": command_line(), "machine": m, "seconds": time.perf_counter() - t0, "rows": rows}
    lines = [
        *page_header("Real-world x4: degraded photos (blur, noise, JPEG) and the checkerboard score", m),
        "Y-PSNR (dB) / SSIM / LPIPS-squeeze (lower is better) / checkerboard score (period 4; about 1-2 without",
        "a grid). Inputs: HR degraded with a fixed seeded recipe (see the script's docstring); `clean` is",
        "MATLAB bicubic LR as in `srgan evaluate` (no degradation: what a model's own grid and texture look",
        "like where input noise hides neither).",
    ]
    inputs = [i for i in ("one-stage", "two-stage", "clean") if any(r["input"] == i for r in rows)]
    for ds in args.datasets:
        lines += [
            "",
            f"## {ds}",
            "",
            "| method | " + " | ".join(inputs) + " |",
            "|---|" + "---:|" * len(inputs),
        ]
        for meth in dict.fromkeys(r["method"] for r in rows if r["dataset"] == ds):
            cells = []
            for inp in inputs:
                r = next(x for x in rows if (x["dataset"], x["input"], x["method"]) == (ds, inp, meth))
                cells.append(f"{r['psnr_y']:.2f} / {r['ssim_y']:.4f} / {r['lpips']:.4f} / {r['checkerboard']:.2f}")
            lines.append(f"| {meth} | " + " | ".join(cells) + " |")
    write_results(args.name, record, lines)


if __name__ == "__main__":
    main()
