"""Where an unfinished downstream study stands: every cached run, per arm and seed, without training.

    python benchmarks/augment_study_progress.py [--datasets mnist cifar] [--seeds 3] [--shares 0.2]

``augment_bench.py --protocol study`` writes its report only when every run is cached; a study on
this CPU takes several sessions. This reads the study cache (benchmarks/results/augment_study_cache/)
through the study's own cache reader, so only runs the study itself would reuse are counted (same
data digest, same arm definition), and writes benchmarks/results/augment_study_progress.md: test
accuracy, the validation accuracy and epoch kept, and the run's time per arm and seed, and the paired
difference to real-only over the seeds both have (an interval from two seeds or more); a run still in
training shows the epoch its saved state has reached. A study that runs only some arms on this CPU
(``PLANS``, as docs/augment.md names them) lists those and counts its runs against them. Interim figures only: the
arm the study would choose, the sanity line and the verdict come with the report.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch
from common import RESULTS, command_line

from srgan.augment.study import Arm, ArmResult, Protocol, Run, default_arms
from srgan.augment.study_cache import REAL_ONLY, StudyCache
from srgan.augment.study_summary import compare, summarize, where_trained

NAMES = {"mnist": "MNIST-small", "cifar": "CIFAR10-small"}
# what a digest's runs were measured with, where docs/augment.md tells of them (the cache records only the digest)
NOTES = {
    "eba1f254a1": "the first study's protocol (`--per-seed-split`: each seed its own validation split, the GAN "
    "trained on all the real images), superseded by the held-out rerun; kept for docs/augment.md's interim table",
    "61b82ec70d": "the held-out protocol (one validation split, the GAN trained without it)",
    "2dcb7ea47a": "the held-out protocol (one validation split, the GAN trained without it), channels-last",
    "3019dc4790": "the held-out protocol over 240 epochs (4x the first), channels-last, the GAN's samples in float64 "
    "(`--exact-samples`, the same on every CPU): the recipes that did best at 60 epochs and synthetic pre-training "
    "(MNIST-small's best recipe, not run on CIFAR before), against real-only trained as long; real-only's runs at "
    "240 and 480 epochs are the 60-epoch study's `real-x4` and `real-x8`; `online-medium` (the classical preset drawn "
    "anew each batch, added 2026-12-07) tells whether the classical arm's fixed copies or its transforms cost it",
}
# the arms a study on this CPU runs, where it runs fewer than all (docs/augment.md names the plan); others left out
PLANS = {
    "2dcb7ea47a": (
        "real",
        "soft@0.2",
        "filtered-0.9@0.2",
        "classical",
        "synthetic@0.2",
        "combo-soft",
        "real-x2",
        "real-x4",
        "real-x8",
    ),
    "3019dc4790": ("real", "real-x2", "soft@0.2", "classical", "combo-soft", "pretrain", "online-medium"),
}


def studies(folder: Path) -> list[tuple[str, dict[frozenset[str], str]]]:
    """Full digests of the studies cached in ``folder``, planned ones and most runs first, each with the digest its
    real-only runs are keyed on (see :class:`StudyCache`), where some of its runs were saved under one."""
    count: dict[str, int] = {}
    narrow: dict[str, str] = {}
    for f in folder.glob("*.json"):
        try:
            rec = json.loads(f.read_text())
            d, study = rec["digest"], rec.get("study", rec["digest"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if study == d:
            count[d] = count.get(d, 0) + 1
        else:
            narrow.setdefault(study, d)
            if study[:10] in PLANS:
                count.setdefault(study, 0)  # a planned study with only real-only runs so far
    order = sorted(count, key=lambda d: (d[:10] not in PLANS, -count[d]))  # a planned study (docs/augment.md's) first
    return [(d, {REAL_ONLY: narrow[d]} if d in narrow else {}) for d in order]


def cell(run: Run | None) -> str:
    if run is None:
        return "-"
    hw = f", {run.hardware}" if run.hardware else ""
    return (f"{100 * run.test_accuracy:.2f} % (val {100 * run.val_accuracy:.1f} %, ep. {run.epoch}, "
            f"{run.seconds / 60:.1f} min {where_trained(run)}{hw})")  # fmt: skip


def difference(runs: list[Run | None], base: list[Run | None]) -> str:
    """Paired difference to ``base`` (real-only, or the steps control) over the seeds both have."""
    pairs = [(b.test_accuracy, r.test_accuracy) for r, b in zip(runs, base, strict=True) if r and b]
    if not pairs:
        return ""
    c = compare(*np.array(pairs).T)
    ci = "" if math.isnan(c["ci_low"]) else f" ({100 * c['ci_low']:+.2f} to {100 * c['ci_high']:+.2f})"
    return f"{100 * c['mean']:+.2f}{ci}, {c['n']} seed{'s' if c['n'] > 1 else ''}"


def copied(cache: StudyCache, seed: int, arm: Arm) -> str:
    """Where a real-only run read from a study with fewer epochs came from (``1c1d47c772-seed0-real-x4``)."""
    source = cache.copied_from(seed, arm)
    return f", from `{source.removesuffix('.json')}`" if source else ""


def unfinished(cache: StudyCache, seed: int, arm: Arm) -> str:
    """A run not cached yet: "-", or how far its saved state (``...-train.partial.pt``, or the pre-training stage's
    ``...-pretrain.partial.pt`` before it) has come."""
    path = cache.resume(seed, arm, "train").path
    stage = ""
    if not path.is_file():
        path, stage = cache.resume(seed, arm, "pretrain").path, "pre-training "
        if not path.is_file():
            return "-"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a truncated pickle fails in many ways; the study itself starts such a run over
        return "- (saved state unreadable)"
    return f"- ({stage}saved at epoch {state['epoch']} of {state['meta']['epochs']}, {state['seconds'] / 60:.0f} min)"


def _summary(runs: dict[str, list[Run | None]], arms: list[Arm], real: Arm, seeds: int) -> dict[str, object]:
    """:func:`summarize` over ``arms``' cached runs, at the study's --epochs (no budget cut real-only's runs)."""
    results = {a.name: ArmResult(a, [r for r in runs[a.key] if r is not None]) for a in arms}
    epochs = next(r.epochs_run for r in runs["real"] if r is not None)
    return summarize(results, real, Protocol(epochs=epochs), seeds)


def convergence(runs: dict[str, list[Run | None]], arms: list[Arm], seeds: int) -> str | None:
    """The report's convergence line (:func:`summarize`'s) over the real-only arms that have every seed."""
    chain = [a for a in arms if not a.extra and all(runs[a.key])]
    if len(chain) < 2 or chain[0].key != "real":
        return None
    return _summary(runs, chain, chain[0], seeds)["convergence"]


def resolution(runs: dict[str, list[Run | None]], arms: list[Arm], seeds: int) -> str | None:
    """The report's resolution line (:func:`summarize`'s) over the arms that have every seed."""
    done = [a for a in arms if all(runs[a.key])]
    real = next((a for a in done if a.key == "real"), None)
    if real is None or len(done) < 2:
        return None
    return _summary(runs, done, real, seeds).get("resolution")


def study_table(cache: StudyCache, arms: list[Arm], seeds: int) -> tuple[list[str], int]:
    runs = {a.key: [(cache.load(s, a) or (None, 0))[0] for s in range(seeds)] for a in arms}
    control = "real-x2" if any(runs.get("real-x2", [])) else None  # the steps control, where it has a run
    head = "| arm | key | " + " | ".join(f"seed {s}" for s in range(seeds)) + " | vs real, paired (95 % CI) |"
    lines = [head + (" vs real-x2, paired |" if control else ""), "|---|---|" + "---:|" * (seeds + 1 + bool(control))]
    for a in arms:
        vs = "" if a.key == "real" else difference(runs[a.key], runs["real"])
        if control:
            vs += " | " + (difference(runs[a.key], runs[control]) if a.extra or a.online or a.epoch_scale > 2 else "")
        cells = [cell(r) + copied(cache, s, a) if r is not None else unfinished(cache, s, a)
                 for s, r in enumerate(runs[a.key])]  # fmt: skip
        lines.append(f"| {a.name} | `{a.key}` | " + " | ".join(cells) + f" | {vs} |")
    if line := convergence(runs, arms, seeds):
        lines += ["", f"Convergence (the report's line, from the real-only arms with all {seeds} seeds): {line}."]
    if line := resolution(runs, arms, seeds):
        lines += ["", f"Resolution (the report's line, from the arms with all {seeds} seeds): {line}."]
    return lines, sum(r is not None for rs in runs.values() for r in rs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["mnist", "cifar"], choices=sorted(NAMES))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--shares", type=float, nargs="*", default=[0.2], help="the study's --shares")
    args = ap.parse_args()
    arms = default_arms(True, shares=tuple(args.shares), longer=(4, 8), online=("medium",))
    out = ["# Downstream studies in progress", "", f"Written by `{command_line()}` from the study cache; "
           "interim figures (the report, written when every run is cached, chooses the recipe). A cell is the test "
           "accuracy, the validation accuracy of the epoch kept on it, that epoch and the run's wall time where it "
           "ran (GPU runs shared one GPU with other runs, so their time is not a per-run cost).", ""]  # fmt: skip
    for name in args.datasets:
        folder = RESULTS / "augment_study_cache" / name
        for digest, keyed in studies(folder):
            plan = PLANS.get(digest[:10])
            # a study without a plan ran the default arms (longer controls than real-x2 and online presets are opt-in)
            planned = (
                [a for a in arms if a.key in plan] if plan else [a for a in arms if a.epoch_scale <= 2 and not a.online]
            )
            lines, done = study_table(StudyCache(folder, digest, narrow=keyed), planned, args.seeds)
            if done == 0:
                continue  # runs of an older arm definition or protocol: the study would not reuse them
            n = len(planned) * args.seeds
            of = f"its {n} planned runs cached ({len(planned)} of the {len(arms)} arms)" if plan else f"{n} runs cached"
            out += [
                f"## {NAMES[name]}, study {digest[:10]}: {done} of {of}",
                "",
            ]
            if digest[:10] in NOTES:
                out += [f"Measured with {NOTES[digest[:10]]}.", ""]
            out += [*lines, ""]
    path = RESULTS / "augment_study_progress.md"
    path.write_text("\n".join(out))
    print(path.read_text())


if __name__ == "__main__":
    main()
