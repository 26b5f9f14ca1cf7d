"""Outputs too large to make are refused before decoding, and the batch goes on: peak memory.

    python benchmarks/resource_limits.py [--model srresnet-x4]

Three `srgan upscale` batches run in child processes under `/usr/bin/time -v`, as a user would
run them, each with a real photo (scikit-image's coffee, 256x256) as the file after the bad one:

* baseline: the photo alone;
* a 17000x17000 PNG (under the 300-megapixel input limit; under 1 MB on disk) at x4, which
  asks for a 68000x68000 = 4.6-gigapixel output;
* `--width 200000` on a 256x256 photo (a 40-gigapixel output), followed by a 5000x2 panorama
  strip whose 200000x80 output fits.

For each: exit code, the lines srgan printed, which outputs were written, and the peak resident
memory of the whole process (torch included) from `/usr/bin/time -v`. Writes
benchmarks/results/resource_limits.md and .json.
"""

from __future__ import annotations

import argparse
import re
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import skimage.data
from common import REPO, command_line, machine, machine_markdown, write_results

from srgan.imageio import read_image, write_image


def _chunk(tag: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", zlib.crc32(tag + payload) & 0xFFFFFFFF)


def huge_png(path: Path, side: int) -> None:
    """A valid side x side RGB PNG (a soft vertical gradient) written row by row: little memory."""
    comp = zlib.compressobj(9)
    idat = bytearray()
    for y in range(side):
        value = 64 + (128 * y) // side
        idat += comp.compress(b"\0" + bytes([value]) * (3 * side))
    idat += comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", bytes(idat)) + _chunk(b"IEND", b""))


def run(name: str, folder: Path, out: Path, model: str, *extra: str) -> dict[str, object]:
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "srgan", "upscale", str(folder), str(out), "--model", model,
           "--no-progress", *extra]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    srgan_lines = [ln.replace(str(folder.parent), "TMP") for ln in proc.stderr.splitlines() if ln.startswith("srgan:")]
    written = {p.name: "x".join(map(str, read_image(p).shape[1::-1])) for p in sorted(out.glob("*.png"))}
    return {
        "case": name,
        "inputs": {p.name: f"{p.stat().st_size / 1e3:.0f} kB" for p in sorted(folder.iterdir())},
        "extra_args": list(extra),
        "exit_code": proc.returncode,
        "srgan_lines": srgan_lines,
        "written": written,
        "peak_rss_mb": round(int(peak.group(1)) / 1024) if peak else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="srresnet-x4")
    args = ap.parse_args()
    photo = cv2.resize(skimage.data.coffee(), (256, 256), interpolation=cv2.INTER_AREA)
    strip = cv2.resize(skimage.data.coffee()[180:200], (5000, 2), interpolation=cv2.INTER_AREA)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        write_image(t / "base" / "b_photo.png", photo)
        rows.append(run("baseline: the photo alone", t / "base", t / "out0", args.model))
        (t / "big").mkdir()
        huge_png(t / "big" / "a_17000x17000.png", 17_000)
        write_image(t / "big" / "b_photo.png", photo)
        rows.append(run("17000x17000 input at x4, then the photo", t / "big", t / "out1", args.model))
        write_image(t / "wide" / "a_photo.png", photo)
        write_image(t / "wide" / "b_strip.png", np.ascontiguousarray(strip))
        rows.append(run("--width 200000: the photo, then a 5000x2 strip", t / "wide", t / "out2", args.model,
                        "--width", "200000"))  # fmt: skip
    m = machine()
    record = {"command": command_line(), "machine": m, "model": args.model, "rows": rows}
    md = [
        "# Outputs too large to make: refused before decoding, the batch goes on",
        "",
        f"Command: `{command_line()}` (model {args.model})  ",
        f"Machine: {machine_markdown(m)}",
        "",
        "| batch | exit | written | peak RSS (MB) | what srgan printed |",
        "|---|---:|---|---:|---|",
    ]
    for r in rows:
        written = ", ".join(f"{k} ({v})" for k, v in r["written"].items()) or "none"  # type: ignore[union-attr]
        said = "<br>".join(f"`{ln}`" for ln in r["srgan_lines"]) or "(nothing)"  # type: ignore[union-attr]
        md.append(f"| {r['case']} | {r['exit_code']} | {written} | {r['peak_rss_mb']} | {said} |")
    md += [
        "",
        "Peak RSS is the whole `srgan upscale` process as `/usr/bin/time -v` reports it, torch included:",
        "the baseline row is what importing torch and running the model on a 256x256 photo costs, so a",
        "refusal that allocates nothing shows about the same figure (it varies by some tens of MB from run",
        "to run). Decoding the 17000x17000 input alone would take 867 MB, and its x4 output 13.9 GB.",
    ]
    write_results("resource_limits", record, md)


if __name__ == "__main__":
    main()
