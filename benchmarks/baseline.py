"""Classical baselines (bicubic, lanczos) on Set5 / Set14 / BSD100 at x2, x3, x4.

Writes benchmarks/results/baseline.md and baseline.json. Both protocols are reported;
the published bicubic values from ../shared/data/README.md are shown beside ours.

    python benchmarks/baseline.py
"""

from __future__ import annotations

import time

from common import command_line, data_dir, machine, machine_markdown, write_results

from srgan.evaluation import evaluate, resolve_method

DATASETS = ("Set5", "Set14", "BSD100")
SCALES = (2, 3, 4)
METHODS = ("bicubic", "lanczos")
PUBLISHED = {  # bicubic, PSNR / SSIM (x3 is not listed in the data README)
    ("Set5", 2): (33.66, 0.9299),
    ("Set14", 2): (30.24, 0.8688),
    ("BSD100", 2): (29.56, 0.8431),
    ("Set5", 4): (28.42, 0.8104),
    ("Set14", 4): (26.00, 0.7027),
    ("BSD100", 4): (25.96, 0.6675),
}


def main() -> None:
    root = data_dir()
    rows = []
    t0 = time.perf_counter()
    for protocol in ("matlab", "basicsr"):
        for scale in SCALES:
            methods = [resolve_method(m, scale) for m in METHODS]
            for ds in DATASETS:
                results, failures = evaluate(root / ds, methods, scale=scale, protocol=protocol)
                if failures:
                    raise SystemExit(f"unreadable images in {ds}: {[f.message for f in failures]}")
                for r in results:
                    d = r.to_dict()
                    d.pop("images")
                    rows.append(d)
    m = machine()
    payload = {"command": command_line(), "machine": m, "seconds": time.perf_counter() - t0, "rows": rows}

    def cell(ds: str, scale: int, method: str, protocol: str) -> str:
        r = next(
            x for x in rows if (x["dataset"], x["scale"], x["method"], x["protocol"]) == (ds, scale, method, protocol)
        )
        return f"{r['psnr_y']:.2f} / {r['ssim_y']:.4f}"

    lines = [
        "# Classical baselines (Y-PSNR dB / SSIM)",
        "",
        f"Command: `{command_line()}`  ",
        f"Machine: {machine_markdown(m)}",
        "",
        "`matlab` is the classic scripts' protocol (LR in double, Y rounded,",
        "gray images on their own levels);",
        "`basicsr` is the modern one (LR rounded to uint8, every image as RGB, Y in float).",
        "BSD100 here lost its last row and column (480x320 instead of 481x321), so its numbers",
        "differ slightly from published BSD100 values.",
        "",
        "| dataset | scale | published bicubic | bicubic (matlab) | bicubic (basicsr) "
        "| lanczos (matlab) | lanczos (basicsr) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for ds in DATASETS:
        for scale in SCALES:
            pub = PUBLISHED.get((ds, scale))
            pub_s = f"{pub[0]:.2f} / {pub[1]:.4f}" if pub else "-"
            cells = [cell(ds, scale, meth, proto) for meth in METHODS for proto in ("matlab", "basicsr")]
            lines.append(f"| {ds} | x{scale} | {pub_s} | " + " | ".join(cells) + " |")
    write_results("baseline", payload, lines)


if __name__ == "__main__":
    main()
