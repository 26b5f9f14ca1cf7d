"""Can this machine read the committed study cache? The prepared data's digests against the cached studies'.

    python benchmarks/augment_cache_check.py [--datasets mnist cifar]

Run after ``augment_bench.py --prepare --protocol study`` (the GAN checkpoints are committed, so
``--prepare`` only regenerates the samples and the classical images). The study cache
(benchmarks/results/augment_study_cache/) keys each run on a digest of every image it trains on: real-only
runs and teachers on the real images (with the test images and the protocol), the other arms on the whole
study's data. The GAN's samples are float32 arithmetic rounded to 8 bits, and another CPU (its vector
kernels) can round a few values the other way; then the whole-study digest changes and the report command
trains those arms again, while the real-only runs are still read back.

For each dataset this computes both digests of the data prepared here, counts the cached runs under each,
and compares the samples with the committed report's sample grids (the first 32 samples of each class, as
the report drew them where the cache was made): how many 8-bit values differ and by how much. It also
measures how far float64 samples are from such rounding flips, and whether the study made on them
(``--exact-samples``, prepared here too) has its committed digest on this machine, as it should on any.
Writes benchmarks/results/augment_cache_check.md and .json.
"""

from __future__ import annotations

import argparse
import copy
import json
from dataclasses import replace

import numpy as np
import torch
from augment_bench import HELD_OUT, SETS, cache_dir, inputs_of, protocol_for
from common import RESULTS, command_line, machine, machine_markdown

from srgan.augment.generate import BATCH, class_noise, load_generator_checkpoint
from srgan.augment.report import _align, _study_sets, grid
from srgan.augment.study import Protocol
from srgan.augment.study_cache import REAL_ONLY, StudyCache, fingerprint
from srgan.data.labelled import ImageSet, load_images
from srgan.imageio import read_image

#: the studies docs/augment.md reports: dataset -> (digest prefix, protocol as run, report tag of its sample grids)
STUDIES = {
    "mnist": ("61b82ec70d", Protocol(epochs=60, split_seed=0), "mnist_study"),
    "cifar": ("2dcb7ea47a", Protocol(epochs=60, split_seed=0, channels_last=True), "cifar_study"),
}


def cached(folder, digest: str) -> int:
    """Cached runs saved under ``digest`` (a whole study's, or a real-only one)."""
    return sum(1 for f in folder.glob(f"{digest[:10]}-seed*.json") if json.loads(f.read_text())["digest"] == digest)


#: the study whose samples are float64 (``augment_bench.py --exact-samples``): its digest is meant to be the same on
#: every CPU, so a run any session saved is read back by any other
EXACT_STUDIES = {"cifar": ("3019dc4790", Protocol(epochs=240, split_seed=0, channels_last=True))}


def prepared_study(name: str, study: Protocol, exact: bool = False) -> tuple[StudyCache, dict[str, ImageSet]]:
    """The cache of the study of the data ``--prepare`` left here (float64 samples with ``exact``), and its image
    sets (real, synthetic, classical, test)."""
    inputs = inputs_of(name, None, exact)
    real = load_images(inputs.real, SETS[name]["size"])
    synth = _align(load_images(inputs.synth, SETS[name]["size"]), real)
    data = _study_sets(inputs, SETS[name]["size"], real, synth)
    test = _align(load_images(inputs.test, SETS[name]["size"]), real)
    proto = replace(protocol_for(name, study), flip=SETS[name]["flip"])
    return StudyCache.of(cache_dir(name), data, test, proto), {**data, "test": test}


def set_digests(sets: dict[str, ImageSet]) -> dict[str, str]:
    """Each set's own digest (images and labels), to tell which one another machine made otherwise."""
    return {k: fingerprint({k: v}, v, Protocol(), {k})[:10] for k, v in sorted(sets.items())}


def check_exact(name: str) -> dict[str, object]:
    prefix, study = EXACT_STUDIES[name]
    cache, sets = prepared_study(name, study, exact=True)
    return {"study": prefix, "digest_here": cache.digest[:10], "reads_whole_study": cache.digest[:10] == prefix,
            "whole_study_runs_here": cached(cache_dir(name), cache.digest), "sets": set_digests(sets)}  # fmt: skip


def check(name: str) -> dict[str, object]:
    prefix, study, tag = STUDIES[name]
    cache, sets = prepared_study(name, study)
    real, synth = sets["real"], sets["synthetic"]
    differ = total = worst = 0
    for i, c in enumerate(real.classes):
        ours = grid(synth.images[synth.labels == i][:32], 8).astype(int)
        ref = np.asarray(read_image(RESULTS / f"augment_{tag}_samples_{c}.png")).astype(int)
        ref = ref[:, :, None] if ref.ndim == 2 else ref
        d = np.abs(ours - ref[:, :, : ours.shape[2]])
        differ, total, worst = differ + int((d > 0).sum()), total + d.size, max(worst, int(d.max()))
    return {"study": prefix, "digest_here": cache.digest[:10], "reads_whole_study": cache.digest[:10] == prefix,
            "real_only_digest": cache.narrow[REAL_ONLY][:10], "real_only_runs": cached(cache_dir(name),
            cache.narrow[REAL_ONLY]), "whole_study_runs_here": cached(cache_dir(name), cache.digest),
            "grid_values": total, "grid_values_differing": differ, "largest_difference": worst}  # fmt: skip


def rounding_margin(name: str) -> dict[str, object]:
    """The generator's samples (all of a study's: ``synth_per_class`` a class, seed 0) in float32 and float64.

    How many 8-bit values the two precisions round apart (about what another CPU's float32 kernels do), the largest
    float32-to-float64 gap before rounding (float32's error), and the float64 value nearest a rounding boundary: a
    CPU whose float64 arithmetic differs by less than that margin writes the same ``--exact-samples`` images.
    """
    g32, classes, _cfg = load_generator_checkpoint(inputs_of(name, None).gan)
    g64 = copy.deepcopy(g32).double()
    per_class, step = SETS[name]["synth_per_class"], BATCH
    differ = total = 0
    gap, margin = 0.0, float("inf")
    with torch.no_grad():
        for ci in range(len(classes)):
            for start in range(0, per_class, step):
                k = min(step, per_class - start)
                z, y = class_noise(0, ci, start, k, g32.z_dim, None), torch.full((k,), ci, dtype=torch.long)
                v32 = (g32(z, y).clamp(-1, 1) + 1) * 127.5
                v64 = (g64(z.double(), y).clamp(-1, 1) + 1) * 127.5
                differ += int((v32.round() != v64.round()).sum())
                total += v64.numel()
                gap = max(gap, float((v32.double() - v64).abs().max()))
                margin = min(margin, float((v64 - v64.floor() - 0.5).abs().min()))
    return {"sample_values": total, "float32_vs_float64_differing": differ, "float32_largest_gap_levels": gap,
            "float64_nearest_boundary_levels": margin}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=sorted(STUDIES), choices=sorted(STUDIES))
    args = ap.parse_args()
    HELD_OUT["on"] = True
    m = machine()
    res = {name: {**check(name), "exact": rounding_margin(name)} for name in args.datasets}
    for name in args.datasets:
        if name in EXACT_STUDIES:
            res[name]["exact_study"] = check_exact(name)
    head = (
        "| dataset | study | its digest here | whole-study runs read here | real-only digest | real-only runs "
        "cached | sample grid values that differ (8-bit) | largest difference |"
    )
    lines = ["# Can this machine read the committed study cache?", "", f"Command: `{command_line()}`  ",
             f"Machine: {machine_markdown(m)}", "", head, "|---|---|---|---:|---|---:|---:|---:|"]  # fmt: skip
    for name, r in res.items():
        whole = "all" if r["reads_whole_study"] else r["whole_study_runs_here"]
        share = f"{r['grid_values_differing']} of {r['grid_values']}"
        lines.append(f"| {name} | {r['study']} | {r['digest_here']} | {whole} | {r['real_only_digest']} | "
                     f"{r['real_only_runs']} | {share} | {r['largest_difference']} |")  # fmt: skip
    lines += [
        "",
        "Where a study's digest here differs from its own, `augment_bench.py --protocol study` trains "
        "its arms with added images again on this machine; its real-only runs and teachers are read back.",
        "",
        "## Samples in float64 (`--exact-samples`)",
        "",
        "Every sample a study uses (seed 0), from the committed GAN checkpoint, in both precisions. Float32's error "
        "is the largest gap; float64's is about 2^29 (5e8) times smaller. A float64 sample changes on another CPU "
        "only if its arithmetic there moves a value across the nearest rounding boundary.",
        "",
        "| dataset | sample values | float32 and float64 round apart | float32's largest gap (8-bit levels) | "
        "float64 value nearest a rounding boundary (levels) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in res.items():
        e = r["exact"]
        gap, margin = e["float32_largest_gap_levels"], e["float64_nearest_boundary_levels"]
        lines.append(f"| {name} | {e['sample_values']} | {e['float32_vs_float64_differing']} | {gap:.2e} | "
                     f"{margin:.2e} |")  # fmt: skip
    lines += [
        "",
        "The study on float64 samples (run `augment_bench.py --prepare --protocol study --exact-samples` first):",
        "",
        "| dataset | study | its digest here | the same | whole-study runs read here | each set's digest here |",
        "|---|---|---|---|---:|---|",
    ]
    for name, r in res.items():
        if e := r.get("exact_study"):
            same = "yes" if e["reads_whole_study"] else "**no**"
            each = ", ".join(f"{k} {v}" for k, v in e["sets"].items())
            lines.append(f"| {name} | {e['study']} | {e['digest_here']} | {same} | {e['whole_study_runs_here']} | "
                         f"{each} |")  # fmt: skip
    lines.append("")
    (RESULTS / "augment_cache_check.md").write_text("\n".join(lines))
    (RESULTS / "augment_cache_check.json").write_text(json.dumps({"machine": m, "command": command_line(), **res},
                                                                 indent=2))  # fmt: skip
    print("\n".join(lines))


if __name__ == "__main__":
    main()
