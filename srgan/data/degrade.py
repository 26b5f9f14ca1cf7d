"""A blind degradation pipeline (blur, resize, noise, JPEG, optionally twice), Real-ESRGAN style.

Used instead of plain bicubic when a model must cope with real photos rather than with
benchmark inputs. Every random choice comes from the numpy generator passed in, so a
sample stays a pure function of its index.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from srgan.resize import imresize

__all__ = ["DegradationConfig", "degrade", "random_gaussian_kernel"]


@dataclass
class DegradationConfig:
    """Ranges of the random degradations; each stage has its own probability."""

    blur_prob: float = 0.8
    blur_sigma: tuple[float, float] = (0.2, 2.5)
    blur_size: int = 21
    noise_prob: float = 0.7
    noise_sigma: tuple[float, float] = (1.0, 15.0)  # on the 0-255 scale
    jpeg_prob: float = 0.7
    jpeg_quality: tuple[int, int] = (40, 95)
    second_order_prob: float = 0.3

    def __post_init__(self) -> None:
        for name in ("blur_prob", "noise_prob", "jpeg_prob", "second_order_prob"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"degradation.{name} must be in [0, 1], got {v}")
        if self.blur_size % 2 == 0:
            raise ValueError(f"degradation.blur_size must be odd, got {self.blur_size}")


def random_gaussian_kernel(size: int, sigma_range: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """An anisotropic Gaussian kernel with random sigmas and rotation, normalised to sum 1."""
    sx, sy = rng.uniform(*sigma_range, size=2)
    theta = rng.uniform(0, np.pi)
    c, s = np.cos(theta), np.sin(theta)
    rot = np.array([[c, -s], [s, c]])
    cov = rot @ np.diag([sx * sx, sy * sy]) @ rot.T
    inv = np.linalg.inv(cov)
    r = np.arange(size) - size // 2
    xx, yy = np.meshgrid(r, r)
    pts = np.stack([xx, yy], axis=-1)
    k = np.exp(-0.5 * np.einsum("...i,ij,...j->...", pts, inv, pts))
    return (k / k.sum()).astype(np.float32)


def _stage(img: np.ndarray, cfg: DegradationConfig, rng: np.random.Generator) -> np.ndarray:
    """One blur -> noise -> JPEG pass on an HWC float32 image in [0, 1]."""
    if rng.random() < cfg.blur_prob:
        k = random_gaussian_kernel(cfg.blur_size, cfg.blur_sigma, rng)
        img = cv2.filter2D(img, -1, k, borderType=cv2.BORDER_REFLECT_101)
    if rng.random() < cfg.noise_prob:
        sigma = rng.uniform(*cfg.noise_sigma) / 255.0
        img = img + rng.normal(0.0, sigma, size=img.shape).astype(np.float32)
    img = np.clip(img, 0.0, 1.0)
    if rng.random() < cfg.jpeg_prob:
        q = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
        u8 = np.round(img * 255).astype(np.uint8)[:, :, ::-1]
        ok, enc = cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, q])
        if ok:
            img = cv2.imdecode(enc, cv2.IMREAD_COLOR)[:, :, ::-1].astype(np.float32) / 255.0
    return img


def degrade(hr: torch.Tensor, scale: int, cfg: DegradationConfig, rng: np.random.Generator) -> torch.Tensor:
    """HR ``(3, H, W)`` in [0, 1] -> degraded LR ``(3, H/scale, W/scale)`` in [0, 1], quantised to 8 bits."""
    img = hr.permute(1, 2, 0).numpy().astype(np.float32)
    img = _stage(img, cfg, rng)
    t = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
    if rng.random() < cfg.second_order_prob:
        # Second order: a resize to an intermediate size, then a second degradation pass.
        mid = float(rng.uniform(0.5, 1.0))
        h, w = max(8, round(t.shape[1] * mid)), max(8, round(t.shape[2] * mid))
        t = imresize(t, size=(h, w)).clamp(0, 1)
        img = _stage(np.ascontiguousarray(t.numpy().transpose(1, 2, 0)), cfg, rng)
        t = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
    lr = imresize(t, size=(hr.shape[1] // scale, hr.shape[2] // scale)).clamp(0, 1)
    return torch.round(lr * 255) / 255
