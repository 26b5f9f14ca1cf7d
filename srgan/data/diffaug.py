"""DiffAugment (Zhao et al. 2020): differentiable augmentations applied to every image D sees.

Applying the same random policy to real and generated images keeps the discriminator
from memorising a small training set, which is what lets a GAN learn from a few hundred
images per class. Every op is differentiable with respect to the image. Random draws come
from ``generator`` on the CPU and are then moved to the image's device, so a seeded run draws
the same augmentations on a GPU as on the CPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["diff_augment"]


def _color(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    b = x.shape[0]
    dev = x.device
    x = x + (torch.rand(b, 1, 1, 1, generator=g).to(dev) - 0.5)  # brightness
    if x.shape[1] == 3:
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (torch.rand(b, 1, 1, 1, generator=g).to(dev) * 2) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(b, 1, 1, 1, generator=g).to(dev) + 0.5) + mean  # contrast


def _translation(x: torch.Tensor, g: torch.Generator | None, ratio: float = 0.125) -> torch.Tensor:
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dev = x.device
    ty = torch.randint(-sh, sh + 1, (b, 1, 1), generator=g).to(dev)
    tx = torch.randint(-sw, sw + 1, (b, 1, 1), generator=g).to(dev)
    gy, gx = torch.meshgrid(torch.arange(h, device=dev), torch.arange(w, device=dev), indexing="ij")
    gy = torch.clamp(gy[None] + ty + 1, 0, h + 1)
    gx = torch.clamp(gx[None] + tx + 1, 0, w + 1)
    padded = F.pad(x, (1, 1, 1, 1))  # shifted-in pixels are zero
    idx = (gy * (w + 2) + gx).view(b, 1, -1).expand(-1, x.shape[1], -1)
    return padded.flatten(2).gather(2, idx).view_as(x)


def _cutout(x: torch.Tensor, g: torch.Generator | None, ratio: float = 0.5) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dev = x.device
    cy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), generator=g).to(dev)
    cx = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), generator=g).to(dev)
    gy, gx = torch.meshgrid(torch.arange(h, device=dev), torch.arange(w, device=dev), indexing="ij")
    inside = ((gy[None] - cy).abs() <= ch // 2) & ((gx[None] - cx).abs() <= cw // 2)
    return x * (~inside).unsqueeze(1).to(x.dtype)


def diff_augment(x: torch.Tensor, policy: str = "color,translation,cutout",
                 generator: torch.Generator | None = None) -> torch.Tensor:  # fmt: skip
    """Apply the comma-separated ``policy`` (``color``, ``translation``, ``cutout``) to ``x`` in [-1, 1]."""
    ops = {"color": _color, "translation": _translation, "cutout": _cutout}
    for name in filter(None, (p.strip() for p in policy.split(","))):
        if name not in ops:
            raise ValueError(f"unknown DiffAugment op {name!r}; available: {', '.join(ops)}")
        x = ops[name](x, generator)
    return x
