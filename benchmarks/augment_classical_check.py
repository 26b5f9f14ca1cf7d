"""What the classical set does to the images the study's classifier sees: why real + classical can lose to real.

    python benchmarks/augment_classical_check.py [--seeds 0 1 2]

Run after ``augment_bench.py --datasets cifar --prepare --protocol study --exact-samples`` (it reads the classical
images that left, and the committed teachers of the 240-epoch study: ResNet-20s trained on the real images only).

The study's real-only baseline already trains with the field's augmentation (padded random crop and flip, drawn
anew every batch). The classical arm adds one fixed copy of each real image made by ``srgan augment``'s ``medium``
preset (flip, affine, colour jitter, and blur or noise on 30 % of the copies) and gives it half of every batch.
This measures, on the validation images (held out from every run, so the teachers never saw their sources or
their copies), how far each kind of copy moves from what a real-only classifier recognises: its accuracy and its
probability of the true class on the sources and on their copies, grouped by the transforms each copy had
(read from the classical set's manifest), and how much fine detail each group keeps (the variance of the
Laplacian, copy over source). Writes benchmarks/results/augment_classical_check.md and .json.
"""

from __future__ import annotations

import argparse
import json
import re

import numpy as np
import torch
from augment_bench import HELD_OUT, inputs_of
from augment_cache_check import EXACT_STUDIES, prepared_study
from common import RESULTS, command_line, machine, machine_markdown

from srgan.archs.classifier import class_probs
from srgan.augment.classical import source_of
from srgan.augment.study import classifier_from_state, validation_names

#: the kinds a copy is grouped by, from the transforms its manifest line lists (blur and noise never meet: OneOf)
GROUPS = ("blur", "noise", "neither")


def kinds(manifest: list[dict[str, object]]) -> dict[str, str]:
    """Each copy's name (``cat/0001_aug000``, as the image sets name them) and its group."""
    out = {}
    for rec in manifest:
        if rec.get("status") != "augmented":
            continue
        names = {t["transform"] for t in rec["transforms"]}  # type: ignore[union-attr]
        group = "blur" if "GaussianBlur" in names else "noise" if "GaussNoise" in names else "neither"
        out[re.sub(r"\.[^.]+$", "", str(rec["output"]))] = group
    return out


def laplacian_variance(x: torch.Tensor) -> np.ndarray:
    """Per image, the variance of the 4-neighbour Laplacian of the mean of the channels (a sharpness score)."""
    g = x.double().mean(1)
    lap = g[:, 1:-1, :-2] + g[:, 1:-1, 2:] + g[:, :-2, 1:-1] + g[:, 2:, 1:-1] - 4 * g[:, 1:-1, 1:-1]
    return lap.flatten(1).var(1).numpy()


def check(seeds: list[int]) -> dict[str, object]:
    prefix, study = EXACT_STUDIES["cifar"]
    cache, sets = prepared_study("cifar", study, exact=True)
    real, classical = sets["real"], sets["classical"]
    folder = inputs_of("cifar", None, True).classical
    manifest = [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines() if line.strip()]
    group_of = kinds(manifest)
    held = set(validation_names(real, study))
    index = {n: i for i, n in enumerate(real.names)}
    pairs = [(index[source_of(n)], j, group_of[n]) for j, n in enumerate(classical.names) if source_of(n) in held]
    src = torch.tensor([p[0] for p in pairs])
    cop = torch.tensor([p[1] for p in pairs])
    groups = np.array([p[2] for p in pairs])
    labels = real.labels[src]
    sharp = laplacian_variance(classical.images[cop]) / np.maximum(laplacian_variance(real.images[src]), 1e-12)
    share = {g: float((np.array(list(group_of.values())) == g).mean()) for g in GROUPS}
    out: dict[str, object] = {"study": prefix, "copies": len(group_of), "validation_pairs": len(pairs),
                              "share": share, "seeds": {}, "detail_kept": {}}  # fmt: skip
    for g in GROUPS:
        m = groups == g
        out["detail_kept"][g] = {"n": int(m.sum()), "median": float(np.median(sharp[m]))}  # type: ignore[index]
    for seed in seeds:
        state = cache.load_teacher(seed)
        if state is None:
            raise SystemExit(f"no teacher for seed {seed} of study {prefix}: train its real-only run first")
        teacher = classifier_from_state(real, state, "cpu")
        p_src, p_cop = class_probs(teacher, real.images[src]), class_probs(teacher, classical.images[cop])
        rows = {}
        for g in (*GROUPS, "all"):
            m = torch.from_numpy(groups == g) if g != "all" else torch.ones(len(pairs), dtype=torch.bool)
            y = labels[m]
            rows[g] = {"n": int(m.sum()),
                       "source_accuracy": float((p_src[m].argmax(1) == y).float().mean()),
                       "copy_accuracy": float((p_cop[m].argmax(1) == y).float().mean()),
                       "source_p_true": float(p_src[m].gather(1, y[:, None]).mean()),
                       "copy_p_true": float(p_cop[m].gather(1, y[:, None]).mean())}  # fmt: skip
        out["seeds"][str(seed)] = rows  # type: ignore[index]
    return out


def markdown(res: dict[str, object], cmd: str) -> str:
    lines = ["# The classical set, seen by a real-only classifier", "", f"Command: `{cmd}`", "",
             f"Study `{res['study']}` (CIFAR10-small, 240 epochs). {res['copies']} classical copies, one per real "
             f"image; {res['validation_pairs']} of them are copies of validation images, which no run trains on "
             "and no teacher saw. Teachers: the study's real-only ResNet-20s.", "",
             "| copies with | share of all copies | validation pairs | detail kept (median Laplacian variance, copy / "
             "source) |", "|---|---:|---:|---:|"]  # fmt: skip
    share, kept = res["share"], res["detail_kept"]
    for g in GROUPS:
        lines.append(f"| {g} | {100 * share[g]:.1f} % | {kept[g]['n']} | {kept[g]['median']:.2f} |")  # type: ignore[index]
    lines += ["", "Noise adds Laplacian variance of its own, so the noise row's detail figure is no sharpness reading. "
              "Blur and noise are one `OneOf` in the preset: no copy has both.", "",
              "| seed | copies with | source accuracy | copy accuracy | p(true class), source | p(true class), copy |",
              "|---|---|---:|---:|---:|---:|"]  # fmt: skip
    for seed, rows in res["seeds"].items():  # type: ignore[attr-defined]
        for g, r in rows.items():
            lines.append(f"| {seed} | {g} | {100 * r['source_accuracy']:.1f} % | {100 * r['copy_accuracy']:.1f} % | "
                         f"{r['source_p_true']:.3f} | {r['copy_p_true']:.3f} |")  # fmt: skip
    return "\n".join(lines) + "\n\n" + machine_markdown(machine()) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="teachers (real-only runs) to ask")
    args = ap.parse_args()
    torch.set_num_threads(1)
    HELD_OUT["on"] = True  # the study's GAN and samples: trained without the validation images
    res = check(args.seeds)
    res["machine"] = machine()
    (RESULTS / "augment_classical_check.json").write_text(json.dumps(res, indent=1) + "\n")
    (RESULTS / "augment_classical_check.md").write_text(markdown(res, command_line()))


if __name__ == "__main__":
    main()
