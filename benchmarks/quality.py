"""Quality of every method on Set5 / Set14 / BSD100 at x2 and x4: Y-PSNR, SSIM and LPIPS.

    python benchmarks/quality.py [--scales 2 4] [--datasets Set5 Set14 BSD100]

Also the checkerboard score (srgan.metrics.artifacts) of every method's outputs.
Methods: bicubic, lanczos, every shipped srgan model of that scale, and OpenCV's
dnn_superres peers (ESPCN, FSRCNN, FSRCNN-small, LapSRN) from ../shared/peers, all scored in
the same run with `srgan evaluate`'s default protocol (basicsr). LPIPS is SqueezeNet LPIPS
v0.1 on RGB (lower is better). Published values from ../shared/data/README.md appear in the
same table, marked as published. Writes benchmarks/results/quality.md and .json.
"""

from __future__ import annotations

import argparse
import time

from common import command_line, data_dir, machine, page_header, write_results
from peers import available, peer_method

from srgan.evaluation import evaluate, model_method, resolve_method
from srgan.metrics.artifacts import checkerboard_score
from srgan.metrics.lpips import LPIPS
from srgan.weights import list_models

PUBLISHED = {  # (method, scale) -> {dataset: (psnr, ssim or None)}
    ("bicubic", 2): {"Set5": (33.66, 0.9299), "Set14": (30.24, 0.8688), "BSD100": (29.56, 0.8431)},
    ("bicubic", 4): {"Set5": (28.42, 0.8104), "Set14": (26.00, 0.7027), "BSD100": (25.96, 0.6675)},
    ("VDSR (291 images)", 4): {"Set5": (31.35, 0.8830), "Set14": (28.02, 0.7680), "BSD100": (27.29, 0.726)},
    ("SRResNet (Ledig 2017)", 4): {"Set5": (32.05, None), "Set14": (28.49, None), "BSD100": (27.58, None)},
    ("EDSR", 4): {"Set5": (32.46, 0.8968), "Set14": (28.80, 0.7876), "BSD100": (27.71, 0.7420)},
    ("SwinIR (DF2K)", 4): {"Set5": (32.92, 0.9044), "Set14": (29.09, 0.7950), "BSD100": (27.92, 0.7489)},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scales", nargs="+", type=int, default=[2, 4])
    ap.add_argument("--datasets", nargs="+", default=["Set5", "Set14", "BSD100"])
    args = ap.parse_args()
    root = data_dir()
    lp = LPIPS()
    rows = []
    t0 = time.perf_counter()
    for scale in args.scales:
        methods = [resolve_method("bicubic", scale), resolve_method("lanczos", scale)]
        methods += [model_method(m.name, scale, "cpu") for m in list_models() if m.scale == scale]
        methods += [peer_method(n, scale) for n in available(scale)]
        for ds in args.datasets:
            extra = {"lpips": lp.score_uint8,
                     "checkerboard": lambda sr, hr, s=scale: checkerboard_score(sr, period=s)}  # fmt: skip
            results, failures = evaluate(root / ds, methods, scale=scale, extra=extra)
            if failures:
                raise SystemExit(f"unreadable images in {ds}")
            for r in results:
                rows.append({"dataset": ds, "scale": scale, "method": r.method, "psnr_y": r.psnr_y,
                             "ssim_y": r.ssim_y, "lpips": r.extra["lpips"], "seconds": r.seconds,
                             "checkerboard": r.extra["checkerboard"], "published": False})  # fmt: skip
            for (name, s), vals in PUBLISHED.items():
                if s == scale and ds in vals:
                    p, q = vals[ds]
                    rows.append({"dataset": ds, "scale": scale, "method": f"{name} (published)", "psnr_y": p,
                                 "ssim_y": q, "lpips": None, "seconds": None, "published": True})  # fmt: skip
            print(f"done {ds} x{scale}", flush=True)
    m = machine()
    record = {"command": command_line(), "machine": m, "seconds": time.perf_counter() - t0, "protocol": "basicsr",
              "rows": rows}  # fmt: skip
    lines = [
        *page_header("Quality: Y-PSNR (dB) / SSIM / LPIPS-squeeze (lower is better)", m),
        "Protocol: `srgan evaluate` default (basicsr: MATLAB bicubic LR, Y in float, `scale` border crop).",
        "Rows marked *published* are copied from the papers (../shared/data/README.md), not measured here;",
        "our BSD100 copy lost one row and column, so BSD100 values differ slightly from published ones.",
    ]
    for scale in args.scales:
        lines += ["", f"## x{scale}", "", "| method | " + " | ".join(args.datasets) + " |",
                  "|---|" + "---:|" * len(args.datasets)]  # fmt: skip
        names = list(dict.fromkeys(r["method"] for r in rows if r["scale"] == scale))
        for name in names:
            cells = []
            for ds in args.datasets:
                r = next((x for x in rows if (x["scale"], x["method"], x["dataset"]) == (scale, name, ds)), None)
                if r is None:
                    cells.append("-")
                elif r["published"]:
                    ssim = f" / {r['ssim_y']:.4f}" if r["ssim_y"] is not None else ""
                    cells.append(f"{r['psnr_y']:.2f}{ssim}")
                else:
                    cells.append(f"{r['psnr_y']:.2f} / {r['ssim_y']:.4f} / {r['lpips']:.4f}")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## Checkerboard score (the sub-pixel grid; about 1-2 when there is none)", "",
              "Mean over each set of `srgan.metrics.artifacts.checkerboard_score` at the period of the scale.", "",
              "| scale | method | " + " | ".join(args.datasets) + " |",
              "|---|---|" + "---:|" * len(args.datasets)]  # fmt: skip
    for r0 in [r for r in rows if not r["published"] and r["dataset"] == args.datasets[0]]:
        key = (r0["scale"], r0["method"])
        cells = [next(f"{x['checkerboard']:.2f}" for x in rows
                      if not x["published"] and x["dataset"] == ds and (x["scale"], x["method"]) == key)
                 for ds in args.datasets]  # fmt: skip
        lines.append(f"| x{r0['scale']} | {r0['method']} | " + " | ".join(cells) + " |")
    write_results("quality", record, lines)


if __name__ == "__main__":
    main()
