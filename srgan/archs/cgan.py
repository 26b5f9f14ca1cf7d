"""Class-conditional DCGAN for dataset augmentation.

Generator: DCGAN's transposed-conv + BatchNorm + ReLU stack, with class-conditional
BatchNorm (a learned gain and bias per class, Dumoulin et al.) and the class embedding
concatenated to the noise. Discriminator: DCGAN's strided conv + LeakyReLU stack with
spectral norm, a minibatch standard-deviation feature (Karras et al. 2018) so that a
generator that ignores its noise is easy to spot, and projection conditioning (Miyato &
Koyama 2018): the class embedding's dot product with the pooled features is added to the logit.
Images are ``(B, C, S, S)`` in [-1, 1] with S in 32, 64, 128.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import spectral_norm as _sn

__all__ = ["CondDiscriminator", "CondGenerator", "mbstd_group"]

SIZES = (32, 64, 128)


def mbstd_group(batch: int, group: int = 4) -> int:
    """Group size of the discriminator's minibatch-stddev feature for a batch: at most ``group``, dividing it."""
    g = min(group, batch)
    while batch % g:
        g -= 1
    return g


class _CondBN(nn.Module):
    def __init__(self, ch: int, num_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(ch, affine=False)
        self.gain = nn.Embedding(num_classes, ch)
        self.bias = nn.Embedding(num_classes, ch)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.bn(x) * self.gain(y)[:, :, None, None] + self.bias(y)[:, :, None, None]


class CondGenerator(nn.Module):
    def __init__(self, *, num_classes: int, img_size: int = 32, channels: int = 3, z_dim: int = 128,
                 base: int = 64) -> None:  # fmt: skip
        super().__init__()
        if img_size not in SIZES:
            raise ValueError(f"img_size must be one of {SIZES}, got {img_size}")
        self.z_dim, self.num_classes = z_dim, num_classes
        n_up = int(math.log2(img_size // 4))
        ch = base * min(8, 2 ** (n_up - 1))
        self.embed = nn.Embedding(num_classes, z_dim)
        self.fc = nn.Linear(2 * z_dim, 4 * 4 * ch)
        self.bn0 = _CondBN(ch, num_classes)
        self.ups = nn.ModuleList()
        self.bns = nn.ModuleList()
        for _ in range(n_up):
            nxt = max(base, ch // 2)
            self.ups.append(nn.ConvTranspose2d(ch, nxt, 4, stride=2, padding=1, bias=False))
            self.bns.append(_CondBN(nxt, num_classes))
            ch = nxt
        self.out = nn.Conv2d(ch, channels, 3, padding=1)
        self.hparams = {"num_classes": num_classes, "img_size": img_size, "channels": channels, "z_dim": z_dim,
                        "base": base}  # fmt: skip

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # (B, z), (B,) -> (B, C, S, S)
        h = self.fc(torch.cat([z, self.embed(y)], dim=1))
        h = h.view(z.shape[0], -1, 4, 4)
        h = torch.relu(self.bn0(h, y))
        for up, bn in zip(self.ups, self.bns, strict=True):
            h = torch.relu(bn(up(h), y))
        return torch.tanh(self.out(h))


class CondDiscriminator(nn.Module):
    def __init__(self, *, num_classes: int, img_size: int = 32, channels: int = 3, base: int = 64,
                 spectral_norm: bool = True) -> None:  # fmt: skip
        super().__init__()
        if img_size not in SIZES:
            raise ValueError(f"img_size must be one of {SIZES}, got {img_size}")

        def sn(m: nn.Module) -> nn.Module:
            return _sn(m) if spectral_norm else m

        layers: list[nn.Module] = [sn(nn.Conv2d(channels, base, 3, padding=1)), nn.LeakyReLU(0.1, inplace=True)]
        ch = base
        for _ in range(int(math.log2(img_size // 4))):
            nxt = min(ch * 2, base * 8)
            layers += [sn(nn.Conv2d(ch, nxt, 4, stride=2, padding=1)), nn.LeakyReLU(0.1, inplace=True),
                       sn(nn.Conv2d(nxt, nxt, 3, padding=1)), nn.LeakyReLU(0.1, inplace=True)]  # fmt: skip
            ch = nxt
        self.features = nn.Sequential(*layers)
        self.final = nn.Sequential(sn(nn.Conv2d(ch + 1, ch, 3, padding=1)), nn.LeakyReLU(0.1, inplace=True))
        self.linear = sn(nn.Linear(ch, 1))
        self.embed = sn(nn.Embedding(num_classes, ch))
        self.hparams = {"num_classes": num_classes, "img_size": img_size, "channels": channels, "base": base,
                        "spectral_norm": spectral_norm}  # fmt: skip

    @staticmethod
    def _minibatch_std(h: torch.Tensor) -> torch.Tensor:
        """Append the mean standard deviation over groups of samples as one constant feature map.

        Sample ``i`` is grouped with ``i + k * B / G`` (``G = mbstd_group(B)``): a batch laid out
        by ``srgan.train.gan_trainer`` (one class per group) makes the feature measure the
        spread within a class, which is what a conditional generator that ignores its noise lacks.
        """
        b, c, hh, ww = h.shape
        g = mbstd_group(b)
        if g < 2:  # a single image: no spread to measure
            return torch.cat([h, h.new_zeros(b, 1, hh, ww)], dim=1)
        std = h.view(g, b // g, c, hh, ww).float().var(dim=0, unbiased=False).add(1e-8).sqrt()
        std = std.mean(dim=(1, 2, 3)).to(h.dtype)  # (b // g,)
        return torch.cat([h, std.repeat(g)[:, None, None, None].expand(b, 1, hh, ww)], dim=1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # -> (B,) logits
        h = self.final(self._minibatch_std(self.features(x))).sum(dim=(2, 3))  # global sum pooling
        return self.linear(h).squeeze(1) + (self.embed(y) * h).sum(dim=1)
