"""LPIPS with the SqueezeNet backbone, built offline.

The ``lpips`` package ships its calibrated linear layers (``weights/v0.1/squeeze.pth``) but
fetches the ImageNet backbone through torchvision. Here the backbone comes from a local
file (srgan's usual lookup: ``SRGAN_SQUEEZENET_WEIGHTS``, torchvision's
cache) and is copied into the package's network, so nothing is downloaded and the result
is the published LPIPS-squeeze.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from srgan.errors import ModelError
from srgan.losses.perceptual import load_backbone

__all__ = ["LPIPS"]


class LPIPS(nn.Module):
    """Per-image LPIPS (SqueezeNet, v0.1) of ``(B, 3, H, W)`` images in [0, 1]; lower is closer."""

    def __init__(self, weights_path: str | Path | None = None, *, allow_download: bool = False) -> None:
        super().__init__()
        try:
            import lpips
        except ImportError as exc:  # pragma: no cover - lpips is a dependency
            raise ModelError("LPIPS needs the lpips package") from exc
        with warnings.catch_warnings():
            # lpips builds its random-init backbone with torchvision's deprecated ``pretrained=False``: noise for
            # every user who asks for LPIPS, about an argument we do not pass (real weights are loaded below)
            warnings.filterwarnings("ignore", category=UserWarning, module="torchvision")
            self.model = lpips.LPIPS(net="squeeze", pnet_rand=True, verbose=False)
        features = load_backbone("squeezenet", weights_path, allow_download=allow_download)
        for i in range(1, self.model.net.N_slices + 1):
            for name, module in getattr(self.model.net, f"slice{i}").named_children():
                module.load_state_dict(features[int(name)].state_dict())
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.model(a * 2 - 1, b * 2 - 1).flatten()

    def score_uint8(self, a: np.ndarray, b: np.ndarray) -> float:
        """LPIPS of two uint8 ``(H, W, 3)`` (or 1-channel) images."""

        def t(x: np.ndarray) -> torch.Tensor:
            x = x if x.shape[2] == 3 else np.repeat(x[:, :, :1], 3, axis=2)
            return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))).float()[None] / 255.0

        return float(self(t(a), t(b))[0])
