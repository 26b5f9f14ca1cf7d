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
the report drew them where the cache was made): how many 8-bit values differ and by how much. Writes
benchmarks/results/augment_cache_check.md and .json.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np
from augment_bench import HELD_OUT, SETS, cache_dir, inputs_of, protocol_for
from common import RESULTS, command_line, machine, machine_markdown

from srgan.augment.report import _align, _study_sets, grid
from srgan.augment.study import Protocol
from srgan.augment.study_cache import REAL_ONLY, StudyCache
from srgan.data.labelled import load_images
from srgan.imageio import read_image

#: the studies README reports: dataset -> (digest prefix, protocol as run, report tag of its sample grids)
STUDIES = {
    "mnist": ("61b82ec70d", Protocol(epochs=60, split_seed=0), "mnist_study"),
    "cifar": ("2dcb7ea47a", Protocol(epochs=60, split_seed=0, channels_last=True), "cifar_study"),
}


def cached(folder, digest: str) -> int:
    """Cached runs saved under ``digest`` (a whole study's, or a real-only one)."""
    return sum(1 for f in folder.glob(f"{digest[:10]}-seed*.json") if json.loads(f.read_text())["digest"] == digest)


def check(name: str) -> dict[str, object]:
    prefix, study, tag = STUDIES[name]
    inputs = inputs_of(name, None)
    real = load_images(inputs.real, SETS[name]["size"])
    synth = _align(load_images(inputs.synth, SETS[name]["size"]), real)
    data = _study_sets(inputs, SETS[name]["size"], real, synth)
    test = _align(load_images(inputs.test, SETS[name]["size"]), real)
    proto = replace(protocol_for(name, study), flip=SETS[name]["flip"])
    cache = StudyCache.of(cache_dir(name), data, test, proto)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=sorted(STUDIES), choices=sorted(STUDIES))
    args = ap.parse_args()
    HELD_OUT["on"] = True
    m = machine()
    res = {name: check(name) for name in args.datasets}
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
    ]
    (RESULTS / "augment_cache_check.md").write_text("\n".join(lines))
    (RESULTS / "augment_cache_check.json").write_text(json.dumps({"machine": m, "command": command_line(), **res},
                                                                 indent=2))  # fmt: skip
    print("\n".join(lines))


if __name__ == "__main__":
    main()
