"""Side-by-side crops at x4: bicubic | srresnet-x4 | srgan-x4 | HR, for a person to judge.

    python benchmarks/crops.py [--methods bicubic srresnet-x4 srgan-x4] [--size 128]

Each benchmark image is downscaled x4 with MATLAB bicubic (the protocol's LR), upscaled by
each method, and the same HR-resolution crop of every result is laid side by side with the
HR crop, each labelled with its LPIPS (SqueezeNet) and Y-PSNR on that crop. Writes
benchmarks/results/crops_<image>.png (and crops.json with the per-crop figures).
"""

from __future__ import annotations

import argparse
import json

import cv2
import numpy as np
from common import RESULTS, command_line, data_dir, machine

from srgan.evaluation import resolve_method
from srgan.fsutil import atomic_write_bytes
from srgan.imageio import read_image
from srgan.metrics.lpips import LPIPS
from srgan.metrics.protocol import make_lr, prepare_hr, score_pair, to_uint8

# (dataset, image, top, left) of HR crops with texture where GAN and PSNR models differ.
CROPS = [
    ("BSD100", "img_010.png", 100, 180),
    ("BSD100", "img_045.png", 60, 200),
    ("Set14", "baboon.png", 40, 220),
    ("Set14", "comic.png", 120, 40),
]


def zoom_tile(img: np.ndarray) -> np.ndarray:
    return cv2.resize(img, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)


def label_tile(tile: np.ndarray, text: str) -> np.ndarray:
    bar = np.full((24, tile.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, text, (4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, tile], axis=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--methods", nargs="+", default=["bicubic", "srresnet-x4", "srgan-x4"])
    ap.add_argument("--size", type=int, default=128, help="crop side in HR pixels (shown at 2x)")
    args = ap.parse_args()
    root = data_dir()
    lp = LPIPS()
    methods = [resolve_method(m, 4) for m in args.methods]
    record = []
    for ds, name, top, left in CROPS:
        hr = prepare_hr(read_image(root / ds / name), 4, "basicsr")
        lr = make_lr(hr, 4, "basicsr")
        s = args.size
        hr_crop = hr[top : top + s, left : left + s]
        tiles, row = [], {"dataset": ds, "image": name, "top": top, "left": left, "size": s}
        for m in methods:
            crop = to_uint8(np.asarray(m.upscale(lr)))[top : top + s, left : left + s]
            psnr_y, _ = score_pair(crop, hr_crop, scale=4, protocol="basicsr")
            lpips = lp.score_uint8(crop, hr_crop)
            row[m.name] = {"psnr_y": psnr_y, "lpips": lpips}
            tiles.append(label_tile(zoom_tile(crop), f"{m.name}  LPIPS {lpips:.3f}  {psnr_y:.1f} dB"))
        tiles.append(label_tile(zoom_tile(hr_crop), "HR (ground truth)"))
        gap = np.full((tiles[0].shape[0], 4, 3), 255, np.uint8)
        strip = np.concatenate([x for t in tiles for x in (t, gap)][:-1], axis=1)
        ok, png = cv2.imencode(".png", cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
        if not ok:
            raise SystemExit("PNG encoding failed")
        atomic_write_bytes(RESULTS / f"crops_{ds}_{name.rsplit('.', 1)[0]}.png", png.tobytes())
        record.append(row)
        print(json.dumps(row), flush=True)
    out = {"command": command_line(), "machine": machine(), "crops": record}
    atomic_write_bytes(RESULTS / "crops.json", json.dumps(out, indent=2).encode())


if __name__ == "__main__":
    main()
