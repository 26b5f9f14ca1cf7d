"""Discriminators: a PatchGAN (default) and SRGAN's VGG-style classifier."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import spectral_norm as _sn

__all__ = ["PatchDiscriminator", "VGGDiscriminator"]


def _maybe_sn(module: nn.Module, on: bool) -> nn.Module:
    return _sn(module) if on else module


class PatchDiscriminator(nn.Module):
    """Fully convolutional PatchGAN (pix2pix): one real/fake logit per receptive-field patch.

    ``num_layers`` stride-2 stages (channels doubling up to ``8 * num_feat``), one stride-1
    stage, then a 1-channel conv. Spectral norm (default) replaces batch norm, which the
    original uses, because it keeps the GAN stage stable with small batches.
    Input ``(B, 3, H, W)`` in [0, 1] -> logits ``(B, 1, h, w)``.
    """

    def __init__(self, *, in_ch: int = 3, num_feat: int = 64, num_layers: int = 3, spectral_norm: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            _maybe_sn(nn.Conv2d(in_ch, num_feat, 4, stride=2, padding=1), spectral_norm),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        ch = num_feat
        for i in range(1, num_layers + 1):
            nxt = num_feat * min(2**i, 8)
            stride = 2 if i < num_layers else 1
            layers += [
                _maybe_sn(nn.Conv2d(ch, nxt, 4, stride=stride, padding=1, bias=not spectral_norm), spectral_norm),
                nn.Identity() if spectral_norm else nn.BatchNorm2d(nxt),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            ch = nxt
        layers.append(_maybe_sn(nn.Conv2d(ch, 1, 4, stride=1, padding=1), spectral_norm))
        self.net = nn.Sequential(*layers)
        self.hparams = {
            "in_ch": in_ch,
            "num_feat": num_feat,
            "num_layers": num_layers,
            "spectral_norm": spectral_norm,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2.0 - 1.0)


class VGGDiscriminator(nn.Module):
    """SRGAN's discriminator: 8 conv stages (stride 1/2 alternating), then a dense classifier.

    It needs a fixed input size (``input_size``, a multiple of 16): one logit per image.
    """

    def __init__(
        self, *, in_ch: int = 3, num_feat: int = 64, input_size: int = 128, spectral_norm: bool = False
    ) -> None:
        super().__init__()
        if input_size % 16:
            raise ValueError(f"input_size must be a multiple of 16, got {input_size}")
        layers: list[nn.Module] = []
        ch = in_ch
        for i in range(8):
            out = num_feat * 2 ** (i // 2)
            stride = 1 if i % 2 == 0 else 2
            layers.append(_maybe_sn(nn.Conv2d(ch, out, 3, stride=stride, padding=1, bias=i == 0), spectral_norm))
            if i > 0 and not spectral_norm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            ch = out
        self.features = nn.Sequential(*layers)
        side = input_size // 16
        self.classifier = nn.Sequential(
            nn.Flatten(),
            _maybe_sn(nn.Linear(ch * side * side, 1024), spectral_norm),
            nn.LeakyReLU(0.2, inplace=True),
            _maybe_sn(nn.Linear(1024, 1), spectral_norm),
        )
        self.input_size = input_size
        self.hparams = {
            "in_ch": in_ch,
            "num_feat": num_feat,
            "input_size": input_size,
            "spectral_norm": spectral_norm,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(
                f"VGGDiscriminator expects {self.input_size}x{self.input_size} inputs, got {tuple(x.shape)}"
            )
        return self.classifier(self.features(x * 2.0 - 1.0))
