"""How well srgan.metrics.degradation tells clean inputs from degraded ones (the `srgan upscale` hint).

    python benchmarks/degradation_check.py [--fit T91 BSD200] [--test Set14 BSD100]

For every HR image: the x4 MATLAB-bicubic LR (clean), benchmarks/realworld.py's one-stage and
two-stage degraded LR (seeded differently from that benchmark), and the clean LR saved as JPEG at
quality 95 and 85. Reports, per kind, the blockiness percentiles, the share the rule flags as
degraded (`Degradation.looks_degraded`: JPEG quality <= 90 from the file's table, or blockiness
above BLOCKINESS_LIMIT), and the JPEG quality read back from the tables. BLOCKINESS_LIMIT was set
on the --fit sets (1 % of clean images above it); the --test sets only check it.
Writes benchmarks/results/degradation_check.md and .json.
"""

from __future__ import annotations

import argparse
import io

import numpy as np
from common import command_line, data_dir, machine, page_header, write_results
from PIL import Image
from realworld import degrade_for_benchmark, seed_of

from srgan.imageio import list_images, read_image
from srgan.metrics.degradation import BLOCKINESS_LIMIT, assess
from srgan.metrics.protocol import prepare_hr
from srgan.resize import imresize_uint8

KINDS = ("clean", "one-stage", "two-stage", "clean, JPEG q95", "clean, JPEG q85")


def inputs(hr: np.ndarray, name: str) -> dict[str, tuple[np.ndarray, io.BytesIO | None]]:
    clean = imresize_uint8(hr, 1 / 4)
    out: dict[str, tuple[np.ndarray, io.BytesIO | None]] = {
        "clean": (clean, None),
        "one-stage": (degrade_for_benchmark(hr, False, np.random.default_rng(seed_of(name) + 1)), None),
        "two-stage": (degrade_for_benchmark(hr, True, np.random.default_rng(seed_of(name) + 2)), None),
    }
    for q in (95, 85):
        buf = io.BytesIO()
        Image.fromarray(clean).save(buf, "JPEG", quality=q)
        buf.seek(0)
        arr = np.asarray(Image.open(buf).convert("RGB"))
        buf.seek(0)
        out[f"clean, JPEG q{q}"] = (arr, buf)
    return out


def measure(sets: list[str]) -> dict[str, dict[str, object]]:
    found: dict[str, list[tuple[float, bool, int | None]]] = {k: [] for k in KINDS}
    for ds in sets:
        for f in list_images(data_dir() / ds):
            hr = prepare_hr(read_image(f), 4, "basicsr")
            if hr.ndim == 2:
                hr = np.repeat(hr[:, :, None], 3, axis=2)
            for kind, (lr, buf) in inputs(hr[:, :, :3], f.name).items():
                d = assess(lr, buf)
                found[kind].append((d.blockiness, d.looks_degraded, d.jpeg_quality))
    out = {}
    for kind, rows in found.items():
        b = np.array([r[0] for r in rows])
        qs = sorted({r[2] for r in rows if r[2] is not None})
        out[kind] = {"n": len(rows), "blockiness_p10_p50_p90": np.percentile(b, [10, 50, 90]).round(3).tolist(),
                     "flagged": float(np.mean([r[1] for r in rows])), "jpeg_quality_read": qs}  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fit", nargs="+", default=["T91", "BSD200"])
    ap.add_argument("--test", nargs="+", default=["Set14", "BSD100"])
    args = ap.parse_args()
    m = machine()
    record = {"command": command_line(), "machine": m, "blockiness_limit": BLOCKINESS_LIMIT,
              "fit": measure(args.fit), "test": measure(args.test)}  # fmt: skip
    title = "Does the input look degraded? (the hint `srgan upscale` gives users of the default model)"
    lines = [*page_header(title, m),
             f"Rule: JPEG quality <= 90 read from the file's quantisation table, or blockiness > {BLOCKINESS_LIMIT}.",
             "", "| images | input | n | blockiness p10 / p50 / p90 | flagged as degraded | JPEG quality read |",
             "|---|---|---:|---|---:|---|"]  # fmt: skip
    for part, sets in (("fit", args.fit), ("test", args.test)):
        for kind, r in record[part].items():
            p = " / ".join(f"{v:.2f}" for v in r["blockiness_p10_p50_p90"])
            q = ", ".join(map(str, r["jpeg_quality_read"])) or "-"
            flagged = f"{100 * r['flagged']:.0f} %"
            lines.append(f"| {' + '.join(sets)} ({part}) | {kind} | {r['n']} | {p} | {flagged} | {q} |")
    write_results("degradation_check", record, lines)


if __name__ == "__main__":
    main()
