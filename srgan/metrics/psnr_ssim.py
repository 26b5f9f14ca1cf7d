"""PSNR and SSIM as published super-resolution tables compute them (torch, batched).

Inputs are float tensors ``(B, C, H, W)`` on the 0-255 scale. The benchmark protocol
(see :func:`protocol_planes`) converts uint8 images to the plane(s) to compare; these
functions then crop ``crop_border`` pixels from every side and score each image.

SSIM follows Wang et al.'s ``ssim_index.m``: an 11x11 Gaussian window with sigma 1.5,
``K1 = 0.01``, ``K2 = 0.03``, ``L = 255``, 'valid' filtering and the mean of the SSIM map;
with several channels, the mean over channels.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["PROTOCOLS", "Protocol", "gaussian_window", "protocol_planes", "psnr", "rgb_to_y", "ssim"]

Protocol = Literal["basicsr", "matlab"]
PROTOCOLS: tuple[str, ...] = ("basicsr", "matlab")

# ITU-R BT.601 studio-range luma from RGB in [0, 1]: Y = 16 + 65.481 R + 128.553 G + 24.966 B.
_Y_WEIGHTS = (65.481, 128.553, 24.966)


def rgb_to_y(img: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` RGB on the 0-255 scale -> ``(B, 1, H, W)`` BT.601 luma (16-235), unrounded."""
    r, g, b = img[:, 0:1], img[:, 1:2], img[:, 2:3]
    return 16.0 + (_Y_WEIGHTS[0] * r + _Y_WEIGHTS[1] * g + _Y_WEIGHTS[2] * b) / 255.0


def protocol_planes(
    img: np.ndarray,
    *,
    protocol: Protocol = "basicsr",
    channel: Literal["y", "rgb"] = "y",
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """The planes a protocol compares, as a float64 ``(1, C, H, W)`` tensor on the 0-255 scale.

    ``img`` is a uint8 ``(H, W, C)`` image (alpha is ignored).

    * ``basicsr``: a one-channel image is replicated to RGB; Y is kept in float.
    * ``matlab``: Y is rounded to integers (MATLAB's ``rgb2ycbcr`` on uint8 returns uint8),
      and an image stored with one channel is scored on its own gray levels.

    ``channel='rgb'`` compares the RGB channels instead of Y.
    """
    if img.dtype != np.uint8:
        raise TypeError(f"benchmark images must be uint8, got {img.dtype}")
    a = img[:, :, None] if img.ndim == 2 else img
    if a.shape[2] in (2, 4):
        a = a[:, :, :-1]
    t = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].to(device=device, dtype=torch.float64)
    if t.shape[1] == 1:
        if protocol == "matlab" and channel == "y":
            return t
        t = t.expand(-1, 3, -1, -1)
    if channel == "rgb":
        return t
    y = rgb_to_y(t)
    if protocol == "matlab":
        y = torch.floor(y + 0.5)
    return y


def _crop(x: torch.Tensor, border: int) -> torch.Tensor:
    if border <= 0:
        return x
    return x[..., border:-border, border:-border]


def psnr(sr: torch.Tensor, hr: torch.Tensor, *, crop_border: int = 0, data_range: float = 255.0) -> torch.Tensor:
    """Per-image PSNR in dB of ``(B, C, H, W)`` tensors; ``inf`` where they are identical."""
    if sr.shape != hr.shape:
        raise ValueError(f"shape mismatch: {tuple(sr.shape)} vs {tuple(hr.shape)}")
    diff = _crop(sr, crop_border) - _crop(hr, crop_border)
    mse = diff.pow(2).flatten(1).mean(dim=1)
    return 10.0 * torch.log10(data_range**2 / mse)


def gaussian_window_1d(
    size: int = 11,
    sigma: float = 1.5,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Normalised 1-D Gaussian; its outer product with itself is :func:`gaussian_window`."""
    half = (size - 1) / 2.0
    x = torch.arange(size, dtype=torch.float64) - half
    g = torch.exp(-(x * x) / (2.0 * sigma * sigma))
    return (g / g.sum()).to(dtype=dtype, device=device)


def gaussian_window(size: int = 11, sigma: float = 1.5, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Normalised 2-D Gaussian window ``(size, size)``, as MATLAB's ``fspecial('gaussian')``."""
    g = gaussian_window_1d(size, sigma)
    return torch.outer(g, g).to(dtype)


def ssim(sr: torch.Tensor, hr: torch.Tensor, *, crop_border: int = 0, data_range: float = 255.0) -> torch.Tensor:
    """Per-image SSIM of ``(B, C, H, W)`` tensors (mean SSIM map, averaged over channels)."""
    if sr.shape != hr.shape:
        raise ValueError(f"shape mismatch: {tuple(sr.shape)} vs {tuple(hr.shape)}")
    x = _crop(sr, crop_border)
    y = _crop(hr, crop_border)
    c, h, w = x.shape[1:]
    if h < 11 or w < 11:
        raise ValueError(f"SSIM needs at least 11x11 pixels after cropping, got {h}x{w}")
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    # The Gaussian window is separable: filter rows then columns, all five statistics at once.
    g = gaussian_window_1d(dtype=x.dtype, device=x.device)
    stats = torch.cat([x, y, x * x, y * y, x * y], dim=1)  # (B, 5C, H, W)
    n = stats.shape[1]
    stats = F.conv2d(stats, g.view(1, 1, 1, 11).expand(n, 1, 1, 11), groups=n)  # 'valid' in W
    stats = F.conv2d(stats, g.view(1, 1, 11, 1).expand(n, 1, 11, 1), groups=n)  # 'valid' in H
    mu_x, mu_y, exx, eyy, exy = stats.split(c, dim=1)
    sxx = exx - mu_x * mu_x
    syy = eyy - mu_y * mu_y
    sxy = exy - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (sxx + syy + c2)
    return (num / den).mean(dim=(2, 3)).mean(dim=1)
