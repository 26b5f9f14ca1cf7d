"""Pixel losses; each a small Module with a ``weight``."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["PIXEL_LOSSES", "CharbonnierLoss", "L1Loss", "MSELoss"]


class L1Loss(nn.Module):
    def __init__(self, *, weight: float = 1.0) -> None:
        super().__init__()
        self.weight = weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.weight * (pred - target).abs().mean()


class MSELoss(nn.Module):
    def __init__(self, *, weight: float = 1.0) -> None:
        super().__init__()
        self.weight = weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.weight * (pred - target).pow(2).mean()


class CharbonnierLoss(nn.Module):
    """sqrt((x - y)^2 + eps^2): L1-like but smooth at zero (LapSRN)."""

    def __init__(self, *, weight: float = 1.0, eps: float = 1e-3) -> None:
        super().__init__()
        self.weight = weight
        self.eps = eps

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.weight * torch.sqrt((pred - target).pow(2) + self.eps * self.eps).mean()


PIXEL_LOSSES: dict[str, type[nn.Module]] = {
    "l1": L1Loss,
    "l2": MSELoss,
    "mse": MSELoss,
    "charbonnier": CharbonnierLoss,
}
