"""What makes the default model faster on this CPU: each candidate timed on the same input.

    python benchmarks/speed_work.py [--model srresnet-x4] [--sizes 128 256] [--runs 5]

Candidates (all fp32, all under torch.inference_mode, same weights, outputs compared with the
baseline's): the plain module in NCHW; channels_last memory format; TorchScript trace +
freeze (folds constants, lets oneDNN fuse conv + ReLU); torch.compile (inductor; its compile
time is reported apart); 1 thread against all threads; a whole 512x512 photo through
`Upscaler` untiled and tiled; and padded tiles run one by one against batches of tiles. Writes
benchmarks/results/speed_work.md and .json; what was kept is said in README.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import skimage.data
import torch
from common import command_line, machine, page_header, write_results

from srgan.infer import DEFAULT_MODEL, Upscaler, load_model


def _time(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    fn()  # warm-up (first call also compiles for the compiled variants)
    first = time.perf_counter() - t0
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), first


def model_variants(name: str, size: int, runs: int) -> list[dict[str, object]]:
    def nchw() -> torch.nn.Module:  # the model in plain NCHW (load_model itself returns channels_last)
        return load_model(name, device="cpu").module.eval().to(memory_format=torch.contiguous_format)

    module = nchw()
    img = skimage.data.astronaut()[100 : 100 + size, 120 : 120 + size]
    x = torch.from_numpy(img.transpose(2, 0, 1).copy()).float()[None] / 255.0
    with torch.inference_mode():
        ref = module(x)
    rows: list[dict[str, object]] = []

    def record(variant: str, fn: Callable[[], torch.Tensor], threads: int | None = None) -> None:
        old = torch.get_num_threads()
        if threads:
            torch.set_num_threads(threads)
        try:
            with torch.inference_mode():
                med, first = _time(fn, runs)
                diff = float((fn().float().contiguous() - ref).abs().max())
        except Exception as exc:  # a candidate that does not work here is reported, not fatal
            rows.append({"variant": variant, "lr_size": size, "error": f"{type(exc).__name__}: {exc}"[:300]})
            print(rows[-1], flush=True)
            return
        finally:
            torch.set_num_threads(old)
        rows.append({"variant": variant, "lr_size": size, "threads": threads or old, "median_s": med,
                     "first_call_s": first, "out_megapixels_per_s": (4 * size) ** 2 / 1e6 / med,
                     "max_abs_diff_vs_baseline": diff})  # fmt: skip
        print(rows[-1], flush=True)

    record("baseline (NCHW)", lambda: module(x))
    record("baseline, 1 thread", lambda: module(x), threads=1)
    cl_module = nchw().to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    record("channels_last", lambda: cl_module(x_cl))
    with torch.inference_mode():
        traced = torch.jit.freeze(torch.jit.trace(module, x))
    record("TorchScript trace + freeze", lambda: traced(x))
    compiled = torch.compile(nchw(), dynamic=False)
    record("torch.compile (inductor)", lambda: compiled(x))
    return rows


def tile_variants(name: str, runs: int) -> list[dict[str, object]]:
    """A whole 512x512 photo through `Upscaler`, untiled and in 128 px tiles; and whether batching
    tiles would pay: 16 padded 128 px tiles through the module one by one against 4 batches of 4."""
    img = skimage.data.astronaut()  # 512 x 512 RGB
    rows: list[dict[str, object]] = []
    base = None
    for label, tile in [("whole image", 0), ("128 px tiles", 128)]:
        up = Upscaler(name, device="cpu", tile=tile)
        med, _ = _time(lambda up=up: up.upscale(img), max(2, runs // 2))
        out = up.upscale(img)
        base = out if base is None else base
        rows.append({"variant": f"Upscaler, 512x512 photo, {label}", "lr_size": 512, "median_s": med,
                     "out_megapixels_per_s": 2048**2 / 1e6 / med,
                     "max_abs_diff_vs_baseline": int(np.abs(out.astype(int) - base.astype(int)).max())})  # fmt: skip
        print(rows[-1], flush=True)
    loaded = load_model(name, device="cpu")  # channels_last, as the Upscaler runs it
    module, pad = loaded.module.eval(), loaded.context
    side = 128 + 2 * pad
    x = torch.from_numpy(img[:side, :side].transpose(2, 0, 1).copy()).float()[None] / 255.0
    tiles = x.expand(16, -1, -1, -1).contiguous(memory_format=torch.channels_last)
    for label, fn in [("16 tiles one by one", lambda: [module(tiles[i : i + 1]) for i in range(16)]),
                      ("16 tiles in batches of 4", lambda: [module(b) for b in tiles.split(4)])]:  # fmt: skip
        with torch.inference_mode():
            med, _ = _time(fn, max(2, runs // 2))
        rows.append({"variant": f"module, {label} ({side}px with padding)", "lr_size": side, "median_s": med,
                     "out_megapixels_per_s": 16 * (4 * 128) ** 2 / 1e6 / med,
                     "max_abs_diff_vs_baseline": 0.0})  # fmt: skip
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--sizes", nargs="+", type=int, default=[128, 256])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    rows = []
    for size in args.sizes:
        rows += model_variants(args.model, size, args.runs)
    rows += tile_variants(args.model, args.runs)
    m = machine()
    record = {"command": command_line(), "machine": m, "rows": rows}
    lines = [*page_header(f"Speed work on {args.model} (CPU, fp32)", m),
             "| variant | LR input | threads | median s | output MP/s | first call s | max diff vs baseline |",
             "|---|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['variant']} | {r.get('lr_size', '')} | | failed: {r['error'][:80]} | | | |")
            continue
        lines.append(f"| {r['variant']} | {r['lr_size']}² | {r.get('threads', '')} | {r['median_s']:.3f} "
                     f"| {r['out_megapixels_per_s']:.3f} | {r.get('first_call_s', float('nan')):.2f} "
                     f"| {r['max_abs_diff_vs_baseline']:.2g} |")  # fmt: skip
    write_results("speed_work", record, lines)


if __name__ == "__main__":
    main()
