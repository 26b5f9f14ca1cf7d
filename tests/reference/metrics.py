"""A plain float64 numpy implementation of the benchmark protocol, for cross-checking.

It mirrors BasicSR's ``calculate_psnr`` / ``calculate_ssim`` semantics (and, with
``protocol='matlab'``, the classic MATLAB scripts) without sharing code with the torch
path in :mod:`srgan.metrics.psnr_ssim`: filtering is direct 2-D correlation from scipy. It lives with
the tests (and benchmarks/eval_speed.py), outside the library.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["reference_psnr", "reference_ssim", "reference_y"]


def reference_y(img: np.ndarray, *, protocol: str = "basicsr") -> np.ndarray:
    """uint8 ``(H, W[, C])`` -> float64 plane compared by the protocol."""
    a = img.astype(np.float64)
    if a.ndim == 3 and a.shape[2] in (2, 4):
        a = a[:, :, :-1]
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        if protocol == "matlab":
            return a
        a = np.stack([a, a, a], axis=2)
    y = 16.0 + (a[:, :, 0] * 65.481 + a[:, :, 1] * 128.553 + a[:, :, 2] * 24.966) / 255.0
    if protocol == "matlab":
        y = np.floor(y + 0.5)
    return y


def _crop(a: np.ndarray, border: int) -> np.ndarray:
    return a[border:-border, border:-border] if border > 0 else a


def reference_psnr(a: np.ndarray, b: np.ndarray, crop_border: int) -> float:
    """PSNR (dB) of two float64 planes on the 0-255 scale."""
    d = _crop(a, crop_border) - _crop(b, crop_border)
    mse = float(np.mean(d * d))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0 * 255.0 / mse)


def _ssim_plane(x: np.ndarray, y: np.ndarray) -> float:
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    win = np.outer(g, g)
    win /= win.sum()

    def filt(t: np.ndarray) -> np.ndarray:
        # Direct correlation; keep only positions where the window fits ('valid').
        return ndimage.correlate(t, win, mode="constant")[5:-5, 5:-5]

    mx, my = filt(x), filt(y)
    sxx = filt(x * x) - mx * mx
    syy = filt(y * y) - my * my
    sxy = filt(x * y) - mx * my
    m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(m.mean())


def reference_ssim(a: np.ndarray, b: np.ndarray, crop_border: int) -> float:
    """SSIM of two float64 planes (2-D) or channel stacks (3-D, averaged per channel)."""
    a, b = _crop(a, crop_border), _crop(b, crop_border)
    if a.ndim == 2:
        return _ssim_plane(a, b)
    return float(np.mean([_ssim_plane(a[:, :, i], b[:, :, i]) for i in range(a.shape[2])]))
