"""Speed of the bilinear resize-conv upsampler run at low resolution (srgan.archs.polyphase), against srresnet-x4.

    python benchmarks/speed_polyphase.py [--models srresnet-x4 srgan-x4 realsrgan-x4] [--sizes 128 256] [--runs 9]

Each model as `srgan upscale` loads it (channels_last, fp32, inference mode) in three forms, all
timed in one interleaved loop (one run of each form per round, so a slow stretch of the machine
hits every form alike), on an LR crop of a real photo:

* ``before``: the code before this change, the resize-convs at full resolution and the residual
  blocks' multiply by ``res_scale`` = 1;
* ``no multiply``: the multiply gone (a bitwise no-op), resize-convs still at full resolution;
* ``now``: both changes (what ships): for the bilinear models each x2 resize + 3x3 conv is one
  stride-2 transposed conv at the lower resolution plus a 2-pixel border fix-up.

Reports the median of the timed runs, output megapixels per second, the ratio to srresnet-x4's
``now`` at the same size, and the largest difference from ``before``'s output. Writes
benchmarks/results/speed_polyphase.md and .json.
"""

from __future__ import annotations

import argparse
import statistics
import time

import skimage.data
import torch
import torch.nn.functional as F
from common import command_line, machine, page_header, write_results

from srgan.archs import generator
from srgan.infer import load_model

FORMS = ("before", "no multiply", "now")


def _old_block_forward(self: generator.ResidualBlock, x: torch.Tensor) -> torch.Tensor:
    y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)), inplace=True)))
    return x + y * self.res_scale


def _run(module: torch.nn.Module, x: torch.Tensor, form: str) -> torch.Tensor:
    module.fused_resize = form == "now"  # type: ignore[assignment]
    new_forward = generator.ResidualBlock.forward
    if form == "before":
        generator.ResidualBlock.forward = _old_block_forward  # type: ignore[method-assign]
    try:
        return module(x)
    finally:
        generator.ResidualBlock.forward = new_forward  # type: ignore[method-assign]


def measure(models: list[str], size: int, runs: int) -> list[dict[str, object]]:
    img = skimage.data.astronaut()[100 : 100 + size, 120 : 120 + size]
    x = torch.from_numpy(img.transpose(2, 0, 1).copy()).float()[None].div(255.0)
    x = x.contiguous(memory_format=torch.channels_last)
    loaded = {name: load_model(name, device="cpu").module.eval() for name in models}
    times: dict[tuple[str, str], list[float]] = {(n, f): [] for n in models for f in FORMS}
    diffs: dict[tuple[str, str], float] = {}
    with torch.inference_mode():
        for name, module in loaded.items():
            ref = _run(module, x, "before")
            for form in FORMS:
                diffs[name, form] = float((_run(module, x, form) - ref).abs().max())  # also the warm-up
        for _ in range(runs):
            for name, module in loaded.items():
                for form in FORMS:
                    t0 = time.perf_counter()
                    _run(module, x, form)
                    times[name, form].append(time.perf_counter() - t0)
    base = statistics.median(times[models[0], "now"])
    rows: list[dict[str, object]] = []
    for (name, form), ts in times.items():
        med = statistics.median(ts)
        rows.append({"model": name, "form": form, "lr_size": size, "median_s": med,
                     "out_megapixels_per_s": (4 * size) ** 2 / 1e6 / med, f"x_{models[0]}": base / med,
                     "max_abs_diff_vs_before": diffs[name, form]})  # fmt: skip
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", nargs="+", default=["srresnet-x4", "srgan-x4", "realsrgan-x4"],
                    help="shipped x4 models; the first is the reference of the ratio column")  # fmt: skip
    ap.add_argument("--sizes", nargs="+", type=int, default=[128, 256])
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()
    rows = [r for size in args.sizes for r in measure(args.models, size, args.runs)]
    m = machine()
    record = {"command": command_line(), "machine": m, "rows": rows}
    ref = args.models[0]
    lines = [*page_header("The bilinear resize-conv upsampler at low resolution: CPU speed (fp32, channels_last)", m),
             "`before`: resize-convs at full resolution and the residual blocks' multiply by 1; `no multiply`: "
             "without the multiply; `now`: without it and with each x2 resize + conv as one transposed conv at low "
             f"resolution (models without the bilinear upsampler only lose the multiply). Median of {args.runs} "
             "interleaved runs.", "",
             f"| model | form | LR input | median s | output MP/s | x {ref} (now) | max diff vs before |",
             "|---|---|---|---:|---:|---:|---:|"]  # fmt: skip
    for r in rows:
        lines.append(f"| {r['model']} | {r['form']} | {r['lr_size']}² | {r['median_s']:.3f} "
                     f"| {r['out_megapixels_per_s']:.3f} | {r[f'x_{ref}']:.2f} "
                     f"| {r['max_abs_diff_vs_before']:.1e} |")  # fmt: skip
    write_results("speed_polyphase", record, lines)


if __name__ == "__main__":
    main()
