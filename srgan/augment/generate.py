"""Synthetic images from a trained augmenter GAN: ``per_class`` images per class, reproducible by seed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from srgan.archs.cgan import CondGenerator
from srgan.errors import ConfigError, ModelError
from srgan.fsutil import OutputFolder
from srgan.imageio import write_image
from srgan.progress import Progress, report
from srgan.train.gan_trainer import step_generator
from srgan.train.loop import read_checkpoint

__all__ = ["generate", "load_generator_checkpoint", "truncated_noise"]


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


def load_generator_checkpoint(path: str | Path) -> tuple[CondGenerator, list[str], dict[str, Any]]:
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


def generate(checkpoint: str | Path, out: str | Path, *, per_class: int, seed: int = 0, upscale: str | None = None,
             batch: int = 100, truncation: float | None = None,
             progress: Progress | None = None) -> dict[str, int]:  # fmt: skip
    """Write ``per_class`` images per class into ``out/<class>/`` (``out/`` for a flat dataset)."""
    if per_class < 1:
        raise ConfigError("--per-class must be at least 1")
    if truncation is not None and truncation < 0.1:
        raise ConfigError(f"--truncation must be at least 0.1, got {truncation}")
    g, classes, _cfg = load_generator_checkpoint(checkpoint)
    upscaler = None
    if upscale:
        from srgan.infer import Upscaler

        upscaler = Upscaler(upscale, tile=0)
    counts: dict[str, int] = {}
    out_root = Path(out)
    owned = OutputFolder(out_root)
    with torch.no_grad():
        tick = report(progress)
        for ci, name in enumerate(classes):
            tick(ci * per_class, len(classes) * per_class)
            folder = out_root / name if name else out_root
            for start in range(0, per_class, batch):
                k = min(batch, per_class - start)
                gen = step_generator(seed, 2 * 10**9 + ci * 10**6 + start)
                z = truncated_noise(k, g.z_dim, truncation, gen)
                imgs = _to_uint8(g(z, torch.full((k,), ci, dtype=torch.long)))
                for j, img in enumerate(imgs):
                    a = upscaler.upscale(img) if upscaler is not None else img
                    write_image(owned.claim(folder / f"gan_{start + j:05d}.png"), a)
            counts[name] = per_class
        tick(len(classes) * per_class, len(classes) * per_class)
    return counts
