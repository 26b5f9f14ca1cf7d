"""Speed of every model at x4: output megapixels per second and peak memory, same run, same inputs.

    python benchmarks/speed.py [--sizes 128 256] [--device cpu|cuda]

Models: the shipped srgan x4 models; the architectures users would pick instead, built from
spandrel's classes with random weights (speed does not depend on the weights' values):
RRDBNet as in ESRGAN / Real-ESRGAN x4plus (64 features, 23 blocks), SwinIR-M (classical x4)
and SwinIR-light; and OpenCV's dnn_superres peers (ESPCN, FSRCNN, FSRCNN-small, LapSRN).
Each model runs in its own child process so its peak memory is its own: one warm-up,
then the median of several timed runs on an LR crop of a real photo. On CUDA each torch
model is timed in fp32, fp16 and bf16. Writes benchmarks/results/speed.md and .json.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import command_line, machine, page_header, write_results

HERE = Path(__file__).resolve().parent


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _build(name: str, device: str):  # returns a callable (B,3,h,w) float -> output, and a description
    import torch

    if name.startswith("srgan:"):
        from srgan.infer import load_model

        m = load_model(name.split(":", 1)[1], device="cpu")
        m.module.to(device).eval()
        # The LoadedModel itself, so the timing includes what `srgan upscale` does (channels_last).
        return m, f"srgan {m.name}, {sum(p.numel() for p in m.module.parameters()):,} params"
    if name == "RRDBNet":
        from spandrel.architectures.ESRGAN import ESRGAN

        module = ESRGAN(in_nc=3, out_nc=3, num_filters=64, num_blocks=23, scale=4)
    elif name == "SwinIR-M":
        from spandrel.architectures.SwinIR import SwinIR

        module = SwinIR(upscale=4, in_chans=3, img_size=64, window_size=8, img_range=1.0, depths=[6] * 6,
                        embed_dim=180, num_heads=[6] * 6, mlp_ratio=2, upsampler="pixelshuffle",
                        resi_connection="1conv")  # fmt: skip
    elif name == "SwinIR-light":
        from spandrel.architectures.SwinIR import SwinIR

        module = SwinIR(upscale=4, in_chans=3, img_size=64, window_size=8, img_range=1.0, depths=[6] * 4,
                        embed_dim=60, num_heads=[6] * 4, mlp_ratio=2, upsampler="pixelshuffledirect",
                        resi_connection="1conv")  # fmt: skip
    else:
        raise SystemExit(f"unknown model {name}")
    torch.manual_seed(0)
    return module.to(device).eval(), f"{name} (random weights), {sum(p.numel() for p in module.parameters()):,} params"


def child(name: str, size: int, device: str, precision: str, max_runs: int) -> dict[str, object]:
    import numpy as np
    import skimage.data
    import torch

    img = skimage.data.astronaut()[100 : 100 + size, 120 : 120 + size] if size <= 384 else None
    if img is None:
        import cv2

        img = cv2.resize(skimage.data.astronaut(), (size, size))
    if name.startswith("opencv:"):
        sys.path.insert(0, str(HERE))
        from peers import peer_method

        method = peer_method(name.split(":", 1)[1], 4)
        lr = np.ascontiguousarray(img)
        base = _rss_mb()

        def run() -> None:
            method.upscale(lr)

        desc = method.name
    else:
        module, desc = _build(name, device)
        dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
        getattr(module, "module", module).to(dtype)
        x = torch.from_numpy(img.transpose(2, 0, 1).copy()).to(device, dtype)[None] / 255.0
        base = _rss_mb()
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()

        def run() -> None:
            with torch.inference_mode():
                module(x)
            if device.startswith("cuda"):
                torch.cuda.synchronize()

    t0 = time.perf_counter()
    run()  # warm-up
    first = time.perf_counter() - t0
    runs = 2 if first > 15 else max_runs
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    out = {"model": name, "description": desc, "lr_size": size, "device": device, "precision": precision,
           "runs": runs, "median_s": med, "out_megapixels_per_s": (4 * size) ** 2 / 1e6 / med,
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "rss_before_run_mb": base}  # fmt: skip
    if device.startswith("cuda") and not name.startswith("opencv:"):
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", nargs="+", type=int, default=[128, 256])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--models", nargs="*", help="subset of models (default: all), or .safetensors files")
    ap.add_argument("--name", help="results file stem (default: speed_DEVICE); use one for a subset of models")
    ap.add_argument("--child", nargs=4, metavar=("MODEL", "SIZE", "DEVICE", "PRECISION"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        name, size, device, precision = args.child
        print(json.dumps(child(name, int(size), device, precision, args.runs)))
        return
    from peers import available

    from srgan.infer import DEFAULT_MODEL
    from srgan.weights import list_models

    shipped = [f"srgan:{m.name}" for m in list_models() if m.scale == 4]
    models = [*shipped, "RRDBNet", "SwinIR-M", "SwinIR-light", *[f"opencv:{n}" for n in available(4)]]
    if args.models:
        files = [f"srgan:{m}" for m in args.models if m.endswith(".safetensors")]  # a trained, unshipped model
        models = [m for m in models if m in args.models or m.split(":")[-1] in args.models] + files
    precisions = ["fp32", "fp16", "bf16"] if args.device.startswith("cuda") else ["fp32"]
    rows = []
    for size in args.sizes:
        for name in models:
            for prec in precisions if not name.startswith("opencv:") else ["fp32"]:
                cmd = [sys.executable, str(Path(__file__)), "--runs", str(args.runs), "--child", name, str(size),
                       args.device, prec]  # fmt: skip
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0:
                    rows.append({"model": name, "lr_size": size, "precision": prec, "error": proc.stderr[-500:]})
                    print(f"{name} {size}: failed", flush=True)
                    continue
                rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
                print(rows[-1], flush=True)
    default = f"srgan:{DEFAULT_MODEL}"
    for r in rows:
        ref = next((x for x in rows if x["model"] == default and x["lr_size"] == r["lr_size"]
                    and x.get("precision") == r.get("precision") and "error" not in x), None)  # fmt: skip
        if ref is not None and "error" not in r:
            r["speed_vs_default"] = r["out_megapixels_per_s"] / ref["out_megapixels_per_s"]
    m = machine()
    record = {"command": command_line(), "machine": m, "rows": rows}
    stem = args.name or f"speed_{args.device.split(':')[0]}"
    lines = [
        *page_header(f"Speed at x4 on {args.device}: output megapixels per second (higher is faster)", m),
        "One warm-up, then the median of several runs (2 for models slower than 15 s per run). Peak RSS is",
        "the whole child process (Python + torch + model + activations). RRDBNet and SwinIR use random weights:",
        "speed does not depend on the values of the weights.",
        "",
        "| model | LR input | precision | median s | output MP/s | x default | peak RSS MB |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['lr_size']}² | {r['precision']} | failed | | | |")
            continue
        lines.append(f"| {r['description']} | {r['lr_size']}² | {r['precision']} | {r['median_s']:.3f} "
                     f"| {r['out_megapixels_per_s']:.3f} | {r.get('speed_vs_default', float('nan')):.2f} "
                     f"| {r['peak_rss_mb']:.0f} |")  # fmt: skip
    write_results(stem, record, lines)


if __name__ == "__main__":
    main()
