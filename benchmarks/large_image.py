"""A 4000x4000 photo upscaled x4 (16000x16000 output) on CPU with tiling: peak memory and time.

    python benchmarks/large_image.py [--model srresnet-x4] [--size 4000]

Runs `srgan upscale` in a child process (as a user would) and reads the child's peak
resident memory from the kernel (ru_maxrss). The input is scikit-image's coffee photo
resized to size x size. Writes benchmarks/results/large_image.md and .json.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import skimage.data
from common import REPO, command_line, machine, page_header, write_results
from PIL import Image

from srgan.imageio import write_image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="srresnet-x4")
    ap.add_argument("--size", type=int, default=4000)
    ap.add_argument("--tile", default="auto")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=REPO.parent) as tmp:
        src, dst = Path(tmp) / "in.png", Path(tmp) / "out.png"
        img = cv2.resize(skimage.data.coffee(), (args.size, args.size), interpolation=cv2.INTER_CUBIC)
        write_image(src, img)
        del img
        cmd = [sys.executable, "-m", "srgan", "upscale", str(src), str(dst), "--model", args.model,
               "--tile", args.tile, "--no-progress"]  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"upscale failed: {proc.stderr}")
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        with Image.open(dst) as im:
            out_size = im.size
        file_mb = dst.stat().st_size / 2**20
    row = {"model": args.model, "input": f"{args.size}x{args.size}", "output": f"{out_size[0]}x{out_size[1]}",
           "tile": args.tile, "seconds": round(wall, 1), "peak_rss_mb": round(peak_mb), "output_png_mb": round(file_mb),
           "megapixels_out_per_s": round(out_size[0] * out_size[1] / 1e6 / wall, 3)}  # fmt: skip
    m = machine()
    record = {"command": command_line(), "machine": m, "result": row}
    lines = [
        *page_header("Large image: 4000x4000 -> 16000x16000 on CPU", m),
        "| model | input | output | tile | seconds | peak RSS (MB) | output PNG (MB) | output MP/s |",
        "|---|---|---|---|---:|---:|---:|---:|",
        f"| {row['model']} | {row['input']} | {row['output']} | {row['tile']} | {row['seconds']} "
        f"| {row['peak_rss_mb']} | {row['output_png_mb']} | {row['megapixels_out_per_s']} |",
        "",
        "Peak RSS is the whole `srgan upscale` process (Python, torch, the 768 MB uint8 output canvas,",
        "tiles, and the streamed PNG encoder), as the kernel reports it.",
    ]  # fmt: skip
    write_results("large_image", record, lines)


if __name__ == "__main__":
    main()
