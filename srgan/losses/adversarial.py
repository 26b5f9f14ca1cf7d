"""Adversarial losses: vanilla (BCE with logits), LSGAN, hinge, relativistic average (ESRGAN), WGAN."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ADVERSARIAL_KINDS", "AdversarialLoss", "LeCamRegularizer", "random_shift"]

ADVERSARIAL_KINDS = ("vanilla", "lsgan", "hinge", "ragan", "wgan")


def random_shift(x: torch.Tensor, shift: int, offset: tuple[int, int]) -> torch.Tensor:
    """``x`` cropped by ``shift`` pixels in each direction at ``offset`` (dy, dx), each in ``[0, shift]``.

    Fed to the discriminator with a fresh offset every step, it keeps the discriminator's stride lattice
    from holding a fixed phase against the generator's upsampling grid: a strided discriminator's
    gradient repeats with its stride, and at a fixed phase it teaches the generator a periodic pattern.
    """
    if shift == 0:
        return x
    dy, dx = offset
    if not (0 <= dy <= shift and 0 <= dx <= shift):
        raise ValueError(f"offset {offset} outside [0, {shift}]")
    h, w = x.shape[-2] - shift, x.shape[-1] - shift
    return x[..., dy : dy + h, dx : dx + w]


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


class AdversarialLoss(nn.Module):
    """Generator and discriminator sides of one GAN objective.

    ``generator(fake, real)`` is the generator's loss, scaled by ``weight``; ``real`` logits
    are only used by the relativistic loss (and are detached there).
    ``discriminator(real, fake)`` is the discriminator's loss (unweighted).
    """

    def __init__(self, *, kind: str = "vanilla", weight: float = 5e-3) -> None:
        super().__init__()
        if kind not in ADVERSARIAL_KINDS:
            raise ValueError(f"adversarial loss must be one of {', '.join(ADVERSARIAL_KINDS)}, got {kind!r}")
        self.kind = kind
        self.weight = weight

    def generator(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        if self.kind == "vanilla":
            loss = _bce(fake, 1.0)
        elif self.kind == "lsgan":
            loss = (fake - 1).pow(2).mean()
        elif self.kind in ("hinge", "wgan"):
            loss = -fake.mean()
        else:
            if real is None:
                raise ValueError("the relativistic loss needs the real logits")
            real = real.detach()
            loss = 0.5 * (_bce(real - fake.mean(), 0.0) + _bce(fake - real.mean(), 1.0))
        return self.weight * loss

    def discriminator(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        if self.kind == "vanilla":
            return 0.5 * (_bce(real, 1.0) + _bce(fake, 0.0))
        if self.kind == "lsgan":
            return 0.5 * ((real - 1).pow(2).mean() + fake.pow(2).mean())
        if self.kind == "hinge":
            return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
        if self.kind == "wgan":  # the critic's loss; a gradient penalty is added by the caller
            return fake.mean() - real.mean()
        return 0.5 * (_bce(real - fake.mean(), 1.0) + _bce(fake - real.mean(), 0.0))


class LeCamRegularizer(nn.Module):
    """LeCam regularisation of a discriminator (Tseng et al., CVPR 2021), for GANs on little data.

    Keeps exponential moving averages of the discriminator's mean output on real and on generated
    images (the anchors) and penalises real outputs above the generated anchor and generated outputs
    below the real anchor: ``mean(relu(real - a_fake)^2) + mean(relu(a_real - fake)^2)``, added to the
    discriminator's loss with a weight (the paper's CIFAR-10 runs with DiffAugment use 0.3). It bounds
    how far apart the discriminator can push the two, which is what it overfits on a small dataset.
    The anchors are buffers, so a checkpoint holds them and a resumed run continues exactly; the first
    call sets them to that batch's means.
    """

    anchors: torch.Tensor
    started: torch.Tensor

    def __init__(self, decay: float = 0.99) -> None:
        super().__init__()
        if not 0 <= decay < 1:
            raise ValueError(f"LeCam anchor decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.register_buffer("anchors", torch.zeros(2))  # real, fake
        self.register_buffer("started", torch.zeros((), dtype=torch.bool))

    def forward(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        means = torch.stack([real.detach().mean(), fake.detach().mean()]).to(self.anchors)
        if bool(self.started):
            self.anchors.lerp_(means, 1 - self.decay)
        else:
            self.anchors.copy_(means)
            self.started.fill_(True)
        a_real, a_fake = self.anchors[0], self.anchors[1]
        return F.relu(real - a_fake).pow(2).mean() + F.relu(a_real - fake).pow(2).mean()
