"""Train a class-conditional GAN on an image folder and write synthetic images per class.

Batches, noise and DiffAugment draws of step ``k`` come from a generator seeded with
``(seed, k)``, so a resumed run repeats exactly what an uninterrupted one would do.
Checkpoints (G, D, EMA G, optimizers, step, config, class names) are written atomically
every ``checkpoint_every`` steps and on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torchvision.utils import make_grid

from srgan.archs.cgan import SIZES, CondDiscriminator, CondGenerator, mbstd_group
from srgan.augment.dataset import scan_folder
from srgan.augment.diffaug import diff_augment
from srgan.errors import ConfigError, DataError, Interrupted, ModelError, SrganError
from srgan.fsutil import OutputFolder, atomic_write_bytes
from srgan.imageio import load_image, to_8bit, write_image
from srgan.progress import Progress, report
from srgan.signals import StopFlag
from srgan.train.ema import ema_update
from srgan.weights import load_torch_file

__all__ = ["GanConfig", "GanInterrupted", "generate", "load_images", "train_gan"]

log = logging.getLogger(__name__)

LOSSES = ("hinge", "ns", "wgan-gp")


GanInterrupted = Interrupted


@dataclass
class GanConfig:
    size: int = 32
    steps: int = 5000
    batch_size: int = 64
    z_dim: int = 128
    g_base: int = 64
    d_base: int = 64
    loss: str = "hinge"
    lr_g: float = 1e-4  # two time-scale update rule (SAGAN / BigGAN): a faster D with one D step per G step
    lr_d: float = 4e-4
    betas: tuple[float, float] = (0.0, 0.9)
    d_steps: int = 1
    diffaug: str = "color,translation,cutout"
    flip: bool = True  # mirror real images at random (off for digits, text, anything with handedness)
    mode_seeking: float = 1.0  # MSGAN (Mao et al. 2019): rewards different images for different noise, same class
    ema_decay: float = 0.999
    gp_weight: float = 10.0
    seed: int = 0
    checkpoint_every: int = 500
    sample_every: int = 500
    log_every: int = 50
    threads: int = 0

    def validate(self) -> None:
        if self.size not in SIZES:
            raise ConfigError(f"--size must be one of {', '.join(map(str, SIZES))}, got {self.size}")
        if self.loss not in LOSSES:
            raise ConfigError(f"--gan-loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.steps < 1 or self.batch_size < 2 or self.d_steps < 1:
            raise ConfigError("steps, batch size (>= 2) and d_steps must be positive")
        if self.mode_seeking < 0:
            raise ConfigError(f"--mode-seeking must be >= 0, got {self.mode_seeking}")
        if self.g_base < 1 or self.d_base < 1:
            raise ConfigError(f"--width must be positive, got {min(self.g_base, self.d_base)}")
        diff_augment(torch.zeros(1, 1, 8, 8), self.diffaug)  # validates the policy names


@dataclass
class ImageSet:
    images: torch.Tensor  # (N, C, S, S) in [-1, 1]
    labels: torch.Tensor  # (N,) int64
    classes: list[str]
    unreadable: list[str] = field(default_factory=list)


def load_images(src: str | Path, size: int) -> ImageSet:
    """All images of a folder (flat or per class), resized to ``size``; gray if every image is gray."""
    ds = scan_folder(src)
    arrays: list[np.ndarray] = []
    labels: list[int] = []
    unreadable: list[str] = []
    index = {c: i for i, c in enumerate(ds.classes)}
    for f, c in zip(ds.files, ds.labels, strict=True):
        try:
            a = load_image(f).array
        except SrganError as exc:
            log.error("%s", exc)
            unreadable.append(str(ds.relative(f)))
            continue
        a = to_8bit(a)
        if a.shape[2] in (2, 4):
            a = a[:, :, :-1]
        interp = cv2.INTER_AREA if min(a.shape[:2]) > size else cv2.INTER_CUBIC
        r = cv2.resize(a, (size, size), interpolation=interp)
        arrays.append(r[:, :, None] if r.ndim == 2 else r)
        labels.append(index[c])
    if not arrays:
        raise DataError(f"{src}: no readable images")
    gray = all(a.shape[2] == 1 for a in arrays)
    arrays = [a if gray or a.shape[2] == 3 else np.repeat(a, 3, axis=2) for a in arrays]
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return ImageSet(x, torch.tensor(labels, dtype=torch.long), ds.classes, unreadable)


def _step_generator(seed: int, step: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed((seed * 1_000_003 + step) % (2**63))
    return g


def _class_grouped_batch(by_class: list[torch.Tensor], weights: torch.Tensor, batch: int,
                         rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Indices of a real batch and its labels, one class per minibatch-stddev group.

    Sample ``i`` shares its class with ``i + k * batch / G`` (the discriminator's grouping), so
    the stddev feature compares images of one class; classes are drawn in proportion to their
    size. Generated batches reuse the labels, so real and fake batches have the same layout.
    """
    groups = batch // mbstd_group(batch)
    classes = torch.multinomial(weights, groups, replacement=True, generator=rng)
    members = batch // groups
    cols = [by_class[c][torch.randint(0, len(by_class[c]), (members,), generator=rng)] for c in classes.tolist()]
    idx = torch.stack(cols, dim=1).reshape(-1)  # row k holds member k of every group
    return idx, classes.repeat(members)


def _mode_seeking(fake: torch.Tensor, z: torch.Tensor, shift: int) -> torch.Tensor:
    """MSGAN's term, 1 / (image distance / noise distance), over pairs ``(i, i + shift)`` of one class."""
    d_img = (fake[:-shift] - fake[shift:]).abs().flatten(1).mean(1)
    d_z = (z[:-shift] - z[shift:]).abs().mean(1)
    return 1.0 / ((d_img / d_z).mean() + 1e-5)


def _d_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    if kind == "ns":
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    return fake.mean() - real.mean()


def _g_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-fake).mean() if kind == "ns" else -fake.mean()


def _gradient_penalty(d: CondDiscriminator, real: torch.Tensor, fake: torch.Tensor, y: torch.Tensor,
                      g: torch.Generator) -> torch.Tensor:  # fmt: skip
    eps = torch.rand(real.shape[0], 1, 1, 1, generator=g)
    mix = (eps * real + (1 - eps) * fake).requires_grad_(True)
    out = d(mix, y)
    (grad,) = torch.autograd.grad(out.sum(), mix, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """(B, C, S, S) in [-1, 1] -> (B, S, S, C) uint8."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def sample_grid(g: CondGenerator, classes: list[str], per_class: int, seed: int) -> np.ndarray:
    """One row per class: an (rows*S, per_class*S, C) uint8 image."""
    rows = []
    with torch.no_grad():
        for ci in range(len(classes)):
            gen = _step_generator(seed, 10**9 + ci)
            z = torch.randn(per_class, g.z_dim, generator=gen)
            rows.append(g(z, torch.full((per_class,), ci, dtype=torch.long)))
    grid = make_grid(torch.cat(rows), nrow=per_class, padding=2, pad_value=1.0, normalize=True, value_range=(-1, 1))
    return (grid * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()[:, :, : g.hparams["channels"]]


def train_gan(src: str | Path, workdir: str | Path, cfg: GanConfig, *, resume: bool = False,
              progress: Progress | None = None) -> Path:  # fmt: skip
    """Train on SRC; checkpoints, samples and logs go to ``workdir``. Returns the checkpoint path."""
    cfg.validate()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    work = Path(workdir)
    ckpt_path = work / "checkpoint.pt"
    data = load_images(src, cfg.size)
    n_cls, ch = len(data.classes), data.images.shape[1]
    torch.manual_seed(cfg.seed)
    g = CondGenerator(num_classes=n_cls, img_size=cfg.size, channels=ch, z_dim=cfg.z_dim, base=cfg.g_base)
    d = CondDiscriminator(num_classes=n_cls, img_size=cfg.size, channels=ch, base=cfg.d_base,
                          spectral_norm=cfg.loss != "wgan-gp")  # fmt: skip
    g_ema = copy.deepcopy(g).eval()
    for p in g_ema.parameters():
        p.requires_grad_(False)
    opt_g = torch.optim.Adam(g.parameters(), lr=cfg.lr_g, betas=cfg.betas)
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg.lr_d, betas=cfg.betas)
    step = 0
    if resume and ckpt_path.is_file():
        st = load_torch_file(ckpt_path, "GAN checkpoint")
        if st["classes"] != data.classes or st["config"]["size"] != cfg.size:
            raise ConfigError(f"{ckpt_path}: trained on other classes or size; cannot resume on {src}")
        g.load_state_dict(st["g"])
        d.load_state_dict(st["d"])
        g_ema.load_state_dict(st["g_ema"])
        opt_g.load_state_dict(st["opt_g"])
        opt_d.load_state_dict(st["opt_d"])
        step = int(st["step"])
        log.info("resumed GAN training from %s at step %d", ckpt_path, step)
    work.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        buf = io.BytesIO()
        torch.save({"g": g.state_dict(), "d": d.state_dict(), "g_ema": g_ema.state_dict(),
                    "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "step": step,
                    "config": asdict(cfg), "classes": data.classes, "g_hparams": g.hparams}, buf)  # fmt: skip
        atomic_write_bytes(ckpt_path, buf.getvalue())

    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(work / "tb"))
    by_class = [torch.nonzero(data.labels == c).flatten() for c in range(n_cls)]
    weights = torch.tensor([float(len(ix)) for ix in by_class])
    shift = cfg.batch_size // mbstd_group(cfg.batch_size)  # in every batch, samples i and i + shift share a class
    tick = report(progress)
    with StopFlag() as stop:
        while step < cfg.steps:
            rng = _step_generator(cfg.seed, step)
            for _ in range(cfg.d_steps):
                idx, y = _class_grouped_batch(by_class, weights, cfg.batch_size, rng)
                real = data.images[idx]
                if torch.rand(1, generator=rng).item() < 0.5 and cfg.flip:
                    real = real.flip(3)
                z = torch.randn(cfg.batch_size, cfg.z_dim, generator=rng)
                with torch.no_grad():
                    fake = g(z, y)
                real_a = diff_augment(real, cfg.diffaug, rng)
                fake_a = diff_augment(fake, cfg.diffaug, rng)
                loss_d = _d_loss(cfg.loss, d(real_a, y), d(fake_a, y))
                if cfg.loss == "wgan-gp":
                    loss_d = loss_d + cfg.gp_weight * _gradient_penalty(d, real_a, fake_a, y, rng)
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()
            _, y = _class_grouped_batch(by_class, weights, cfg.batch_size, rng)
            z = torch.randn(cfg.batch_size, cfg.z_dim, generator=rng)
            for p in d.parameters():
                p.requires_grad_(False)
            fake = g(z, y)
            loss_g = _g_loss(cfg.loss, d(diff_augment(fake, cfg.diffaug, rng), y))
            if cfg.mode_seeking > 0 and shift < cfg.batch_size:
                loss_g = loss_g + cfg.mode_seeking * _mode_seeking(fake, z, shift)
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            for p in d.parameters():
                p.requires_grad_(True)
            # EMA warm-up ((1 + t) / (10 + t), as TensorFlow's num_updates): a short run's EMA
            # would otherwise still hold a blend of the random initial weights.
            ema_update(g_ema, g, min(cfg.ema_decay, (1 + step) / (10 + step)))
            step += 1
            ld, lg = float(loss_d.detach()), float(loss_g.detach())
            tick(step, cfg.steps, d=f"{ld:.3f}", g=f"{lg:.3f}")
            if not (math.isfinite(ld) and math.isfinite(lg)):
                raise SrganError(f"GAN losses became non-finite at step {step} (D {ld}, G {lg})")
            if step % cfg.log_every == 0:
                writer.add_scalar("loss/d", ld, step)
                writer.add_scalar("loss/g", lg, step)
                with open(work / "log.jsonl", "a") as f:
                    f.write(json.dumps({"step": step, "loss_d": ld, "loss_g": lg}) + "\n")
            if step % cfg.sample_every == 0 or step == cfg.steps:
                grid = sample_grid(g_ema, data.classes, 8, cfg.seed)
                write_image(work / "samples" / f"step{step:06d}.png", grid)
                writer.add_image("samples", torch.from_numpy(grid).permute(2, 0, 1), step)
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                save()
            if stop.set:
                save()
                writer.close()
                raise GanInterrupted(f"stopped at step {step}; checkpoint saved, continue with --resume")
    writer.close()
    return ckpt_path


def _check_generator_hparams(path: Path, st: Any) -> None:
    """Bound the generator a checkpoint describes by the weights it actually holds, before building it."""
    try:
        hp, weights = dict(st["g_hparams"]), dict(st["g_ema"])
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
    st = load_torch_file(p, "GAN checkpoint")
    _check_generator_hparams(p, st)
    try:
        g = CondGenerator(**st["g_hparams"])
        g.load_state_dict(st["g_ema"])
    except Exception as exc:
        raise ModelError(f"{p}: not an srgan augment GAN checkpoint ({type(exc).__name__}: {exc})") from exc
    return g.eval(), list(st["classes"]), dict(st["config"])


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
                gen = _step_generator(seed, 2 * 10**9 + ci * 10**6 + start)
                z = truncated_noise(k, g.z_dim, truncation, gen)
                imgs = _to_uint8(g(z, torch.full((k,), ci, dtype=torch.long)))
                for j, img in enumerate(imgs):
                    a = upscaler.upscale(img) if upscaler is not None else img
                    write_image(owned.claim(folder / f"gan_{start + j:05d}.png"), a)
            counts[name] = per_class
        tick(len(classes) * per_class, len(classes) * per_class)
    return counts
