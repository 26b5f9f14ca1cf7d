"""The augmenter on MNIST-small (50 train images per class) and CIFAR10-small (500 per class).

    python benchmarks/augment_bench.py [--datasets mnist cifar] [--steps-mnist 3000] [--steps-cifar 20000]
                                       [--truncation T]

For each dataset: draw the training subset from train/ (fixed seed), train the GAN engine
on it, generate synthetic images, run the classical engine, then the report (GAN-test
accuracy, SqueezeNet FID/KID, downstream study on the test/ folder over 3 seeds). Records
CPU cost: GAN training seconds per 1k steps and generation images/s. Work folders live in
runs/augment_bench/ (resumable: rerun to continue an interrupted GAN). Writes
benchmarks/results/augment_<dataset>.md|json and copies the sample grids beside them.
``--truncation T`` generates with BigGAN's truncation trick from the same checkpoint (trained
first if needed) and writes augment_<dataset>_t<T>.* instead; a run that trains no further
steps reuses the GAN timing recorded by the run that trained the checkpoint.
``--protocol study`` runs the downstream study of ``srgan.augment.study`` (ResNet-20 to
convergence, validation-chosen epochs, every synthetic recipe, paired intervals) instead of the
quick fixed-step CNN, with ``--epochs`` and ``--budget`` (minutes per run), and writes
augment_<dataset>_study.* so the quick results stay as they were measured.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import time
from pathlib import Path

import torch
from common import REPO, RESULTS, command_line, data_dir, machine, machine_markdown

from srgan.augment.classical import build_preset, run_classical
from srgan.augment.generate import generate
from srgan.augment.report import ReportInputs, make_report
from srgan.augment.study import Protocol
from srgan.fsutil import atomic_write_bytes
from srgan.imageio import list_images
from srgan.train.gan_trainer import GanConfig, train_gan
from srgan.train.loop import read_checkpoint

SETS = {
    "mnist": {
        "folder": "MNIST-small",
        "per_class": 50,
        "size": 32,
        "synth_per_class": 500,
        "classical": 10,
        "width": 32,
        "flip": False,  # mirrored digits are other symbols
    },
    "cifar": {
        "folder": "CIFAR10-small",
        "per_class": 500,
        "size": 32,
        "synth_per_class": 500,
        "classical": 1,
        "width": 32,
        "flip": True,
    },
}


def subset(src: Path, dst: Path, per_class: int, seed: int = 0) -> None:
    """Copy ``per_class`` random images of each class (fixed seed) from src/<class>/ to dst/<class>/."""
    if dst.exists():
        return
    rng = random.Random(seed)
    for cls in sorted(d for d in src.iterdir() if d.is_dir()):
        files = list_images(cls)
        for f in rng.sample(files, per_class):
            (dst / cls.name).mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dst / cls.name / f.name)


def suffix(truncation: float | None) -> str:
    return "" if truncation is None else f"_t{truncation:g}"


def work_dir(name: str) -> Path:
    return REPO / "runs" / "augment_bench" / name


def report_dir(name: str, truncation: float | None, study: bool = False) -> Path:
    return work_dir(name) / f"report{suffix(truncation)}{'_study' if study else ''}"


def run(name: str, steps: int, report_steps: int, truncation: float | None,
        study: Protocol | None = None, arms: tuple[str, ...] | None = None) -> dict[str, object]:  # fmt: skip
    spec = SETS[name]
    root = data_dir() / spec["folder"]
    work = work_dir(name)
    train_dir = work / "train"
    subset(root / "train", train_dir, spec["per_class"])
    cfg = GanConfig(
        size=spec["size"],
        steps=steps,
        batch_size=64,
        g_base=spec["width"],
        d_base=spec["width"],
        flip=spec["flip"],
        checkpoint_every=250,
        sample_every=500,
    )
    previous = work / "gan" / "checkpoint.pt"
    start = read_checkpoint(previous)["iteration"] if previous.is_file() else 0
    t0 = time.perf_counter()
    ckpt = train_gan(train_dir, work / "gan", cfg, resume=True)
    gan_seconds = time.perf_counter() - t0
    synth = work / f"synth{suffix(truncation)}"
    shutil.rmtree(synth, ignore_errors=True)
    t0 = time.perf_counter()
    counts = generate(ckpt, synth, per_class=spec["synth_per_class"], truncation=truncation)
    gen_rate = sum(counts.values()) / (time.perf_counter() - t0)
    classical = work / "classical"
    preset = build_preset("light" if name == "mnist" else "medium", flip=spec["flip"])
    run_classical(train_dir, classical, pipeline=preset,
                  per_image=spec["classical"], seed=1, overwrite=True)  # fmt: skip
    res = make_report(ReportInputs(train_dir, synth, root / "test", classical),
                      report_dir(name, truncation, study is not None), size=spec["size"], steps=report_steps,
                      flip=spec["flip"], study=study, arms=arms)  # fmt: skip
    res["gan_steps"] = steps
    res["gan_seconds_this_run"] = gan_seconds
    timing = work / "gan" / "timing.json"
    per_1k = None
    if steps > start:
        per_1k = 1000 * gan_seconds / (steps - start)
        atomic_write_bytes(timing, json.dumps({"steps": steps, "seconds_per_1k_steps": per_1k,
                                               "trained_steps_timed": steps - start}).encode())  # fmt: skip
    elif timing.is_file() and (recorded := json.loads(timing.read_text()))["steps"] == steps:
        per_1k = recorded["seconds_per_1k_steps"]  # the run that trained this checkpoint
    res["gan_seconds_per_1k_steps"] = per_1k
    res["truncation"] = truncation
    res["generation_images_per_s"] = gen_rate
    res["torch_threads"] = torch.get_num_threads()
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--datasets", nargs="+", default=["mnist", "cifar"])
    ap.add_argument("--steps-mnist", type=int, default=3000)
    ap.add_argument("--steps-cifar", type=int, default=20000)
    ap.add_argument("--truncation", type=float, default=None, help="generate with the truncation trick (e.g. 0.5)")
    ap.add_argument("--report-steps", type=int, default=1500, help="quick protocol: classifier steps per run")
    ap.add_argument("--protocol", choices=("quick", "study"), default="quick")
    ap.add_argument("--epochs", type=int, default=60, help="study protocol: epochs over the real images per run")
    ap.add_argument("--budget", type=float, default=None, metavar="MIN", help="study protocol: minutes per run")
    ap.add_argument(
        "--arms", nargs="+", default=None, help="study protocol: arms besides real (see srgan augment report)"
    )
    args = ap.parse_args()
    study = None
    if args.protocol == "study":
        study = Protocol(epochs=args.epochs, budget=args.budget * 60 if args.budget else None)
    m = machine()
    for name in args.datasets:
        steps = args.steps_mnist if name == "mnist" else args.steps_cifar
        res = run(name, steps, args.report_steps, args.truncation, study, tuple(args.arms) if args.arms else None)
        tag = f"{name}{suffix(args.truncation)}{'_study' if study else ''}"
        res.update(command=command_line(), machine=m)
        record = json.dumps(res, indent=2).replace(f"{REPO}/", "")  # paths relative to the repository
        atomic_write_bytes(RESULTS / f"augment_{tag}.json", record.encode())
        reports = report_dir(name, args.truncation, study is not None)
        report = (reports / "report.md").read_text().replace(f"{REPO}/", "")
        header = [f"Command: `{command_line()}`  ", f"Machine: {machine_markdown(m)}", "",
                  f"GAN: {res['gan_steps']} steps, {res['gan_seconds_per_1k_steps'] or 0:.0f} s per 1k steps; "
                  f"generation {res['generation_images_per_s']:.0f} images/s.", ""]  # fmt: skip
        atomic_write_bytes(RESULTS / f"augment_{tag}.md", ("\n".join(header) + "\n" + report).encode())
        for grid in reports.glob("samples_*.png"):
            shutil.copy2(grid, RESULTS / f"augment_{tag}_{grid.name}")
        # the EMA generator's last training grid: one row per class, eight samples each
        shutil.copy2(work_dir(name) / "gan" / "samples" / f"step{steps:06d}.png", RESULTS / f"augment_{name}_grid.png")
        print(report, flush=True)


if __name__ == "__main__":
    main()
