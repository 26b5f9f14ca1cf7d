"""LDL's artifact loss (Liang, Zeng and Zhang, "Details or Artifacts", CVPR 2022) for the gan stage.

A GAN's false textures sit where its error is locally irregular, while real detail it renders
right leaves a smooth, small error. The loss weights the output's L1 error by a map that is large
where (a) the per-pixel residual ``sum_c |sr - hr|`` varies a lot within a ``window`` x ``window``
neighbourhood (the pixel-level weight: its local variance) in (b) a patch whose residual varies a
lot overall (the patch-level weight: the residual's variance over the patch, to the power 1/5),
and is zero where (c) the output errs less than the EMA generator does at that pixel: the EMA,
a steadier average of the same model, serves as the reference for what is stable detail.
The map is a mask: it carries no gradient, only the weighted error does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ArtifactLoss", "artifact_map"]


def _local_variance(x: torch.Tensor, window: int) -> torch.Tensor:
    """``(B, 1, H, W)`` -> the unbiased variance of each pixel's ``window`` x ``window`` neighbourhood."""
    pad = window // 2
    xp = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    mean = F.avg_pool2d(xp, window, stride=1)
    mean_sq = F.avg_pool2d(xp * xp, window, stride=1)
    n = window * window
    return ((mean_sq - mean * mean) * (n / (n - 1))).clamp_min(0)


@torch.no_grad()
def artifact_map(sr: torch.Tensor, hr: torch.Tensor, sr_ema: torch.Tensor, window: int = 7) -> torch.Tensor:
    """The ``(B, 1, H, W)`` weight map described in the module docstring (no gradient)."""
    res = (hr - sr).abs().sum(1, keepdim=True)
    res_ema = (hr - sr_ema).abs().sum(1, keepdim=True)
    patch = res.flatten(1).var(dim=1).pow(0.2).view(-1, 1, 1, 1)
    weight = patch * _local_variance(res, window)
    return torch.where(res < res_ema, torch.zeros_like(weight), weight)


class ArtifactLoss(nn.Module):
    """``weight * mean |M * (sr - hr)|`` with ``M`` = :func:`artifact_map` (LDL uses window 7, weight 1)."""

    def __init__(self, *, weight: float = 1.0, window: int = 7) -> None:
        super().__init__()
        if window < 3 or window % 2 == 0:
            raise ValueError(f"artifact window must be an odd size >= 3, got {window}")
        self.weight, self.window = weight, window

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, sr_ema: torch.Tensor) -> torch.Tensor:
        m = artifact_map(sr.detach(), hr, sr_ema, self.window)
        return self.weight * (m * (sr - hr)).abs().mean()
