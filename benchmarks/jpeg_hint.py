"""At which JPEG quality should `srgan upscale` point users of the default model at realsr-x4?

    python benchmarks/jpeg_hint.py [--datasets Set5 Set14] [--qualities 95 90 85 80 70 50] [--family psnr|gan]

Every HR image's x4 MATLAB-bicubic LR (as `srgan evaluate` makes it) is saved as a JPEG at each
quality (Pillow, 4:2:0 chroma as phones and the web save them), decoded, and upscaled by the default
model (srresnet-x4), the real-photo model (realsr-x4) and the real-photo model at ``--denoise 0.5``.
Scores against the HR image: Y-PSNR and SSIM (`srgan evaluate`'s protocol), LPIPS-squeeze (lower is
better) and the output's blockiness on its 32x32 grid (the 8x8 JPEG blocks after x4; 1 where no block
edges stand out, :func:`srgan.metrics.degradation.blockiness`). ``hint`` is the share of the JPEG
files the upscale hint flags (`Degradation.looks_degraded`, read from the file as `srgan upscale`
reads it). Writes benchmarks/results/jpeg_hint.md and .json; ``--family gan`` compares the GAN models
instead (srgan-x4, realsrgan-x4, realsrgan-x4 at ``--denoise 0.5``) into jpeg_hint_gan.md and .json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from common import command_line, dataset_dir, machine, page_header, write_results
from PIL import Image

from srgan.evaluation import Method, evaluate, model_method
from srgan.imageio import list_images, read_image, write_image
from srgan.metrics.degradation import JPEG_QUALITY_LIMIT, assess, blockiness
from srgan.metrics.lpips import LPIPS
from srgan.metrics.protocol import prepare_hr
from srgan.resize import imresize_uint8

#: --family: the models a user of each clean-input x4 model could be pointed at (the PSNR models, or the GAN ones)
FAMILIES = {
    "psnr": (("srresnet-x4 (default)", "srresnet-x4", None), ("realsr-x4", "realsr-x4", None),
             ("realsr-x4 --denoise 0.5", "realsr-x4", 0.5)),
    "gan": (("srgan-x4", "srgan-x4", None), ("realsrgan-x4", "realsrgan-x4", None),
            ("realsrgan-x4 --denoise 0.5", "realsrgan-x4", 0.5)),
}  # fmt: skip


def bicubic_lrs(hr_dir: Path) -> list[tuple[str, np.ndarray]]:
    """Every HR image's x4 MATLAB-bicubic LR (RGB), by file stem: made once, saved at every quality."""
    out = []
    for f in list_images(hr_dir):
        hr = prepare_hr(read_image(f), 4, "basicsr")
        if hr.ndim == 2:
            hr = np.repeat(hr[:, :, None], 3, axis=2)
        out.append((f.stem, imresize_uint8(hr[:, :, :3], 1 / 4)))
    return out


def jpeg_folder(lrs: list[tuple[str, np.ndarray]], out: Path, quality: int) -> list[bool]:
    """The decoded JPEG of every LR as PNG (named like the HR); returns whether the hint flags each JPEG."""
    out.mkdir(parents=True, exist_ok=True)
    flagged = []
    for stem, clean in lrs:
        jpg = out / f"{stem}.jpg"
        Image.fromarray(clean).save(jpg, "JPEG", quality=quality)
        lr = np.asarray(Image.open(jpg).convert("RGB"))
        flagged.append(assess(lr, jpg).looks_degraded)
        jpg.unlink()
        write_image(out / f"{stem}.png", lr)
    return flagged


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["Set5", "Set14"])
    ap.add_argument("--qualities", nargs="+", type=int, default=[95, 90, 85, 80, 70, 50])
    ap.add_argument("--family", choices=sorted(FAMILIES), default="psnr",
                    help="psnr: srresnet-x4 against realsr-x4 (jpeg_hint.md); gan: srgan-x4 against realsrgan-x4 "
                    "(jpeg_hint_gan.md)")  # fmt: skip
    args = ap.parse_args()
    models = FAMILIES[args.family]
    stem = "jpeg_hint" if args.family == "psnr" else f"jpeg_hint_{args.family}"
    methods = [Method(label, 4, model_method(name, 4, "cpu", denoise).upscale) for label, name, denoise in models]
    lrs = {ds: bicubic_lrs(dataset_dir(ds)) for ds in args.datasets}
    lp = LPIPS()
    extra = {"lpips": lp.score_uint8, "blocks": lambda sr, hr: blockiness(sr, block=32)}
    rows = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for q in args.qualities:
            flagged: list[bool] = []
            per: dict[str, list[tuple[int, object]]] = {}
            for ds in args.datasets:
                lr_dir = Path(tmp) / ds / f"q{q}"
                flagged += jpeg_folder(lrs[ds], lr_dir, q)
                results, failures = evaluate(dataset_dir(ds), methods, scale=4, lr_dir=lr_dir, extra=extra)
                if failures:
                    raise SystemExit(f"{ds}: {failures[0].message}")
                for r in results:
                    per.setdefault(r.method, []).append((len(r.images), r))
            for label, parts in per.items():
                n = sum(k for k, _ in parts)
                avg = {key: sum(k * getattr(r, key) for k, r in parts) / n for key in ("psnr_y", "ssim_y")}
                avg |= {key: sum(k * r.extra[key] for k, r in parts) / n for key in ("lpips", "blocks")}
                rows.append({"quality": q, "method": label, "images": n, "hint": float(np.mean(flagged)), **avg})
            print(f"done q{q}", flush=True)
    m = machine()
    record = {"command": command_line(), "machine": m, "seconds": time.perf_counter() - t0,
              "datasets": args.datasets, "jpeg_quality_limit": JPEG_QUALITY_LIMIT, "rows": rows}  # fmt: skip
    lines = [*page_header("Which model for a JPEG of a given quality? (where `srgan upscale`'s hint should fire)", m),
             f"x4 bicubic LR of {' + '.join(args.datasets)} saved as JPEG. Y-PSNR (dB) / SSIM / LPIPS-squeeze",
             "(lower is better) / output blockiness on the 32 px grid (1: no blocks), means over the images.",
             f"`hint`: share of the JPEGs the upscale hint flags (quality <= {JPEG_QUALITY_LIMIT} or blocky).", "",
             "| JPEG quality | hint | " + " | ".join(label for label, _, _ in models) + " |",
             "|---:|---:|" + "---:|" * len(models)]  # fmt: skip
    for q in args.qualities:
        cells = [f"{r['psnr_y']:.2f} / {r['ssim_y']:.4f} / {r['lpips']:.3f} / {r['blocks']:.2f}"
                 for r in rows if r["quality"] == q]  # fmt: skip
        hint = next(r["hint"] for r in rows if r["quality"] == q)
        lines.append(f"| {q} | {100 * hint:.0f} % | " + " | ".join(cells) + " |")
    write_results(stem, record, lines)


if __name__ == "__main__":
    main()
