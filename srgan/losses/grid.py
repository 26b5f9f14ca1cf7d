"""A loss against the sub-pixel grid a pixel-shuffle upsampler can draw (the "checkerboard").

A x``period`` upsampler that treats its ``period**2`` output phases differently leaves a pattern
repeating every ``period`` pixels. :class:`GridLoss` measures it directly: the high-pass residual
of an image (the image minus a shift-invariant box blur), averaged separately over
each of the ``period**2`` phases of every ``period`` x ``period`` cell; natural images give
nearly equal phase means, a grid gives unequal ones. The loss is that spread for the error
(prediction minus target), where the content's own phase structure cancels and a grid remains.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["GridLoss", "phase_spread"]


def phase_spread(x: torch.Tensor, period: int) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B,)``: variance across the ``period**2`` phase means of the high-pass residual."""
    h, w = (x.shape[2] // period) * period, (x.shape[3] // period) * period
    x = x[:, :, :h, :w]
    k = period + 1  # an odd box: shift-invariant, so no phase is favoured by the blur itself
    low = F.avg_pool2d(F.pad(x, (k // 2,) * 4, mode="replicate"), k, stride=1)
    r = (x - low).mean(1)  # (B, H, W)
    phases = r.reshape(r.shape[0], h // period, period, w // period, period).mean(dim=(1, 3))  # (B, p, p)
    return phases.flatten(1).var(dim=1)


class GridLoss(nn.Module):
    def __init__(self, *, period: int = 4, weight: float = 1.0) -> None:
        super().__init__()
        self.period, self.weight = period, weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # The error's phase means: the content's own (random) phase structure cancels, a grid stays.
        return self.weight * phase_spread(pred - target, self.period).mean() * 1e5  # ~1 for a visible grid
