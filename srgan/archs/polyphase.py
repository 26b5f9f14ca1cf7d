"""Bilinear x2 resize followed by a 3x3 conv, computed at low resolution (the same numbers, faster).

Resizing by 2 with bilinear weights (``align_corners=False``) is linear and the same for every
2x2 block of output pixels, so a 3x3 conv after it is, for each of the four output phases, a 3x3
conv on the input before it, and the four together are one transposed conv of stride 2 (6x6 taps).
The resized tensor (``num_feat`` channels at twice the size) is never built, nor its copy in the
conv's padding (benchmarks/results/speed_polyphase.md).

At the border the transposed conv reads zeros where the resize clamps and the conv after it pads
the resized tensor with zeros, so the outer two rings of output pixels are recomputed the direct
way from three-pixel strips of the input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["polyphase_kernel", "resize_conv_x2"]

# Bilinear x2 (align_corners=False): output 2j takes 0.75 x[j] + 0.25 x[j-1], output 2j+1 takes
# 0.75 x[j] + 0.25 x[j+1]; per phase, {input offset: weight}.
_BILINEAR_X2 = ({-1: 0.25, 0: 0.75}, {0: 0.75, 1: 0.25})


def _taps() -> torch.Tensor:
    """``M[r, k, d]``: weight of input offset ``d - 1`` in output phase ``r`` under conv tap ``k - 1``."""
    m = torch.zeros(2, 3, 3, dtype=torch.float64)
    for r in range(2):
        for k in range(3):
            q = r + k - 1  # the resized pixel this tap reads, relative to 2j
            phase, shift = q % 2, q // 2
            for offset, weight in _BILINEAR_X2[phase].items():
                m[r, k, shift + offset + 1] += weight
    return m


def _transposed_taps() -> torch.Tensor:
    """``P[t, k]``: the weight of conv tap ``k`` in tap ``t`` of the equivalent stride-2 transposed conv.

    A transposed conv (stride 2, padding 2) writes input pixel ``j + d`` (``d`` = -1, 0, 1) into output
    ``2j + r`` through its tap ``t = r - 2d + 2``: each (phase, offset) pair is one of six taps.
    """
    m = _taps()
    p = torch.zeros(6, 3, dtype=torch.float64)
    for r in range(2):
        for d in range(3):
            p[r - 2 * (d - 1) + 2] = m[r, :, d]
    return p


_P = _transposed_taps()


def polyphase_kernel(weight: torch.Tensor) -> torch.Tensor:
    """The ``(in, out, 6, 6)`` kernel of a stride-2 transposed conv equal to bilinear x2 then a 3x3 conv.

    Away from the border; ``weight`` is the 3x3 conv's ``(out, in, 3, 3)``.
    """
    p = _P.to(weight.device)
    return torch.einsum("oiab,ya,xb->oiyx", weight.double(), p, p).transpose(0, 1).to(weight.dtype)


def _direct(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    return conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False))


def resize_conv_x2(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``conv(bilinear_x2(x))`` for a 3x3, stride 1, padding 1 ``conv``, computed at ``x``'s resolution."""
    h, w = x.shape[-2:]
    if min(h, w) < 4 or conv.kernel_size != (3, 3) or conv.padding != (1, 1) or conv.stride != (1, 1):
        return _direct(x, conv)
    y = F.conv_transpose2d(x, polyphase_kernel(conv.weight), conv.bias, stride=2, padding=2)
    # the outer two rings read past the input (zeros here, clamped by the resize): the direct path on
    # 3-pixel strips, whose own edge is the image's, both ends of an axis in one call
    n = x.shape[0]
    rows = _direct(torch.cat([x[..., :3, :], x[..., -3:, :]]), conv)
    y[..., :2, :], y[..., -2:, :] = rows[:n, :, :2], rows[n:, :, -2:]
    cols = _direct(torch.cat([x[..., :3], x[..., -3:]]), conv)
    y[..., :2], y[..., -2:] = cols[:n, ..., :2], cols[n:, ..., -2:]
    return y
