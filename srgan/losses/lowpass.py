"""A pixel loss on low frequencies only, for the gan stage (frequency separation).

A GAN stage trades PSNR for texture, and part of what it gives up is not texture at all: the
adversarial and perceptual gradients also move an output's low frequencies (shading, colour,
the position of edges), which LPIPS hardly sees and PSNR sees most. Fritsche et al. ("Frequency
Separation for Real-World Super-Resolution", ICCVW 2019) split the output's frequencies between the
losses. :class:`LowPassLoss` is the pixel half of that split: L1 between Gaussian-blurred output
and target, so a weight on it holds the low frequencies to the target without adding any pull on
the texture the other losses shape.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LowPassLoss", "gaussian_blur"]


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """``(B, C, H, W)`` blurred by a separable Gaussian of ``sigma`` px (radius 3 sigma, reflected edges)."""
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


class LowPassLoss(nn.Module):
    """``weight * mean |blur(pred) - blur(target)|`` with a Gaussian of ``sigma`` px."""

    def __init__(self, *, weight: float = 1.0, sigma: float = 2.0) -> None:
        super().__init__()
        if sigma <= 0:
            raise ValueError(f"low-pass sigma must be positive, got {sigma}")
        self.weight, self.sigma = weight, sigma

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.weight * (gaussian_blur(pred, self.sigma) - gaussian_blur(target, self.sigma)).abs().mean()
