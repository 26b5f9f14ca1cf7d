"""The checkerboard study (issue 19): which GAN recipe removes the period-4 grid, at what LPIPS cost.

    python benchmarks/checkerboard.py LABEL=MODEL [LABEL=MODEL ...] [--datasets Set5 Set14 BSD100]

MODEL is a shipped model name or a weights file (e.g. a run exported with
``tools/ship_model.py RUN --name N --export-only FILE``). Each is scored on the clean x4
benchmark sets with `srgan evaluate`'s default protocol: Y-PSNR, LPIPS-squeeze and the
checkerboard score (srgan.metrics.artifacts; bicubic ~1-1.5, srresnet-x4 ~1.9). Rows are merged
into benchmarks/results/checkerboard.json by label (a later run replaces a label's row, keeps the
others), and the whole table is rewritten to checkerboard.md with the ratio to srresnet-x4, which
every run measures too, so each table is self-consistent.
"""

from __future__ import annotations

import argparse
import json
import time

from common import RESULTS, command_line, data_dir, machine, machine_markdown

from srgan.evaluation import evaluate, model_method
from srgan.fsutil import atomic_write_bytes
from srgan.metrics.artifacts import checkerboard_score
from srgan.metrics.lpips import LPIPS

REFERENCE = "srresnet-x4"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", metavar="LABEL=MODEL")
    ap.add_argument("--datasets", nargs="+", default=["Set5", "Set14", "BSD100"])
    args = ap.parse_args()
    pairs = [m.split("=", 1) if "=" in m else [m, m] for m in args.models]
    if REFERENCE not in [label for label, _ in pairs]:
        pairs.insert(0, [REFERENCE, REFERENCE])
    path = RESULTS / "checkerboard.json"
    record = json.loads(path.read_text()) if path.is_file() else {"rows": {}}
    lp = LPIPS()
    extra = {"lpips": lp.score_uint8, "checkerboard": lambda sr, hr: checkerboard_score(sr, period=4)}
    for label, model in pairs:
        t0 = time.perf_counter()
        row = {"model": model, "command": command_line(), "sets": {}}
        for ds in args.datasets:
            results, failures = evaluate(data_dir() / ds, [model_method(model, 4, "cpu")], scale=4, extra=extra)
            if failures:
                raise SystemExit(f"unreadable images in {ds}")
            r = results[0]
            row["sets"][ds] = {"psnr_y": r.psnr_y, "lpips": r.extra["lpips"], "checkerboard": r.extra["checkerboard"]}
        row["seconds"] = time.perf_counter() - t0
        record["rows"][label] = row
        print(label, json.dumps(row["sets"]), flush=True)
    record["machine"] = machine()
    atomic_write_bytes(path, json.dumps(record, indent=2).encode())

    ref = record["rows"][REFERENCE]["sets"]
    sets = list(ref)
    lines = [
        "# Checkerboard study: Y-PSNR / LPIPS-squeeze / checkerboard score (x ratio to srresnet-x4)",
        "",
        f"Last command: `{command_line()}`  ",
        f"Machine: {machine_markdown(record['machine'])}",
        "",
        "Clean x4 input (basicsr protocol). Checkerboard: `srgan.metrics.artifacts.checkerboard_score`,",
        "the FFT peaks at the period-4 frequencies over their neighbourhood (about 1-2 without a grid).",
        "Target (issue 19): every shipped GAN model at most 1.1x srresnet-x4's score while keeping",
        "at least 15 % lower BSD100 LPIPS than srresnet-x4.",
        "",
        "| label | model | " + " | ".join(sets) + " |",
        "|---|---|" + "---:|" * len(sets),
    ]
    for label, row in record["rows"].items():
        cells = []
        for ds in sets:
            v = row["sets"].get(ds)
            if v is None:
                cells.append("-")
                continue
            ratio = v["checkerboard"] / ref[ds]["checkerboard"]
            cells.append(f"{v['psnr_y']:.2f} / {v['lpips']:.4f} / {v['checkerboard']:.2f} ({ratio:.2f}x)")
        lines.append(f"| {label} | `{row['model']}` | " + " | ".join(cells) + " |")
    atomic_write_bytes(RESULTS / "checkerboard.md", ("\n".join(lines) + "\n").encode())
    print("\n".join(lines))


if __name__ == "__main__":
    main()
