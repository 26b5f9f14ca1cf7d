"""`--tta` (8-fold flip/rotate self-ensemble) against the plain model on Set5 / Set14 x4.

    python benchmarks/tta.py [--model srresnet-x4] [--datasets Set5 Set14]

Both rows go through srgan's Upscaler on the uint8 LR (`srgan evaluate`'s basicsr protocol), so
the only difference is the ensemble. Writes benchmarks/results/tta.md and .json.
"""

from __future__ import annotations

import argparse

from common import command_line, data_dir, machine, page_header, write_results

from srgan.evaluation import Method, evaluate
from srgan.infer import Upscaler


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="srresnet-x4")
    ap.add_argument("--datasets", nargs="+", default=["Set5", "Set14"])
    args = ap.parse_args()
    plain = Upscaler(args.model, device="cpu", tile=0, precision="fp32")
    tta = Upscaler(plain.model, device="cpu", tile=0, precision="fp32", tta=True)
    methods = [Method(args.model, plain.scale, plain.upscale), Method(f"{args.model} --tta", plain.scale, tta.upscale)]
    rows = []
    for ds in args.datasets:
        results, _ = evaluate(data_dir() / ds, methods, scale=plain.scale)
        rows += [{"dataset": ds, "method": r.method, "psnr_y": r.psnr_y, "ssim_y": r.ssim_y, "seconds": r.seconds}
                 for r in results]  # fmt: skip
    m = machine()
    lines = [*page_header("Test-time augmentation (`--tta`): Y-PSNR (dB) / SSIM, basicsr protocol", m),
             "| method | " + " | ".join(args.datasets) + " | seconds |",
             "|---|" + "---:|" * (len(args.datasets) + 1)]  # fmt: skip
    for name in dict.fromkeys(r["method"] for r in rows):
        rs = [r for r in rows if r["method"] == name]
        cells = " | ".join(f"{r['psnr_y']:.2f} / {r['ssim_y']:.4f}" for r in rs)
        lines.append(f"| {name} | {cells} | {sum(r['seconds'] for r in rs):.1f} |")
    write_results("tta", {"command": command_line(), "machine": m, "rows": rows}, lines)


if __name__ == "__main__":
    main()
