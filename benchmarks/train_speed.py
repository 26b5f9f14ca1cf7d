"""Training throughput of each shipped config on this machine: iterations/s and HR patches/s.

    python benchmarks/train_speed.py [--iters 20] [--warmup 3]

Each config is built exactly as `srgan train` builds it; the gan config starts from a
fresh generator when its init_from weights do not exist yet (speed does not depend on them).
Writes benchmarks/results/train_speed.md and .json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from common import REPO, command_line, machine, page_header, write_results

from srgan.archs import build_generator
from srgan.train import load_config
from srgan.train.sr_trainer import Trainer
from srgan.weights import save_generator

CONFIGS = ("srresnet-x4", "srresnet-x2", "srgan-x4")


def measure(name: str, iters: int, warmup: int, tmp: Path) -> dict[str, object]:
    overrides = [f"train.iterations={iters + warmup}", 'val.dir=""']
    cfg = load_config(REPO / "srgan" / "configs" / f"{name}.toml", overrides)
    if cfg.train.stage == "gan" and not Path(cfg.train.init_from).is_file():
        init = tmp / f"{name}-init.safetensors"
        torch.manual_seed(0)
        save_generator(init, build_generator(cfg.model.arch, **cfg.model.hparams()))
        cfg.train.init_from = str(init)
    trainer = Trainer(cfg, tmp / name)
    loader = iter(torch.utils.data.DataLoader(trainer.dataset, batch_size=cfg.data.batch_size,
                                              sampler=range(0, (iters + warmup) * cfg.data.batch_size)))  # fmt: skip
    for _ in range(warmup):
        trainer.train_step(*next(loader))
    t0 = time.perf_counter()
    data_s = 0.0
    for _ in range(iters):
        td = time.perf_counter()
        lr, hr = next(loader)
        data_s += time.perf_counter() - td
        trainer.train_step(lr, hr)
    dt = time.perf_counter() - t0
    g = trainer.g
    return {
        "config": name,
        "stage": cfg.train.stage,
        "parameters": sum(p.numel() for p in g.parameters()),
        "batch": cfg.data.batch_size,
        "hr_patch": cfg.data.patch_size,
        "threads": torch.get_num_threads(),
        "it_per_s": iters / dt,
        "hr_patches_per_s": iters * cfg.data.batch_size / dt,
        "data_fraction": data_s / dt,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(n, args.iters, args.warmup, Path(tmp)) for n in CONFIGS]
    m = machine()
    lines = [
        *page_header("Training throughput", m),
        "| config | stage | parameters (G) | batch x HR patch | threads | iterations/s | HR patches/s | data loading |",
        "|---|---|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['config']} | {r['stage']} | {r['parameters']:,} | {r['batch']} x {r['hr_patch']}px | {r['threads']} "
            f"| {r['it_per_s']:.2f} | {r['hr_patches_per_s']:.1f} | {100 * r['data_fraction']:.0f}% |"
        )
    write_results("train_speed", {"command": command_line(), "machine": m, "rows": rows}, lines)


if __name__ == "__main__":
    main()
