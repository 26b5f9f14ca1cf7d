"""Speed of the augment study's classifier training in each memory layout, and whether the layout changes results.

    python benchmarks/study_speed.py [--images 1152] [--epochs 2] [--repeats 3] [--device cpu]

Trains the study's ResNet-20 (``srgan.augment.study.train``, CIFAR's 32 px, batch 128, the study's
crop and flip) on ``--images`` images drawn (seed 0) from CIFAR10-small's train split, validating on 500
others, once in the default (contiguous) layout and once channels-last (``Protocol.channels_last``),
alternating ``--repeats`` times so a slow spell of the machine hits both. Reports seconds per epoch
(median), the speed-up, and the validation accuracy each layout reaches (the same arithmetic in
another order: equal up to rounding). Writes benchmarks/results/study_speed.md and .json.
"""

from __future__ import annotations

import argparse
import statistics

import torch
from common import command_line, dataset_dir, machine, machine_markdown, write_results

from srgan.augment.study import Protocol, train
from srgan.data.labelled import load_images


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=1152)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    data = load_images(dataset_dir("CIFAR10-small") / "train", 32)
    n = args.images
    order = torch.randperm(len(data.labels), generator=torch.Generator().manual_seed(0))  # every class mixed in
    real = (data.images[order[:n]], data.labels[order[:n]])
    val = (data.images[order[n : n + 500]], data.labels[order[n : n + 500]])
    k = len(data.classes)
    seconds: dict[bool, list[float]] = {False: [], True: []}
    val_acc: dict[bool, float] = {}
    for _ in range(args.repeats):
        for layout in (False, True):
            proto = Protocol(epochs=args.epochs, channels_last=layout)
            _, run = train(real, val, num_classes=k, proto=proto, seed=0, device=args.device)
            seconds[layout].append(run.seconds / run.epochs_run)
            val_acc[layout] = run.val_accuracy
    rows = [{"channels_last": layout, "s_per_epoch": statistics.median(seconds[layout]), "all": seconds[layout],
             "val_accuracy": val_acc[layout]} for layout in (False, True)]  # fmt: skip
    speedup = rows[0]["s_per_epoch"] / rows[1]["s_per_epoch"]
    m = machine()
    rec = {"command": command_line(), "machine": m, "images": n, "epochs": args.epochs, "device": args.device,
           "threads": torch.get_num_threads(), "rows": rows, "speedup": speedup}  # fmt: skip
    lines = [
        "# The study's classifier: training speed by memory layout",
        "",
        f"Command: `{command_line()}`  ",
        f"Machine: {machine_markdown(m)}; device {args.device}  ",
        f"ResNet-20, {n} CIFAR10-small images, batch 128, {args.epochs} epochs, seed 0; {args.repeats} runs each",
        "",
        "| layout | seconds per epoch (median) | each run | validation accuracy (500 images) |",
        "|---|---:|---|---:|",
    ]
    for r in rows:
        each = ", ".join(f"{s:.1f}" for s in r["all"])
        name = "channels-last" if r["channels_last"] else "contiguous (default)"
        lines.append(f"| {name} | {r['s_per_epoch']:.2f} | {each} | {100 * r['val_accuracy']:.1f} % |")
    lines += ["", f"Channels-last is {speedup:.2f}x the default's speed."]
    write_results("study_speed", rec, lines)


if __name__ == "__main__":
    main()
