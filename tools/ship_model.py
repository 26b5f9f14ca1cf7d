"""Ship a trained model: export weights from a run, measure them, write the metadata.

    python tools/ship_model.py runs/srresnet-x4 --name srresnet-x4 --description "..."

Takes the run's latest checkpoint (EMA weights when kept), writes srgan/shipped/NAME.safetensors
with the architecture, training metadata and the Y-PSNR/SSIM measured here on Set5, Set14
and BSD100 (`srgan evaluate`'s default protocol; LPIPS-SqueezeNet too), and writes the figures to
benchmarks/results/NAME.json. The equivalent measurement from the command line is
`srgan evaluate --data ../shared/data/Set5 ../shared/data/Set14 ../shared/data/BSD100
--scale S --method NAME`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAUSE_SECONDS = 600  # a gap this long between two log records means the run was stopped
sys.path.insert(0, str(REPO / "benchmarks"))

from common import data_dir, machine  # noqa: E402

from srgan.archs import build_generator  # noqa: E402
from srgan.evaluation import evaluate, model_method  # noqa: E402
from srgan.fsutil import atomic_write_bytes  # noqa: E402
from srgan.infer.models import lerp_weights  # noqa: E402
from srgan.metrics.lpips import LPIPS  # noqa: E402
from srgan.train.loop import read_checkpoint  # noqa: E402
from srgan.weights import load_generator, save_generator, shipped_model_path  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="run folder with checkpoints/latest.pt")
    ap.add_argument("--name", required=True)
    ap.add_argument("--description", default="")
    ap.add_argument("--datasets", nargs="+", default=["Set5", "Set14", "BSD100"])
    ap.add_argument("--denoise-base", metavar="MODEL",
                    help="the light-denoise partner --denoise blends this model with (same architecture)")  # fmt: skip
    ap.add_argument("--export-only", metavar="FILE", type=Path,
                    help="only write the weights to FILE (to benchmark an unfinished run): no shipping")  # fmt: skip
    ap.add_argument("--checkpoint", type=Path, metavar="FILE",
                    help="a checkpoint other than the run's latest (e.g. a snapshot to choose from), "
                         "or weights exported by --export-only")  # fmt: skip
    ap.add_argument("--blend", nargs=2, metavar=("MODEL", "S"),
                    help="network interpolation (ESRGAN): ship (1 - S) x MODEL + S x the run's weights")  # fmt: skip
    ap.add_argument("--raw", action="store_true",
                    help="the trained weights, not their EMA (an EMA still holding a fresh layer's init)")  # fmt: skip
    args = ap.parse_args()

    source = args.checkpoint or args.run / "checkpoints" / "latest.pt"
    if source.suffix == ".safetensors":  # weights exported by --export-only (kept in weights/training/)
        if args.raw:
            raise SystemExit(f"--raw: {source} holds one set of weights already (its metadata says which)")
        g, exported = load_generator(source)
        cfg, iteration = json.loads(exported["config"]), int(exported["iterations"])
        use_ema = exported.get("weights") == "ema"
    else:
        ckpt = read_checkpoint(source)
        cfg, iteration = ckpt["config"], int(ckpt["iteration"])
        g = build_generator(**cfg["model"])  # the arch name and its hyperparameters
        use_ema = "ema" in ckpt["state"] and not args.raw
        g.load_state_dict(ckpt["state"]["ema"] if use_ema else ckpt["state"]["g"])
    model_cfg = {k: v for k, v in cfg["model"].items() if k != "arch"}
    g.eval()
    blend = None
    if args.blend:
        base, _ = load_generator(shipped_model_path(args.blend[0]) or args.blend[0])
        if base.hparams != g.hparams:  # type: ignore[attr-defined]
            raise SystemExit(f"--blend: {args.blend[0]} has another architecture than the run")
        blend = {"with": args.blend[0], "s": float(args.blend[1])}
        lerp_weights(g, base, blend["s"])
    out = REPO / "srgan" / "shipped" / f"{args.name}.safetensors"
    wall = None
    metrics = args.run / "metrics.jsonl"
    if metrics.is_file():
        records = [json.loads(ln) for ln in metrics.read_text().splitlines() if ln.strip()]
        # up to the shipped iteration (a snapshot may be earlier than the run's end)
        times = [r["time"] for r in records if r.get("iteration", 0) <= iteration]
        # a run resumed over several sessions has long stops between records: count only the running time
        steps = [b - a for a, b in itertools.pairwise(times)]
        wall = sum(dt for dt in steps if dt < PAUSE_SECONDS) if steps else None
    meta = {
        "description": args.description,
        "scale": model_cfg["scale"],
        "stage": cfg["train"]["stage"],
        "iterations": iteration,
        "training_data": [Path(d).name for d in cfg["data"]["train_dirs"]],
        "parameters": sum(p.numel() for p in g.parameters()),
        "weights": "ema" if use_ema else "raw",
        "config": cfg,
        "train_wall_seconds_logged": wall,
    }
    if args.denoise_base:
        meta["denoise_base"] = args.denoise_base
    if blend:
        meta["blend"] = blend
    if args.export_only:
        save_generator(args.export_only, g, meta)
        print(f"wrote {args.export_only} (iteration {iteration}); nothing shipped")
        return
    tmp = out.with_suffix(".tmp.safetensors")
    save_generator(tmp, g, meta)  # measure the exact file we ship
    root = data_dir()
    scale = model_cfg["scale"]
    method = model_method(str(tmp), scale, "cpu")
    bench: dict[str, dict[str, float]] = {}
    lp = LPIPS()
    t0 = time.perf_counter()
    for ds in args.datasets:
        (res,), failures = evaluate(root / ds, [method], scale=scale, protocol="basicsr",
                                    extra={"lpips": lp.score_uint8})  # fmt: skip
        if failures:
            raise SystemExit(f"unreadable images in {ds}")
        bench[ds] = {"psnr_y": round(res.psnr_y, 4), "ssim_y": round(res.ssim_y, 5),
                     "lpips": round(res.extra["lpips"], 5), "n_images": res.n_images}  # fmt: skip
    meta["benchmarks"] = {k: v["psnr_y"] for k, v in bench.items()}
    meta["benchmarks_full"] = bench
    save_generator(out, g, meta)
    os.unlink(tmp)
    record = {"model": args.name, "iterations": iteration, "benchmarks": bench, "protocol": "basicsr",
              "eval_seconds": time.perf_counter() - t0, "machine": machine(),
              "command": " ".join(["python", "tools/ship_model.py", *sys.argv[1:]])}  # fmt: skip
    atomic_write_bytes(REPO / "benchmarks" / "results" / f"{args.name}.json", json.dumps(record, indent=2).encode())
    print(json.dumps(record["benchmarks"], indent=2))


if __name__ == "__main__":
    main()
