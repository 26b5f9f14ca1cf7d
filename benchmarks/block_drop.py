"""Which residual blocks a trained generator misses least: greedy removal, scored by L1 on degraded photos.

    python benchmarks/block_drop.py weights/training/realsr-x4-mild-long2/raw.safetensors --keep 8 \
        [--datasets 'BSD200[::10]'] [--name block_drop]

The residual blocks of an SRResNet body each add a correction to the features, so the network still
runs with any of them left out. From all blocks, this removes the one whose absence raises the mean L1
(RGB, 0-1, against HR) least on realworld.py's degraded LR (one-stage and two-stage recipes, its seeds),
then measures again and repeats until ``--keep`` blocks are left. The kept blocks, in order, are what a
smaller network fine-tuned from this one starts with (benchmarks/configs/realsr-x4-b8.toml). Writes
benchmarks/results/NAME.md and .json.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from common import command_line, dataset_dir, machine, page_header, write_results
from realworld import make_lr_folder
from torch import nn

from srgan.imageio import list_images, read_image
from srgan.metrics.protocol import prepare_hr
from srgan.weights import load_generator


@dataclass
class Step:
    dropped: int | None  # the block removed at this step (None: the full model)
    kept: list[int]
    l1: float
    candidates: dict[int, float] = field(default_factory=dict)  # L1 with each block left dropped


def _pairs(datasets: list[str], tmp: Path) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(LR, HR) float tensors in [0, 1] for each photo and each recipe."""
    out = []
    for ds in datasets:
        hr_dir = dataset_dir(ds)
        for two_stage in (False, True):
            lr_dir = tmp / f"{ds}-{int(two_stage)}"
            make_lr_folder(hr_dir, lr_dir, two_stage)
            for f in list_images(hr_dir):
                hr = prepare_hr(read_image(f), 4, "basicsr")
                lr = read_image(lr_dir / f"{f.stem}.png")
                out.append(tuple(torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float() / 255
                                 for a in (lr, hr)))  # fmt: skip
    return out  # type: ignore[return-value]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="an srgan SRResNet weights file or shipped model name")
    ap.add_argument("--keep", type=int, required=True, help="stop when this many blocks are left")
    ap.add_argument("--datasets", nargs="+", default=["BSD200[::10]"])
    ap.add_argument("--name", default="block_drop")
    args = ap.parse_args()
    net, _ = load_generator(args.model)
    net.eval()
    blocks = list(net.body)  # type: ignore[arg-type]
    if not 0 < args.keep < len(blocks):
        raise SystemExit(f"--keep must be between 1 and {len(blocks) - 1} (the model has {len(blocks)} blocks)")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        pairs = _pairs(args.datasets, Path(tmp))

    def l1(keep: list[int]) -> float:
        net.body = nn.Sequential(*(blocks[i] for i in keep))
        with torch.inference_mode():
            return float(np.mean([(net(lr).clamp(0, 1) - hr).abs().mean().item() for lr, hr in pairs]))

    keep = list(range(len(blocks)))
    steps = [Step(None, list(keep), l1(keep))]
    while len(keep) > args.keep:
        candidates = {i: l1([k for k in keep if k != i]) for i in keep}
        best = min(candidates, key=candidates.__getitem__)
        keep.remove(best)
        steps.append(Step(best, list(keep), candidates[best], candidates))
    m = machine()
    record = {"command": command_line(), "machine": m, "seconds": time.perf_counter() - t0, "model": args.model,
              "datasets": args.datasets, "images": len(pairs),
              "steps": [dataclasses.asdict(step) for step in steps]}  # fmt: skip
    lines = [
        *page_header(f"Greedy residual-block removal: {Path(args.model).name}", m),
        f"Mean L1 (RGB, 0-1) over {len(pairs)} degraded LR ({', '.join(args.datasets)}; realworld.py's one-stage",
        "and two-stage recipes) with the blocks left, no fine-tuning. Blocks are numbered from 0 in the full model.",
        "",
        "| step | dropped | L1 after | blocks kept | L1 with each candidate dropped (best first) |",
        "|---:|---:|---:|---|---|",
    ]
    for n, step in enumerate(steps):
        ranked = ", ".join(f"{i}: {v:.5f}" for i, v in sorted(step.candidates.items(), key=lambda kv: kv[1]))
        dropped = "-" if step.dropped is None else str(step.dropped)
        lines.append(f"| {n} | {dropped} | {step.l1:.5f} | {', '.join(map(str, step.kept))} | {ranked} |")
    write_results(args.name, record, lines)


if __name__ == "__main__":
    main()
