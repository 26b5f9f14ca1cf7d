"""The augmenter's class-conditional GAN, trained by the shared :class:`~srgan.train.loop.TrainLoop`.

Conditional-BN generator, spectral-norm projection discriminator with a within-class
minibatch-stddev feature, DiffAugment, hinge / non-saturating / WGAN-GP losses
(:class:`~srgan.losses.AdversarialLoss`, as the SR trainer's gan stage), MSGAN's mode-seeking
term, optional LeCam regularisation of the discriminator and an EMA generator. Batches, noise and
DiffAugment draws of iteration ``k`` come from a generator seeded with ``(seed, k)``, so a resumed
run repeats exactly what an uninterrupted one would do; checkpoints, resume, logs and stop handling are the loop's.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.utils import make_grid

from srgan.archs.cgan import SIZES, CondDiscriminator, CondGenerator, mbstd_group
from srgan.data.diffaug import diff_augment
from srgan.data.labelled import load_images
from srgan.errors import ConfigError
from srgan.imageio import write_image
from srgan.losses import AdversarialLoss, LeCamRegularizer
from srgan.progress import Progress
from srgan.train.ema import ema_update
from srgan.train.loop import TrainLoop

__all__ = ["GanConfig", "GanTrainer", "sample_grid", "step_generator", "train_gan"]

#: The augmenter's loss names and the :class:`AdversarialLoss` kind each one is.
LOSSES = {"hinge": "hinge", "ns": "vanilla", "wgan-gp": "wgan"}


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
    lecam: float = 0.0  # LeCam regularisation's weight (Tseng et al. 2021; 0.3 in their CIFAR-10 runs); 0: off
    lecam_decay: float = 0.99  # of the LeCam anchors (moving averages of D's real and fake outputs)
    ema_decay: float = 0.999
    gp_weight: float = 10.0
    seed: int = 0
    checkpoint_every: int = 500
    sample_every: int = 500
    log_every: int = 50
    threads: int = 0

    def validate(self) -> None:
        if self.size not in SIZES:
            raise ConfigError(f"GAN image size must be one of {', '.join(map(str, SIZES))}, got {self.size}")
        if self.loss not in LOSSES:
            raise ConfigError(f"GAN loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.steps < 1 or self.batch_size < 2 or self.d_steps < 1:
            raise ConfigError("steps, batch size (>= 2) and d_steps must be positive")
        if self.mode_seeking < 0:
            raise ConfigError(f"mode-seeking weight must be >= 0, got {self.mode_seeking}")
        if self.lecam < 0:
            raise ConfigError(f"LeCam weight must be >= 0, got {self.lecam}")
        if not 0 <= self.lecam_decay < 1:
            raise ConfigError(f"LeCam decay must be in [0, 1), got {self.lecam_decay}")
        if self.g_base < 1 or self.d_base < 1:
            raise ConfigError(f"GAN width must be positive, got {min(self.g_base, self.d_base)}")
        diff_augment(torch.zeros(1, 1, 8, 8), self.diffaug)  # validates the policy names


def step_generator(seed: int, step: int) -> torch.Generator:
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


def _gradient_penalty(d: CondDiscriminator, real: torch.Tensor, fake: torch.Tensor, y: torch.Tensor,
                      g: torch.Generator) -> torch.Tensor:  # fmt: skip
    eps = torch.rand(real.shape[0], 1, 1, 1, generator=g).to(real.device)
    mix = (eps * real + (1 - eps) * fake).requires_grad_(True)
    out = d(mix, y)
    (grad,) = torch.autograd.grad(out.sum(), mix, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def sample_grid(g: CondGenerator, classes: list[str], per_class: int, seed: int) -> np.ndarray:
    """One row per class: an (rows*S, per_class*S, C) uint8 image."""
    rows = []
    dev = next(g.parameters()).device
    with torch.no_grad():
        for ci in range(len(classes)):
            gen = step_generator(seed, 10**9 + ci)
            z = torch.randn(per_class, g.z_dim, generator=gen)
            rows.append(g(z.to(dev), torch.full((per_class,), ci, dtype=torch.long, device=dev)).cpu())
    grid = make_grid(torch.cat(rows), nrow=per_class, padding=2, pad_value=1.0, normalize=True, value_range=(-1, 1))
    return (grid * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()[:, :, : g.hparams["channels"]]


class GanTrainer(TrainLoop):
    """Trains on the labelled folder ``src``; checkpoints, samples and logs go to ``workdir``.

    ``hold_out``: names of images (as :class:`~srgan.data.labelled.ImageSet` names them) left out of
    training, e.g. the downstream study's validation split; recorded in the checkpoint. ``device``:
    where G and D train (batches, noise and augmentations are still drawn on the CPU from the step's
    seed, then moved); the checkpoint loads on any device.
    """

    run_folders = ("tb", "samples")

    def __init__(self, src: str | Path, workdir: str | Path, cfg: GanConfig, *, resume: bool = False,
                 progress: Progress | None = None, hold_out: Collection[str] = (),
                 device: torch.device | str = "cpu") -> None:  # fmt: skip
        cfg.validate()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        super().__init__(workdir, Path(workdir) / "checkpoint.pt", device=torch.device(device), progress=progress)
        self.cfg, self.src = cfg, src
        self.total, self.log_every, self.checkpoint_every = cfg.steps, cfg.log_every, cfg.checkpoint_every
        self.data = load_images(src, cfg.size)
        self.held_out = sorted(set(hold_out))
        if self.held_out:
            held = set(self.held_out)
            missing = held - set(self.data.names)
            if missing:
                raise ConfigError(f"{src}: {len(missing)} image(s) to hold out are not there, e.g. {min(missing)}")
            keep = torch.tensor([n not in held for n in self.data.names])
            d = self.data
            self.data = type(d)(d.images[keep], d.labels[keep], d.classes, d.unreadable,
                                [n for n, k in zip(d.names, keep.tolist(), strict=True) if k])  # fmt: skip
        n_cls, ch = len(self.data.classes), self.data.images.shape[1]
        torch.manual_seed(cfg.seed)
        self.g = CondGenerator(num_classes=n_cls, img_size=cfg.size, channels=ch, z_dim=cfg.z_dim, base=cfg.g_base)
        self.d = CondDiscriminator(num_classes=n_cls, img_size=cfg.size, channels=ch, base=cfg.d_base,
                                   spectral_norm=cfg.loss != "wgan-gp")  # fmt: skip
        self.g.to(self.device)
        self.d.to(self.device)
        self.ema = copy.deepcopy(self.g).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=cfg.lr_g, betas=cfg.betas)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=cfg.lr_d, betas=cfg.betas)
        self.adversarial = AdversarialLoss(kind=LOSSES[cfg.loss], weight=1.0)
        self.lecam = LeCamRegularizer(cfg.lecam_decay).to(self.device) if cfg.lecam > 0 else None
        self.by_class = [torch.nonzero(self.data.labels == c).flatten() for c in range(n_cls)]
        self.class_weights = torch.tensor([float(len(ix)) for ix in self.by_class])
        # In every batch, samples i and i + shift share a class (the stddev groups), for mode seeking.
        self.shift = cfg.batch_size // mbstd_group(cfg.batch_size)
        self.prepare(resume=resume, overwrite=False)

    def components(self) -> dict[str, Any]:
        parts = {"g": self.g, "d": self.d, "ema": self.ema, "opt_g": self.opt_g, "opt_d": self.opt_d}
        return parts | ({"lecam": self.lecam} if self.lecam is not None else {})

    def config_dict(self) -> dict[str, Any]:
        return asdict(self.cfg)

    def meta(self) -> dict[str, Any]:
        return {"classes": self.data.classes, "g_hparams": self.g.hparams, "held_out": self.held_out}

    def check_resumable(self, saved_config: dict[str, Any], meta: dict[str, Any]) -> None:
        if meta.get("classes") != self.data.classes or saved_config.get("size") != self.cfg.size:
            raise ConfigError(f"{self.checkpoint_path}: trained on other classes or size; cannot resume on {self.src}")
        if meta.get("held_out", []) != self.held_out:
            raise ConfigError(f"{self.checkpoint_path}: trained with other images held out; cannot resume here")

    def batches(self) -> Iterator[torch.Generator]:
        for step in range(self.iteration, self.total):
            yield step_generator(self.cfg.seed, step)

    def step(self, rng: torch.Generator) -> dict[str, float]:
        cfg, g, d, adv, dev = self.cfg, self.g, self.d, self.adversarial, self.device
        for _ in range(cfg.d_steps):
            idx, y = _class_grouped_batch(self.by_class, self.class_weights, cfg.batch_size, rng)
            real = self.data.images[idx].to(dev)
            if torch.rand(1, generator=rng).item() < 0.5 and cfg.flip:
                real = real.flip(3)
            z = torch.randn(cfg.batch_size, cfg.z_dim, generator=rng).to(dev)
            y = y.to(dev)
            with torch.no_grad():
                fake = g(z, y)
            real_a = diff_augment(real, cfg.diffaug, rng)
            fake_a = diff_augment(fake, cfg.diffaug, rng)
            d_real, d_fake = d(real_a, y), d(fake_a, y)
            loss_d = adv.discriminator(d_real, d_fake)
            if self.lecam is not None:
                loss_d = loss_d + cfg.lecam * self.lecam(d_real, d_fake)
            if cfg.loss == "wgan-gp":
                loss_d = loss_d + cfg.gp_weight * _gradient_penalty(d, real_a, fake_a, y, rng)
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
        _, y = _class_grouped_batch(self.by_class, self.class_weights, cfg.batch_size, rng)
        z = torch.randn(cfg.batch_size, cfg.z_dim, generator=rng).to(dev)
        y = y.to(dev)
        for p in d.parameters():
            p.requires_grad_(False)
        fake = g(z, y)
        loss_g = adv.generator(d(diff_augment(fake, cfg.diffaug, rng), y))
        if cfg.mode_seeking > 0 and self.shift < cfg.batch_size:
            loss_g = loss_g + cfg.mode_seeking * _mode_seeking(fake, z, self.shift)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        for p in d.parameters():
            p.requires_grad_(True)
        # EMA warm-up ((1 + t) / (10 + t), as TensorFlow's num_updates): a short run's EMA
        # would otherwise still hold a blend of the random initial weights.
        t = self.iteration
        ema_update(self.ema, g, min(cfg.ema_decay, (1 + t) / (10 + t)))
        return {"loss_d": float(loss_d.detach()), "loss_g": float(loss_g.detach())}

    def after_step(self) -> None:
        if self.iteration % self.cfg.sample_every == 0 or self.iteration == self.total:
            grid = sample_grid(self.ema, self.data.classes, 8, self.cfg.seed)
            write_image(self.out / "samples" / f"step{self.iteration:06d}.png", grid)
            if self.writer is not None:
                self.writer.add_image("samples", torch.from_numpy(grid).permute(2, 0, 1), self.iteration)


def train_gan(src: str | Path, workdir: str | Path, cfg: GanConfig, *, resume: bool = False,
              progress: Progress | None = None, hold_out: Collection[str] = (),
              device: torch.device | str = "cpu") -> Path:  # fmt: skip
    """Train on SRC but ``hold_out`` on ``device`` (see :class:`GanTrainer`); returns the checkpoint path."""
    trainer = GanTrainer(src, workdir, cfg, resume=resume, progress=progress, hold_out=hold_out, device=device)
    trainer.run()
    return trainer.checkpoint_path
