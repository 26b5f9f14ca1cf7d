"""Discriminators: a PatchGAN (default), SRGAN's VGG-style classifier and Real-ESRGAN's U-Net."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import spectral_norm as _sn

__all__ = ["PatchDiscriminator", "UNetDiscriminator", "VGGDiscriminator"]


def _maybe_sn(module: nn.Module, on: bool) -> nn.Module:
    return _sn(module) if on else module


class BlurPool(nn.Module):
    """Anti-aliased stride-2 downsampling (Zhang, 2019): a fixed [1, 3, 3, 1] binomial blur, then every 2nd pixel.

    A strided convolution's gradient with respect to its input repeats with the stride, so a
    discriminator built from them hands the generator a periodic gradient: the period-4 cross-hatch a
    pixel-shuffle generator then learns to draw. Blurring before subsampling smooths that gradient.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        k = torch.tensor([1.0, 3.0, 3.0, 1.0])
        k = torch.outer(k, k) / 64.0
        self.kernel: torch.Tensor
        self.register_buffer("kernel", k.expand(channels, 1, 4, 4).clone(), persistent=False)
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.pad(x, (1, 2, 1, 2), mode="reflect")
        return nn.functional.conv2d(x, self.kernel, stride=2, groups=self.channels)


def _down(i: int, o: int, spectral_norm: bool, antialias: bool, *, bias: bool = True) -> list[nn.Module]:
    """A stride-2 stage: a 4x4 strided conv, or (anti-aliased) a 3x3 conv, then :class:`BlurPool`."""
    if antialias:
        return [_maybe_sn(nn.Conv2d(i, o, 3, 1, 1, bias=bias), spectral_norm), BlurPool(o)]
    return [_maybe_sn(nn.Conv2d(i, o, 4, stride=2, padding=1, bias=bias), spectral_norm)]


class PatchDiscriminator(nn.Module):
    """Fully convolutional PatchGAN (pix2pix): one real/fake logit per receptive-field patch.

    ``num_layers`` stride-2 stages (channels doubling up to ``8 * num_feat``), one stride-1
    stage, then a 1-channel conv. Spectral norm (default) replaces batch norm, which the
    original uses, because it keeps the GAN stage stable with small batches.
    Input ``(B, 3, H, W)`` in [0, 1] -> logits ``(B, 1, h, w)``.
    """

    def __init__(self, *, in_ch: int = 3, num_feat: int = 64, num_layers: int = 3, spectral_norm: bool = True,
                 antialias: bool = False) -> None:  # fmt: skip
        super().__init__()
        layers: list[nn.Module] = [*_down(in_ch, num_feat, spectral_norm, antialias), nn.LeakyReLU(0.2, inplace=True)]
        ch = num_feat
        for i in range(1, num_layers + 1):
            nxt = num_feat * min(2**i, 8)
            if i < num_layers:
                conv = _down(ch, nxt, spectral_norm, antialias, bias=not spectral_norm)
            else:
                conv = [_maybe_sn(nn.Conv2d(ch, nxt, 4, stride=1, padding=1, bias=not spectral_norm), spectral_norm)]
            layers += [*conv, nn.Identity() if spectral_norm else nn.BatchNorm2d(nxt), nn.LeakyReLU(0.2, inplace=True)]
            ch = nxt
        layers.append(_maybe_sn(nn.Conv2d(ch, 1, 4, stride=1, padding=1), spectral_norm))
        self.net = nn.Sequential(*layers)
        self.hparams = {
            "in_ch": in_ch,
            "num_feat": num_feat,
            "num_layers": num_layers,
            "spectral_norm": spectral_norm,
            "antialias": antialias,
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


class UNetDiscriminator(nn.Module):
    """Real-ESRGAN's U-Net discriminator with spectral norm: a real/fake logit for every pixel.

    Three stride-2 encoder stages, a bilinear decoder with skip connections, two more convs and a
    1-channel head. Per-pixel feedback gives the generator local gradients (where an artifact is,
    not only that there is one), which Real-ESRGAN found steadies training on complex degradations.
    Input ``(B, 3, H, W)`` in [0, 1] with H and W multiples of 8 -> logits ``(B, 1, H, W)``.
    """

    def __init__(self, *, in_ch: int = 3, num_feat: int = 64, spectral_norm: bool = True, antialias: bool = False
                 ) -> None:  # fmt: skip
        super().__init__()
        nf = num_feat

        def conv(i: int, o: int) -> nn.Module:
            return _maybe_sn(nn.Conv2d(i, o, 3, 1, 1, bias=False), spectral_norm)

        def down(i: int, o: int) -> nn.Module:
            parts = _down(i, o, spectral_norm, antialias, bias=False)
            return parts[0] if len(parts) == 1 else nn.Sequential(*parts)

        self.conv0 = nn.Conv2d(in_ch, nf, 3, 1, 1)
        self.down = nn.ModuleList([down(nf, nf * 2), down(nf * 2, nf * 4), down(nf * 4, nf * 8)])
        self.up = nn.ModuleList([conv(nf * 8, nf * 4), conv(nf * 4, nf * 2), conv(nf * 2, nf)])
        self.tail = nn.ModuleList([conv(nf, nf), conv(nf, nf)])
        self.head = nn.Conv2d(nf, 1, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = nn.functional.leaky_relu
        skips = [act(self.conv0(x), 0.2)]
        for d in self.down:
            skips.append(act(d(skips[-1]), 0.2))
        y = skips.pop()
        for u in self.up:
            y = nn.functional.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
            y = act(u(y), 0.2) + skips.pop()
        for t in self.tail:
            y = act(t(y), 0.2)
        return self.head(y)
