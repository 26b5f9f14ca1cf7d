"""Which generator size gives the best Set5 PSNR for the same CPU time? (equal wall-clock budget)

    python benchmarks/size_sweep.py [--minutes 10]

Each candidate trains the srresnet-x4 recipe (L1, T91 + BSD200, batch 16 x 128px, cosine
schedule) for a number of iterations that fills the same wall-clock budget on this machine
(measured throughput x budget), then its EMA-free weights are scored on Set5 x4 (basicsr
protocol). A proxy for "a few hours" of training: it favours small models slightly.
Writes benchmarks/results/size_sweep.md and .json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from common import REPO, RESULTS, command_line, data_dir, machine, machine_markdown

from srgan.evaluate import evaluate
from srgan.infer import model_method
from srgan.io import atomic_write_bytes
from srgan.train import load_config, train
from srgan.train.trainer import Trainer

CANDIDATES = [(32, 8), (48, 12), (64, 16)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=10.0)
    args = ap.parse_args()
    root = data_dir()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for feat, blocks in CANDIDATES:
            sets = [f"model.num_feat={feat}", f"model.num_blocks={blocks}", 'val.dir=""', "train.ema_decay=0",
                    "train.warmup=50", "train.checkpoint_every=100000"]  # fmt: skip
            # Throughput first (a few steps), then the iteration count that fills the budget.
            probe = Trainer(load_config(REPO / "configs" / "srresnet-x4.toml", sets), Path(tmp) / "probe",
                            progress=False)  # fmt: skip
            import torch

            loader = iter(torch.utils.data.DataLoader(probe.dataset, batch_size=16, sampler=range(0, 16 * 8)))
            probe.train_step(*next(loader))
            t0 = time.perf_counter()
            for _ in range(6):
                probe.train_step(*next(loader))
            rate = 6 / (time.perf_counter() - t0)
            iters = max(100, int(rate * args.minutes * 60))
            cfg = load_config(REPO / "configs" / "srresnet-x4.toml", [*sets, f"train.iterations={iters}"])
            t0 = time.perf_counter()
            res = train(cfg, Path(tmp) / f"f{feat}b{blocks}", progress=False)
            wall = time.perf_counter() - t0
            (ev,), _ = evaluate(root / "Set5", [model_method(res["weights"], 4, "cpu")], scale=4, progress=False)
            params = sum(p.numel() for p in probe.g.parameters())
            rows.append({"num_feat": feat, "num_blocks": blocks, "parameters": params, "it_per_s": rate,
                         "iterations": iters, "train_seconds": wall, "set5_psnr_y": ev.psnr_y,
                         "set5_ssim_y": ev.ssim_y})  # fmt: skip
            print(rows[-1], flush=True)
    m = machine()
    record = {"command": command_line(), "machine": m, "minutes": args.minutes, "rows": rows}
    atomic_write_bytes(RESULTS / "size_sweep.json", json.dumps(record, indent=2).encode())
    lines = [
        f"# Generator size at equal CPU time ({args.minutes:g} minutes of training each, x4)",
        "",
        f"Command: `{command_line()}`  ",
        f"Machine: {machine_markdown(m)}",
        "",
        "| num_feat x blocks | parameters | iterations/s | iterations | Set5 x4 PSNR-Y | SSIM-Y |",
        "|---|---:|---:|---:|---:|---:|",
        *[f"| {r['num_feat']} x {r['num_blocks']} | {r['parameters']:,} | {r['it_per_s']:.2f} | {r['iterations']} "
          f"| {r['set5_psnr_y']:.2f} | {r['set5_ssim_y']:.4f} |" for r in rows],
    ]  # fmt: skip
    atomic_write_bytes(RESULTS / "size_sweep.md", ("\n".join(lines) + "\n").encode())
    print("\n".join(lines))


if __name__ == "__main__":
    main()
