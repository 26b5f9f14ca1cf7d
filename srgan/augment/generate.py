"""Synthetic images from a trained augmenter GAN: ``per_class`` images per class, reproducible by seed."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from srgan.archs.cgan import CondGenerator
from srgan.augment.novelty import NearCopyFilter
from srgan.errors import ConfigError, ModelError
from srgan.fsutil import OutputFolder, atomic_write_bytes
from srgan.imageio import write_image
from srgan.progress import Progress, report
from srgan.train.gan_trainer import step_generator
from srgan.train.loop import read_checkpoint

__all__ = ["BATCH", "LoadedGan", "class_noise", "generate", "load_generator_checkpoint", "truncated_noise"]

log = logging.getLogger(__name__)


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """(B, C, S, S) in [-1, 1] -> (B, S, S, C) uint8."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _check_generator_hparams(path: Path, st: Any) -> None:
    """Bound the generator a checkpoint describes by the weights it actually holds, before building it."""
    try:
        hp, weights = dict(st["meta"]["g_hparams"]), dict(st["state"]["ema"])
        stored = sum(int(t.numel()) for t in weights.values())
        z, base, n_cls = int(hp["z_dim"]), int(hp["base"]), int(hp["num_classes"])
    except Exception as exc:
        raise ModelError(f"{path}: not an srgan augment GAN checkpoint (no generator description)") from exc
    if not (1 <= z <= 4096 and 1 <= base <= 1024 and 1 <= n_cls <= 100_000):
        raise ModelError(f"{path}: generator z_dim={z}, base={base}, num_classes={n_cls} out of range")
    least = 2 * z * 16 * base + n_cls * z  # its first linear layer and class embedding alone
    if least > stored:
        raise ModelError(f"{path}: describes a generator of at least {least:,} weights but holds {stored:,}")


LoadedGan = tuple[CondGenerator, list[str], dict[str, Any]]  # the generator, its classes, its training config


def load_generator_checkpoint(path: str | Path) -> LoadedGan:
    p = Path(path)
    st = read_checkpoint(p, "GAN checkpoint")
    _check_generator_hparams(p, st)
    try:
        g = CondGenerator(**st["meta"]["g_hparams"])
        g.load_state_dict(st["state"]["ema"])
    except Exception as exc:
        raise ModelError(f"{p}: not an srgan augment GAN checkpoint ({type(exc).__name__}: {exc})") from exc
    return g.eval(), list(st["meta"]["classes"]), dict(st["config"])


def truncated_noise(n: int, dim: int, truncation: float | None, generator: torch.Generator) -> torch.Tensor:
    """Standard normal noise; with ``truncation`` T, every entry with ``|z| > T`` is redrawn (BigGAN's trick).

    Smaller T trades variety for fidelity: samples stay nearer the modes the generator renders best.
    """
    z = torch.randn(n, dim, generator=generator)
    if truncation is None:
        return z
    while (bad := z.abs() > truncation).any():
        z = torch.where(bad, torch.randn(n, dim, generator=generator), z)
    return z


#: candidates drawn at a time: each batch's noise comes from its own seeded stream, so a sample depends on it
BATCH = 100


def class_noise(seed: int, class_index: int, start: int, n: int, dim: int, truncation: float | None) -> torch.Tensor:
    """The noise of class ``class_index``'s candidates ``start`` to ``start + n`` (a batch of :func:`generate`)."""
    return truncated_noise(n, dim, truncation, step_generator(seed, 2 * 10**9 + class_index * 10**6 + start))


def generate(checkpoint: str | Path | LoadedGan, out: str | Path, *, per_class: int, seed: int = 0,
             upscale: str | None = None, batch: int = BATCH, truncation: float | None = None,
             teacher: torch.nn.Module | None = None, threshold: float = 0.0, near: NearCopyFilter | None = None,
             max_tries: int = 10, exact: bool = False, progress: Progress | None = None) -> dict[str, int]:  # fmt: skip
    """Write ``per_class`` images per class into ``out/<class>/`` (``out/`` for a flat dataset), and a manifest.

    With ``teacher`` (a classifier trained on the real images, taking ``(N, C, S, S)`` in [-1, 1]),
    only samples it assigns to their class with probability >= ``threshold`` are kept (up to
    ``max_tries * per_class`` candidates a class), and ``manifest.jsonl`` records each kept image's
    soft label (the teacher's probabilities) for training with soft targets. With ``near``, samples
    it finds to be near-copies of a real image are dropped too, and the manifest records each kept
    image's distance to its nearest real image over that to the second nearest. ``checkpoint`` may also be
    what :func:`load_generator_checkpoint` returned, so a caller that read it does not read it twice.

    ``exact``: run the generator in float64 (about 5x slower on a CPU), so every machine writes the same images.
    In float32, another CPU's vector kernels round about one value in 100,000 to the other 8-bit level; float64's
    error is about 5e8 times smaller, far below the distance of the augment studies' samples to a rounding boundary
    (benchmarks/augment_cache_check.py measures both). The teacher still runs in float32.
    """
    if per_class < 1:
        raise ConfigError("--per-class must be at least 1")
    if truncation is not None and truncation < 0.1:
        raise ConfigError(f"--truncation must be at least 0.1, got {truncation}")
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"the confidence threshold must be in [0, 1], got {threshold}")
    g, classes, _cfg = checkpoint if isinstance(checkpoint, tuple) else load_generator_checkpoint(checkpoint)
    if exact:
        g = copy.deepcopy(g).double()  # a copy: the caller's generator stays as it was
    upscaler = None
    if upscale:
        from srgan.infer import Upscaler

        upscaler = Upscaler(upscale, tile=0)
    counts: dict[str, int] = {}
    out_root = Path(out)
    owned = OutputFolder(out_root)
    rows: list[str] = []
    tick = report(progress)
    with torch.no_grad():
        for ci, name in enumerate(classes):
            folder = out_root / name if name else out_root
            kept, start = 0, 0
            filtered = teacher is not None or near is not None
            while kept < per_class and start < per_class * (max_tries if filtered else 1):
                k = batch if filtered else min(batch, per_class - kept)
                z = class_noise(seed, ci, start, k, g.z_dim, truncation)
                x = g(z.to(g.fc.weight.dtype), torch.full((k,), ci, dtype=torch.long))
                probs = F.softmax(teacher.eval()(x.clamp(-1, 1).float()), 1) if teacher is not None else None
                ratio = near.ratios(x.clamp(-1, 1)) if near is not None else None
                for j, img in enumerate(_to_uint8(x)):
                    if kept == per_class or (probs is not None and float(probs[j, ci]) < threshold):
                        continue
                    if near is not None and ratio is not None and ratio[j] < near.ratio:
                        continue
                    a = upscaler.upscale(img) if upscaler is not None else img
                    dst = owned.claim(folder / f"gan_{kept:05d}.png")
                    write_image(dst, a)
                    row: dict[str, Any] = {"output": dst.relative_to(out_root).as_posix(), "class": name,
                                           "sample": start + j, "seed": seed}  # fmt: skip
                    if exact:
                        row["exact"] = True  # float64: the same image on every machine
                    if probs is not None:
                        row["soft_label"] = [round(float(p), 5) for p in probs[j]]
                    if ratio is not None:
                        row["nearest_real_ratio"] = round(float(ratio[j]), 5)
                    rows.append(json.dumps(row))
                    kept += 1
                    tick(sum(counts.values()) + kept, len(classes) * per_class)
                start += k
            if kept < per_class:
                why = " and ".join(([f"reached confidence {threshold:.2f}"] if teacher is not None else [])
                                   + (["were no near-copy"] if near is not None else []))  # fmt: skip
                log.warning("class %s: only %d of %d samples %s in %d tries", name or "(all)", kept, per_class, why,
                            start)  # fmt: skip
            counts[name] = kept
    atomic_write_bytes(owned.claim(out_root / "manifest.jsonl"), ("\n".join(rows) + "\n").encode())
    tick(len(classes) * per_class, len(classes) * per_class)
    return counts
