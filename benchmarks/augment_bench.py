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

With ``--protocol study`` (also with ``--prepare``), every run validates on one split of the
training subset (``Protocol.split_seed``) and the GAN is trained without those images (work folders
``gan-heldout``, ``synth-heldout``), so nothing chosen on validation was seen by the generator.
``--per-seed-split`` runs the first study's protocol instead (each seed its own split, the GAN in
``gan`` trained on all the subset, as for the quick protocol), which is what the interim results in
augment_cifar_study_per-seed-split.md were measured with (its result files are tagged so).
``--lecam W`` trains a LeCam-regularised GAN instead (work folders and result files tagged
``-lecamW``), the ablation issue 20 asks for.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, TypedDict

import torch
from common import REPO, RESULTS, command_line, data_dir, machine, machine_markdown

from srgan.augment.report import ReportInputs, StudyOptions, make_report, study_only
from srgan.augment.study import Protocol, validation_names
from srgan.data.labelled import load_images
from srgan.fsutil import atomic_write_bytes
from srgan.imageio import list_images
from srgan.train.loop import read_checkpoint


class DatasetSpec(TypedDict):
    """One benchmark dataset: where it lives, how much of it is real, and how the study treats it."""

    folder: str
    per_class: int
    size: int
    synth_per_class: int
    classical: int
    width: int
    flip: bool
    epoch_factor: int
    selection: str


SETS: dict[str, DatasetSpec] = {
    "mnist": {
        "folder": "MNIST-small",
        "per_class": 50,
        "size": 32,
        "synth_per_class": 500,
        "classical": 10,
        "width": 32,
        "flip": False,  # mirrored digits are other symbols
        "epoch_factor": 2,
        # its 50 validation images reach 100 % early, in every arm: the tie decides. Broken by the lower loss
        # (measured 2026-12-01, one seed, discarded) it kept the soft-label arm's epoch 28 of 120; the later
        # epoch, i.e. the schedule's end when nothing on validation tells epochs apart, is the rule now
        "selection": "accuracy+last",
    },
    "cifar": {
        "folder": "CIFAR10-small",
        "per_class": 500,
        "size": 32,
        "synth_per_class": 500,
        "classical": 1,
        "width": 32,
        "flip": True,
        "epoch_factor": 1,
        "selection": "accuracy",  # measured with the first-best rule (500 validation images rarely tie)
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


def protocol_for(name: str, study: Protocol) -> Protocol:
    """The study protocol as run on a dataset: its epochs (see :func:`epochs_for`) and epoch selection rule."""
    return replace(study, epochs=epochs_for(name, study.epochs), selection=SETS[name]["selection"])


def epochs_for(name: str, epochs: int) -> int:
    """Study epochs for a dataset: an epoch of MNIST-small's 450 training images is 4 steps (CIFAR10-small's
    4,500: 36), so MNIST runs ``epoch_factor`` (2) times as many epochs: 480 steps at 60, for an easier task."""
    return epochs * SETS[name]["epoch_factor"]


def suffix(truncation: float | None, exact: bool | None = None) -> str:
    """Of the samples' folder, the report's and the result files: the truncation, and "_exact" for float64 samples
    (``exact``; by default as --exact-samples says)."""
    exact = EXACT["on"] if exact is None else exact
    return ("" if truncation is None else f"_t{truncation:g}") + ("_exact" if exact else "")


class EpochLog:
    """The study's progress as a log line at most once a minute (which run, its epoch, its validation accuracy):
    a CPU run takes hours, and the study otherwise speaks only when a run ends."""

    def __init__(self, every: float = 60.0) -> None:
        self.every, self.last = every, 0.0

    def __call__(self, done: int, total: int, **info: object) -> None:
        if "epoch" in info and time.monotonic() - self.last >= self.every:
            self.last = time.monotonic()
            logging.info("run %d of %d: seed %s, %s, epoch %s, validation %s", done + 1, total, info.get("seed"),
                         info.get("arm"), info["epoch"], info.get("val"))  # fmt: skip


def cache_dir(name: str) -> Path:
    """The study's finished runs (one JSON per seed and arm, each seed's teacher), kept with the results so the
    report can be rewritten, or a study resumed, without training them again."""
    return RESULTS / "augment_study_cache" / name


#: on: the study with its fixed validation split, which the GAN is trained without (off: --per-seed-split,
#: the first study's protocol, and the quick protocol, whose GAN saw every image)
HELD_OUT = {"on": False}
#: LeCam regularisation's weight for the GAN (--lecam; 0: off, the recipe measured so far)
LECAM = {"weight": 0.0}
#: on: --prepare generates the samples in float64, the same images on every CPU (--exact-samples; off: float32, as
#: the studies measured before the option, whose samples another CPU rounds differently in a few values)
EXACT = {"on": False}
#: where --prepare trains the GAN (--device; batches, noise and augmentations are drawn on the CPU either way)
GAN_DEVICE = {"name": "cpu"}


def lecam_tag() -> str:
    return f"-lecam{LECAM['weight']:g}" if LECAM["weight"] else ""


def variant() -> str:
    """Suffix of the GAN's and its samples' work folders: "" (GAN on every image) or "-heldout", then
    "-lecamW" for a LeCam-regularised GAN."""
    return ("-heldout" if HELD_OUT["on"] else "") + lecam_tag()


def result_tag(name: str, truncation: float | None, study: bool) -> str:
    """augment_<tag>.md|json in benchmarks/results: the study with the first protocol (--per-seed-split) is
    tagged apart, so the held-out study never overwrites its interim results."""
    split = "_per-seed-split" if study and not HELD_OUT["on"] else ""
    return f"{name}{lecam_tag()}{suffix(truncation)}{'_study' if study else ''}{split}"


def work_dir(name: str) -> Path:
    return REPO / "runs" / "augment_bench" / name


def report_dir(name: str, truncation: float | None, study: bool = False) -> Path:
    return work_dir(name) / f"report{variant()}{suffix(truncation)}{'_study' if study else ''}"


def prepare(name: str, steps: int, truncation: float | None) -> dict[str, object]:
    """The training subset, the GAN (trained or resumed to ``steps``), its samples and the classical images."""
    from srgan.augment.classical import build_preset, run_classical  # albumentations: not needed by --study-seeds
    from srgan.augment.generate import generate
    from srgan.train.gan_trainer import GanConfig, train_gan

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
        lecam=LECAM["weight"],
        checkpoint_every=250,
        sample_every=500,
    )
    gan_dir = work / f"gan{variant()}"
    previous = gan_dir / "checkpoint.pt"
    start = read_checkpoint(previous)["iteration"] if previous.is_file() else 0
    t0 = time.perf_counter()
    hold_out = [] if not HELD_OUT["on"] else validation_names(load_images(train_dir, spec["size"]), Protocol())
    ckpt = train_gan(train_dir, gan_dir, cfg, resume=True, hold_out=hold_out, device=GAN_DEVICE["name"])
    gan_seconds = time.perf_counter() - t0
    synth = work / f"synth{variant()}{suffix(truncation)}"
    shutil.rmtree(synth, ignore_errors=True)
    t0 = time.perf_counter()
    counts = generate(ckpt, synth, per_class=spec["synth_per_class"], truncation=truncation, exact=EXACT["on"])
    gen_rate = sum(counts.values()) / (time.perf_counter() - t0)
    preset = build_preset("light" if name == "mnist" else "medium", flip=spec["flip"])
    # albumentations' per-transform seeding, with which the committed study caches' classical sets were made (their
    # digests cover every image): every transform drew the same numbers. `srgan augment` now draws from one stream
    run_classical(train_dir, work / "classical", pipeline=preset, per_image=spec["classical"], seed=1,
                  overwrite=True, seeding="per-transform")  # fmt: skip
    res: dict[str, object] = {"gan_steps": steps, "gan_seconds_this_run": gan_seconds}
    timing = gan_dir / "timing.json"
    if steps > start:
        per_1k = 1000 * gan_seconds / (steps - start)
        atomic_write_bytes(timing, json.dumps({"steps": steps, "seconds_per_1k_steps": per_1k,
                                               "trained_steps_timed": steps - start}).encode())  # fmt: skip
    else:
        per_1k = recorded_per_1k(name, steps)
    res["gan_seconds_per_1k_steps"] = per_1k
    res["generation_images_per_s"] = gen_rate
    return res


def prepared(name: str, steps: int, truncation: float | None) -> dict[str, object]:
    """What --prepare left (``--reuse-prepared``): the folders must be there; GAN timing as recorded then."""
    inputs = inputs_of(name, truncation)
    missing = [str(p) for p in (inputs.real, inputs.synth, inputs.classical) if p is None or not p.is_dir()]
    if missing:
        sys.exit(f"--reuse-prepared: {', '.join(missing)} missing; run with --prepare first")
    return {"gan_steps": steps, "gan_seconds_this_run": 0.0, "gan_seconds_per_1k_steps": recorded_per_1k(name, steps),
            "generation_images_per_s": None}  # fmt: skip


def recorded_per_1k(name: str, steps: int) -> float | None:
    """GAN seconds per 1k steps as recorded by the run that trained the checkpoint to ``steps``."""
    timing = work_dir(name) / f"gan{variant()}" / "timing.json"
    recorded = json.loads(timing.read_text()) if timing.is_file() else {}
    return recorded.get("seconds_per_1k_steps") if recorded.get("steps") == steps else None


def gan_cost(res: dict[str, Any]) -> str:
    per_1k, rate = res.get("gan_seconds_per_1k_steps"), res.get("generation_images_per_s")
    train = f"{per_1k:.0f} s per 1k steps" if per_1k else "training time not recorded with this checkpoint"
    return train + (f"; generation {rate:.0f} images/s" if rate else "; samples and classical images from --prepare")


def inputs_of(name: str, truncation: float | None, exact: bool | None = None) -> ReportInputs:
    work = work_dir(name)
    return ReportInputs(work / "train", work / f"synth{variant()}{suffix(truncation, exact)}",
                        data_dir() / SETS[name]["folder"] / "test", work / "classical",
                        work / f"gan{variant()}" / "checkpoint.pt")  # fmt: skip


def run(name: str, steps: int, report_steps: int, truncation: float | None,
        study: Protocol | None = None, opts: dict[str, Any] | None = None,
        reuse: bool = False) -> dict[str, object]:  # fmt: skip
    spec = SETS[name]
    res = prepare(name, steps, truncation) if not reuse else prepared(name, steps, truncation)
    res.update(make_report(inputs_of(name, truncation), report_dir(name, truncation, study is not None),
                           size=spec["size"], steps=report_steps, flip=spec["flip"], study=study,
                           study_cache=str(cache_dir(name)), progress=EpochLog(), **(opts or {})))  # fmt: skip
    res["truncation"] = truncation
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
    ap.add_argument("--shares", type=float, nargs="+", default=[], help="study protocol: extra synthetic shares")
    ap.add_argument(
        "--synthetic-counts",
        type=int,
        nargs="+",
        default=[],
        help="study protocol: also the plain and soft-label recipes on N synthetic images a class",
    )
    ap.add_argument(
        "--longer-controls", type=int, nargs="+", default=[], help="study protocol: also real-only over K x the epochs"
    )
    ap.add_argument(
        "--online-classical",
        nargs="+",
        default=[],
        metavar="PRESET",
        help="study protocol: also real + PRESET drawn anew each batch (arm online-PRESET), and with --shares S "
        "below 0.5 that arm with S of each batch soft-labelled synthetic images (online-PRESET+soft@S)",
    )
    ap.add_argument("--device", default="cpu", help="where the GAN (--prepare) and the study's classifiers train")
    ap.add_argument(
        "--prepare",
        action="store_true",
        help="only train/resume the GAN, generate and write the classical images (no report)",
    )
    ap.add_argument(
        "--reuse-prepared",
        action="store_true",
        help="report on what --prepare left, without touching the GAN, its samples or the classical images",
    )
    ap.add_argument("--seeds", type=int, default=3, metavar="N",
                    help="seeds the report reads (0 to N-1); --study-seeds may run any of them first")  # fmt: skip
    ap.add_argument(
        "--study-seeds",
        type=int,
        nargs="+",
        metavar="K",
        help="study protocol, after --prepare: run only these seeds' arms into the report's study cache "
        "(no report); one process per seed runs a study in parallel, the plain command then reads them",
    )
    ap.add_argument("--lecam", type=float, default=0.0, metavar="W",
                    help="LeCam-regularised GAN (own work folders and result files: the LeCam ablation)")  # fmt: skip
    ap.add_argument("--per-seed-split", action="store_true",
                    help="the first study's protocol: per-seed validation splits, GAN on all")  # fmt: skip
    ap.add_argument("--channels-last", action="store_true",
                    help="study protocol: train the classifiers channels-last (faster on a CPU: "
                         "benchmarks/study_speed.py); the study cache is keyed on the layout")  # fmt: skip
    ap.add_argument("--exact-samples", action="store_true",
                    help="generate the GAN's samples in float64, the same images on every CPU, so a study's runs are "
                         "read back on any machine (own sample folder, report and result files)")  # fmt: skip
    args = ap.parse_args()
    EXACT["on"] = args.exact_samples
    HELD_OUT["on"] = args.protocol == "study" and not args.per_seed_split
    LECAM["weight"] = args.lecam
    GAN_DEVICE["name"] = args.device
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if args.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels
    if args.prepare:
        for name in args.datasets:
            print(name, prepare(name, args.steps_mnist if name == "mnist" else args.steps_cifar, args.truncation))
        return
    study = None
    if args.protocol == "study":
        study = Protocol(epochs=args.epochs, budget=args.budget * 60 if args.budget else None,
                         split_seed=None if args.per_seed_split else 0, channels_last=args.channels_last)  # fmt: skip
    opts = {"arms": tuple(args.arms) if args.arms else None, "shares": tuple(args.shares), "device": args.device,
            "counts": tuple(args.synthetic_counts), "longer": tuple(args.longer_controls),
            "online": tuple(args.online_classical), "seeds": args.seeds}  # fmt: skip
    if args.study_seeds:
        if study is None:
            sys.exit("--study-seeds needs --protocol study")
        for name in args.datasets:
            spec = SETS[name]
            so = StudyOptions(protocol_for(name, study), spec["flip"], arms=opts["arms"], shares=opts["shares"],
                              device=args.device, cache=str(cache_dir(name)), counts=opts["counts"],
                              longer=opts["longer"], online=opts["online"])  # fmt: skip
            study_only(inputs_of(name, args.truncation), report_dir(name, args.truncation, True), so,
                       size=spec["size"], seeds=args.study_seeds, progress=EpochLog())  # fmt: skip
        return
    m = machine()
    for name in args.datasets:
        steps = args.steps_mnist if name == "mnist" else args.steps_cifar
        proto = None if study is None else protocol_for(name, study)
        res = run(name, steps, args.report_steps, args.truncation, proto, opts, args.reuse_prepared)
        tag = result_tag(name, args.truncation, study is not None)
        res.update(command=command_line(), machine=m)
        record = json.dumps(res, indent=2).replace(f"{REPO}/", "")  # paths relative to the repository
        atomic_write_bytes(RESULTS / f"augment_{tag}.json", record.encode())
        reports = report_dir(name, args.truncation, study is not None)
        report = (reports / "report.md").read_text().replace(f"{REPO}/", "")
        header = [f"Command: `{command_line()}`  ", f"Machine: {machine_markdown(m)}", "",
                  f"GAN: {res['gan_steps']} steps, {gan_cost(res)}.", ""]  # fmt: skip
        atomic_write_bytes(RESULTS / f"augment_{tag}.md", ("\n".join(header) + "\n" + report).encode())
        for grid in reports.glob("samples_*.png"):
            shutil.copy2(grid, RESULTS / f"augment_{tag}_{grid.name}")
        # the EMA generator's last training grid: one row per class, eight samples each
        if (last := work_dir(name) / f"gan{variant()}" / "samples" / f"step{steps:06d}.png").is_file():
            shutil.copy2(last, RESULTS / f"augment_{name}{variant()}_grid.png")
        print(report, flush=True)


if __name__ == "__main__":
    main()
