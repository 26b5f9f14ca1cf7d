"""Does the augmenter's GAN copy its training images? The report's copying check, for every added set.

    python benchmarks/augment_copying.py [--datasets mnist cifar]

For each dataset, on the work folders ``augment_bench.py --prepare --protocol study`` leaves in
runs/augment_bench/<dataset>/ (the real training subset, the held-out GAN's samples, the classical
images), finds each image's two nearest real training images in pixel space and counts near-copies
(``srgan.augment.novelty.copy_check``: nearer to the nearest than a third of the distance to the
second, Yoon et al. 2023). Two reference rows read the GAN's: the test images are fresh images of the
same data, so their share is what a generator that does not copy would show (CIFAR-10's test set
holds near-duplicates of training images); the classical images are flips, crops and colour changes
of training images, copies by construction, so the check must flag a share of them. Writes
benchmarks/results/augment_copying.md and .json, and augment_copying_<dataset>.png: the 8 synthetic
images nearest to being copies (lowest ratio), each above its nearest training image. Where the
GAN trained on mirrored images (CIFAR, not the digits), a mirror image of a training image counts as
a copy of it, as in the report.

It also counts which geometric transforms the classical images got, from their manifest, and what the
same pipeline and seeds give with the classical engine's current seeding (one random stream the
transforms draw from in turn). The benchmark's sets were made with albumentations' per-transform seeding,
which seeds every transform alike, so that a transform at p 0.5 never fires without one at p 0.9.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import torch
from augment_bench import SETS, work_dir
from common import RESULTS, command_line, data_dir, machine, page_header, write_results

from srgan.augment.classical import augment_image, load_pipeline
from srgan.augment.novelty import copy_check, mirrored_pixels, pixels
from srgan.augment.report import grid
from srgan.data.labelled import load_images
from srgan.imageio import load_image, write_image

GEOMETRY = ("flip and affine", "affine alone", "flip alone", "neither (colour or noise at most)",
            "no transform at all")  # fmt: skip


def geometry(names: list[str]) -> Counter[str]:
    """The rows of ``GEOMETRY`` one output's applied transforms fall in (the last two may both hold)."""
    flip, affine = "HorizontalFlip" in names, "Affine" in names
    row = GEOMETRY[0] if flip and affine else GEOMETRY[1] if affine else GEOMETRY[2] if flip else GEOMETRY[3]
    return Counter([row] + ([GEOMETRY[4]] if not names else []))


def transform_counts(classical: Path, train: Path) -> dict[str, dict[str, int]]:
    """GEOMETRY counts over the classical set as made (its manifest) and as its seeds replay now."""
    pipeline = load_pipeline(classical / "pipeline.yaml")
    made: Counter[str] = Counter()
    now: Counter[str] = Counter()
    for line in (classical / "manifest.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec.get("status") != "augmented":
            continue
        made += geometry([t["transform"] for t in rec["transforms"]])
        _, applied = augment_image(pipeline, load_image(train / rec["source"]).array, int(rec["seed"]))
        now += geometry([t["transform"] for t in applied])
    return {"as made (per-transform seeding)": {k: made[k] for k in GEOMETRY},
            "replayed with one stream (now)": {k: now[k] for k in GEOMETRY}}  # fmt: skip


def measure(name: str) -> dict[str, object]:
    spec, work = SETS[name], work_dir(name)
    folders = {"synthetic (held-out GAN)": work / "synth-heldout", "classical": work / "classical",
               "test (fresh)": data_dir() / str(spec["folder"]) / "test"}  # fmt: skip
    missing = [str(p) for p in (work / "train", *folders.values()) if not p.is_dir()]
    if missing:
        sys.exit(f"{', '.join(missing)} missing: run `python benchmarks/augment_bench.py --datasets {name} "
                 "--prepare --protocol study` first")  # fmt: skip
    size = int(spec["size"])
    train = load_images(work / "train", size)
    real = pixels(train.images)
    mirrored = mirrored_pixels(train.images) if spec["flip"] else None
    t0 = time.perf_counter()
    rows = []
    for label, folder in folders.items():
        x = load_images(folder, size).images
        c = copy_check(real, pixels(x), mirrored=mirrored)
        rows.append({"set": label, "images": int(x.shape[0]), **c})
        if label.startswith("synthetic"):  # the 8 lowest-ratio samples above their nearest training images
            pairs = torch.cat([x[[p[0] for p in c["closest"]]], train.images[[p[1] for p in c["closest"]]]])
            write_image(RESULTS / f"augment_copying_{name}.png", grid(pairs, len(c["closest"])))
    return {"dataset": spec["folder"], "n_real": int(real.shape[0]), "rows": rows, "mirrored": mirrored is not None,
            "seconds": time.perf_counter() - t0,
            "classical_transforms": transform_counts(work / "classical", work / "train")}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--datasets", nargs="+", choices=sorted(SETS), default=["mnist", "cifar"])
    args = ap.parse_args()
    m = machine()
    results = [measure(name) for name in args.datasets]
    rec = {"command": command_line(), "machine": m, "results": results}
    lines = [
        *page_header("Does the GAN copy its training images?", m),
        "Pixels; each image's two nearest real training images. A near-copy lies nearer to the nearest than a third "
        "of its distance to the second (Yoon et al. 2023). Distances are in [-1, 1] pixel units.",
    ]
    for r in results:
        rows = r["rows"]
        lines += [
            "",
            f"## {r['dataset']}: {r['n_real']} real training images"
            f"{' and their mirror images' if r.get('mirrored') else ''} ({r['seconds']:.0f} s)",
            "",
            "| images | count | median distance to the nearest training image | d1 / d2: median | lowest "
            "| near-copies (d1 / d2 < 1/3) |",
            "|---|---:|---:|---:|---:|---:|",
            f"| real training images, to the nearest other one | {r['n_real']} | {rows[0]['median_real']:.2f} | | "
            f"| {100 * rows[0]['real_near_copy_share']:.1f} % |",
            *[f"| {x['set']} | {x['images']} | {x['median_synthetic']:.2f} | {x['median_ratio']:.2f} | "
              f"{x['closest'][0][2]:.2f} | {x['near_copies']} ({100 * x['near_copy_share']:.1f} %) |" for x in rows],
        ]  # fmt: skip
        counts = r["classical_transforms"]
        lines += ["", "The classical images' geometric transforms, from the manifest (as made) and with the same "
                  "pipeline and seeds replayed through the current engine:", "",
                  "| classical images | " + " | ".join(counts) + " |", "|---|" + "---:|" * len(counts),
                  *[f"| {k} | " + " | ".join(str(c[k]) for c in counts.values()) + " |" for k in GEOMETRY]]  # fmt: skip
    write_results("augment_copying", rec, lines)


if __name__ == "__main__":
    main()
