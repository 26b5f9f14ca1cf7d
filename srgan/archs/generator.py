"""SRResNet-family generator: conv head, residual blocks, global skip, and an upsampler.

Its hyperparameters are written once, in :class:`SRResNetConfig`: the module, the training
config's ``[model]`` table and the metadata of a weights file all take them from there.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from srgan.archs.polyphase import resize_conv_x2

__all__ = ["ResidualBlock", "SRResNet", "SRResNetConfig", "icnr_"]


UPSAMPLERS = ("pixelshuffle", "light", "nearest", "bilinear", "slim")


@dataclass(frozen=True)
class SRResNetConfig:
    """The generator's hyperparameters and their defaults (validated on construction).

    The defaults (48 features, 12 blocks, light upsampler) are the size that reached the best Set5
    PSNR in a few hours of 2-core CPU training (benchmarks/size_sweep.py); SRResNet's original is
    64 features, 16 blocks, pixelshuffle upsampler.
    """

    scale: int = 4
    in_ch: int = 3
    out_ch: int = 3
    num_feat: int = 48
    num_blocks: int = 12
    batch_norm: bool = False
    res_scale: float = 1.0
    upsampler: str = "light"
    img_skip: bool = True
    up_feat: int = 16  # width of the full-resolution convs of upsampler="nearest" (24 ran 46 % slower on CPU)

    def __post_init__(self) -> None:
        if self.scale not in (2, 3, 4):
            raise ValueError(f"scale must be one of 2, 3, 4; got {self.scale}")
        if self.upsampler not in UPSAMPLERS:
            raise ValueError(f"upsampler must be one of {', '.join(map(repr, UPSAMPLERS))}; got {self.upsampler!r}")
        if self.up_feat < 1:
            raise ValueError(f"up_feat must be >= 1, got {self.up_feat}")
        if self.num_feat < 1 or self.num_blocks < 0 or not 1 <= self.in_ch <= 4 or not 1 <= self.out_ch <= 4:
            raise ValueError("num_feat must be >= 1, num_blocks >= 0, in_ch and out_ch from 1 to 4")
        if not math.isfinite(self.res_scale):
            raise ValueError(f"res_scale must be finite, got {self.res_scale}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def min_parameters(self) -> int:
        """A lower bound on the weights of this network: its 3x3 convolutions at LR."""
        nf = self.num_feat
        return 9 * nf * (self.in_ch + (2 * self.num_blocks + 1) * nf)


def icnr_(weight: torch.Tensor, scale: int, init=nn.init.kaiming_normal_) -> torch.Tensor:
    """ICNR initialisation (Aitken et al. 2017) of a conv feeding ``PixelShuffle(scale)``.

    Every group of ``scale**2`` output channels that PixelShuffle interleaves gets the same
    kernel, so the freshly initialised upsampler behaves like nearest-neighbour resizing of
    a normal convolution's output: no checkerboard pattern at the start of training.
    """
    out_ch, in_ch, kh, kw = weight.shape
    sub = torch.empty(out_ch // (scale * scale), in_ch, kh, kw)
    init(sub)
    with torch.no_grad():
        weight.copy_(sub.repeat_interleave(scale * scale, dim=0))
    return weight


class ResidualBlock(nn.Module):
    """conv-(BN)-ReLU-conv-(BN), scaled and added to the input (EDSR style without BN)."""

    def __init__(self, *, num_feat: int, batch_norm: bool = False, res_scale: float = 1.0) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, padding=1, bias=not batch_norm)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, padding=1, bias=not batch_norm)
        self.bn1: nn.Module = nn.BatchNorm2d(num_feat) if batch_norm else nn.Identity()
        self.bn2: nn.Module = nn.BatchNorm2d(num_feat) if batch_norm else nn.Identity()
        self.res_scale = res_scale
        for conv in (self.conv1, self.conv2):
            nn.init.kaiming_normal_(conv.weight)
            conv.weight.data.mul_(0.1)  # small residuals keep deep stacks stable without BN
            if conv.bias is not None:
                nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)), inplace=True)))
        return x + y if self.res_scale == 1.0 else x + y * self.res_scale  # a multiply by 1 cost 4-8 % on CPU


class SRResNet(nn.Module):
    """Residual upsampling generator (SRResNet / MSRResNet family).

    ``upsampler="pixelshuffle"`` is SRResNet's: conv + PixelShuffle(2) + act per factor 2
    (or one x3 step), then a conv tail at full resolution. ``upsampler="light"`` is the one
    of efficient SR networks (ESPCN, IMDN, RLFN): a single conv to ``3 * scale**2`` channels
    and one PixelShuffle, so all convolutions run at low resolution. ``upsampler="nearest"``
    is the resize-convolution of Odena et al. (2016) and ESRGAN: nearest-neighbour x2 then a
    3x3 conv (``up_feat`` channels) per factor 2, then a conv to RGB. A sub-pixel upsampler
    gives each of its ``scale**2`` output phases its own kernel, so it can draw a period-``scale``
    grid even on a flat input, and a GAN's gradients teach it to (issue 19); resize-convolution
    maps a flat input to a flat output, so a grid can only follow the picture. ``img_skip`` adds the
    bilinearly upscaled input to the output, so the network learns only the missing detail.
    ``upsampler="bilinear"`` is the same with bilinear resizing: nearest-neighbour copies leave block
    edges on the 2-px (then 4-px) lattice, the one high frequency there before any conv, and a GAN
    learned to sharpen them into a grid that follows the picture; bilinear resizing leaves none.
    ``upsampler="slim"`` is ``"bilinear"`` with each conv moved before its resize: a conv to ``up_feat``
    channels at LR, bilinear x2, a conv at 2x, bilinear x2 (at x4), then the conv to RGB. It has the
    same tensors as ``"bilinear"`` (other names), no conv at full resolution but the last, and resizes
    ``up_feat`` channels instead of ``num_feat``: on a 2-core CPU at 256² LR 1.02x ``"light"``'s speed
    where ``"bilinear"`` runs at 0.74x (benchmarks/results/speed_cpu_slim.md), still a flat output for a
    flat input. realsrgan-x4 fine-tuned onto it lost LPIPS (benchmarks/configs/realsrgan-x4-slim.toml).

    Input and output are RGB (or ``in_ch`` channels) in [0, 1], ``(B, C, H, W)`` ->
    ``(B, C, H*scale, W*scale)``. ``SRResNet(config)`` or ``SRResNet(scale=2, ...)``: keyword
    arguments override fields of the config (defaults: :class:`SRResNetConfig`).
    """

    #: In eval mode, run ``"bilinear"``'s resize-convs at low resolution (:mod:`srgan.archs.polyphase`):
    #: the same output to float rounding, faster. Training always takes the direct path.
    fused_resize: bool = True

    def __init__(self, config: SRResNetConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        self.config = dataclasses.replace(config or SRResNetConfig(), **overrides)
        c = self.config
        scale, in_ch, out_ch, num_feat = c.scale, c.in_ch, c.out_ch, c.num_feat
        batch_norm, res_scale, upsampler, img_skip = c.batch_norm, c.res_scale, c.upsampler, c.img_skip
        self.scale = scale
        self.img_skip = img_skip
        steps = [2, 2] if scale == 4 else [scale]  # the x2 (or x3) stages of the multi-step upsamplers
        layers: list[nn.Module] = []
        self.head = nn.Conv2d(in_ch, num_feat, 3, padding=1)
        self.body = nn.Sequential(
            *[ResidualBlock(num_feat=num_feat, batch_norm=batch_norm, res_scale=res_scale) for _ in range(c.num_blocks)]
        )
        self.body_tail = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        if upsampler == "light":
            conv = nn.Conv2d(num_feat, out_ch * scale * scale, 3, padding=1)
            icnr_(conv.weight, scale)
            nn.init.zeros_(conv.bias)  # type: ignore[arg-type]  # bias=True
            self.upsample = nn.Sequential(conv, nn.PixelShuffle(scale))
            self.tail: nn.Module = nn.Identity()
        elif upsampler in ("nearest", "bilinear", "slim"):
            width = num_feat
            up = {"mode": "nearest"} if upsampler == "nearest" else {"mode": "bilinear", "align_corners": False}
            for s in steps:
                conv_act: list[nn.Module] = [nn.Conv2d(width, c.up_feat, 3, padding=1), nn.LeakyReLU(0.1, inplace=True)]
                resize: list[nn.Module] = [nn.Upsample(scale_factor=s, **up)]
                layers += conv_act + resize if upsampler == "slim" else resize + conv_act
                width = c.up_feat
            self.upsample = nn.Sequential(*layers)
            self.tail = nn.Conv2d(width, out_ch, 3, padding=1)
        else:
            for s in steps:
                conv = nn.Conv2d(num_feat, num_feat * s * s, 3, padding=1)
                icnr_(conv.weight, s)
                nn.init.zeros_(conv.bias)  # type: ignore[arg-type]  # bias=True
                layers += [conv, nn.PixelShuffle(s), nn.LeakyReLU(0.1, inplace=True)]
            self.upsample = nn.Sequential(*layers)
            self.tail = nn.Sequential(
                nn.Conv2d(num_feat, num_feat, 3, padding=1),
                nn.LeakyReLU(0.1, inplace=True),
                nn.Conv2d(num_feat, out_ch, 3, padding=1),
            )
        self.hparams = c.to_dict()

    def _upsample(self, feat: torch.Tensor) -> torch.Tensor:
        if self.training or not self.fused_resize or self.config.upsampler != "bilinear" or self.scale not in (2, 4):
            return self.upsample(feat)
        layers = list(self.upsample)  # (resize, conv, act) per x2 step
        for resize, conv, act in zip(layers[::3], layers[1::3], layers[2::3], strict=True):
            assert isinstance(resize, nn.Upsample) and isinstance(conv, nn.Conv2d)
            feat = act(resize_conv_x2(feat, conv))
        return feat

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, h, w) -> (B, C, h*s, w*s)
        feat = self.head(x)
        feat = feat + self.body_tail(self.body(feat))  # global skip over the residual body
        out = self.tail(self._upsample(feat))
        if self.img_skip:
            out = out + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return out
