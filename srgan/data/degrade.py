"""Real-world degradations: Real-ESRGAN's second-order model, seeded per sample.

What people upscale went through a camera and the web: blur, resizing, sensor noise and JPEG,
often twice. :func:`degrade` makes a training LR image from an HR patch the way Wang et al.
(Real-ESRGAN, 2021) do:

1. blur with a random kernel (isotropic / anisotropic Gaussian, generalised Gaussian, plateau;
   or a sinc that rings), random resize (up, down or keep; area, bilinear or bicubic), Gaussian or
   Poisson noise (colour or gray), JPEG;
2. the same again with its own (milder) ranges, each stage with its own probability;
3. resize to the LR size with a final sinc filter and JPEG, in random order.

Every random choice comes from the numpy generator passed in, so a sample is a pure function of
its index and resuming stays exact. Everything runs on HWC float32 images in [0, 1] with OpenCV.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import cv2
import numpy as np
import torch
from scipy import special

__all__ = [
    "DegradationConfig",
    "Stage",
    "add_noise",
    "circular_lowpass_kernel",
    "degrade",
    "jpeg",
    "mixed_kernel",
    "random_resize",
]

KERNELS = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
RESIZE_MODES = {"area": cv2.INTER_AREA, "bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}


def _range(name: str, r: tuple[float, float], lo: float, hi: float) -> None:
    if len(r) != 2 or not lo <= r[0] <= r[1] <= hi:
        raise ValueError(f"degradation {name} must be an increasing pair within [{lo}, {hi}], got {r}")


@dataclass(frozen=True)
class Stage:
    """One degradation pass: blur, resize, noise, JPEG. Probabilities are in [0, 1]."""

    blur_prob: float = 1.0
    kernel_prob: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)  # in the order of KERNELS
    blur_sigma: tuple[float, float] = (0.2, 3.0)
    betag_range: tuple[float, float] = (0.5, 4.0)  # generalised Gaussian shape
    betap_range: tuple[float, float] = (1.0, 2.0)  # plateau shape
    sinc_prob: float = 0.1
    resize_prob: tuple[float, float, float] = (0.2, 0.7, 0.1)  # up, down, keep
    resize_range: tuple[float, float] = (0.15, 1.5)
    gaussian_noise_prob: float = 0.5  # else Poisson
    noise_range: tuple[float, float] = (1.0, 30.0)  # Gaussian sigma on the 0-255 scale
    poisson_scale_range: tuple[float, float] = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    jpeg_range: tuple[int, int] = (30, 95)

    def __post_init__(self) -> None:
        for name in ("blur_prob", "sinc_prob", "gaussian_noise_prob", "gray_noise_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"degradation {name} must be in [0, 1], got {getattr(self, name)}")
        for name, probs in (("kernel_prob", self.kernel_prob), ("resize_prob", self.resize_prob)):
            if any(p < 0 for p in probs) or abs(sum(probs) - 1.0) > 1e-6:
                raise ValueError(f"degradation {name} must be non-negative and sum to 1, got {probs}")
        if len(self.resize_prob) != 3:
            raise ValueError(f"degradation resize_prob needs 3 values (up, down, keep), got {self.resize_prob}")
        if len(self.kernel_prob) != len(KERNELS):
            raise ValueError(f"degradation kernel_prob needs {len(KERNELS)} values ({', '.join(KERNELS)})")
        _range("blur_sigma", self.blur_sigma, 0.05, 20.0)
        _range("betag_range", self.betag_range, 0.1, 10.0)
        _range("betap_range", self.betap_range, 0.1, 10.0)
        _range("resize_range", self.resize_range, 0.05, 4.0)
        _range("noise_range", self.noise_range, 0.0, 255.0)
        _range("poisson_scale_range", self.poisson_scale_range, 0.0, 10.0)
        _range("jpeg_range", self.jpeg_range, 1, 100)


#: Real-ESRGAN's second pass: a milder blur (and only with probability 0.8), smaller resizes, less noise.
SECOND_STAGE = Stage(blur_prob=0.8, blur_sigma=(0.2, 1.5), resize_prob=(0.3, 0.4, 0.3), resize_range=(0.3, 1.2),
                     noise_range=(1.0, 25.0), poisson_scale_range=(0.05, 2.5))  # fmt: skip


@dataclass(frozen=True)
class DegradationConfig:
    """Real-ESRGAN's recipe (``RealESRGAN_x4plus``'s training options) by default."""

    first: Stage = field(default_factory=Stage)
    second: Stage = field(default_factory=lambda: SECOND_STAGE)
    second_prob: float = 1.0  # Real-ESRGAN always runs the second pass; each of its stages has a probability
    final_sinc_prob: float = 0.8
    kernel_sizes: tuple[int, ...] = (7, 9, 11, 13, 15, 17, 19, 21)

    def __post_init__(self) -> None:
        for name in ("second_prob", "final_sinc_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"degradation {name} must be in [0, 1], got {getattr(self, name)}")
        if not self.kernel_sizes or any(k < 3 or k % 2 == 0 for k in self.kernel_sizes):
            raise ValueError(f"degradation kernel_sizes must be odd and >= 3, got {self.kernel_sizes}")

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


# --------------------------------------------------------------------------- kernels


def _grid(size: int) -> np.ndarray:
    r = np.arange(size, dtype=np.float64) - size // 2
    xx, yy = np.meshgrid(r, r)
    return np.stack([xx, yy], axis=-1)  # (size, size, 2)


def _mahalanobis(size: int, sx: float, sy: float, theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    rot = np.array([[c, -s], [s, c]])
    inv = np.linalg.inv(rot @ np.diag([sx * sx, sy * sy]) @ rot.T)
    pts = _grid(size)
    return np.einsum("...i,ij,...j->...", pts, inv, pts)


def mixed_kernel(size: int, stage: Stage, rng: np.random.Generator) -> np.ndarray:
    """A random blur kernel of one of :data:`KERNELS`, normalised to sum 1."""
    kind = KERNELS[int(rng.choice(len(KERNELS), p=np.asarray(stage.kernel_prob)))]
    sx = float(rng.uniform(*stage.blur_sigma))
    if kind.endswith("iso") and not kind.endswith("aniso"):
        sy, theta = sx, 0.0
    else:
        sy, theta = float(rng.uniform(*stage.blur_sigma)), float(rng.uniform(0, np.pi))
    d = _mahalanobis(size, sx, sy, theta)
    if kind.startswith("generalized"):
        k = np.exp(-0.5 * np.power(d, rng.uniform(*stage.betag_range)))
    elif kind.startswith("plateau"):
        k = 1.0 / (1.0 + np.power(d, rng.uniform(*stage.betap_range)))
    else:
        k = np.exp(-0.5 * d)
    return (k / k.sum()).astype(np.float32)


def circular_lowpass_kernel(cutoff: float, size: int) -> np.ndarray:
    """The 2-D sinc (ideal circular low-pass) filter with angular cutoff ``cutoff``: it rings."""
    r = np.sqrt((_grid(size) ** 2).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        k = cutoff * special.j1(cutoff * r) / (2 * np.pi * r)
    k[size // 2, size // 2] = cutoff**2 / (4 * np.pi)
    return (k / k.sum()).astype(np.float32)


def _sinc(size: int, rng: np.random.Generator) -> np.ndarray:
    lo = np.pi / 3 if size < 13 else np.pi / 5
    return circular_lowpass_kernel(float(rng.uniform(lo, np.pi)), size)


def _filter(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    return cv2.filter2D(img, -1, k, borderType=cv2.BORDER_REFLECT_101)


# --------------------------------------------------------------------------- stages


def random_resize(img: np.ndarray, stage: Stage, rng: np.random.Generator) -> np.ndarray:
    """Up, down or keep (``stage.resize_prob``), by a factor from ``resize_range``, with a random filter."""
    kind = int(rng.choice(3, p=np.asarray(stage.resize_prob)))
    if kind == 0:
        factor = rng.uniform(1.0, max(1.0, stage.resize_range[1]))
    elif kind == 1:
        factor = rng.uniform(stage.resize_range[0], 1.0)
    else:
        factor = 1.0
    mode = list(RESIZE_MODES.values())[int(rng.integers(len(RESIZE_MODES)))]
    if factor == 1.0:
        return img
    h, w = img.shape[:2]
    size = (max(4, round(w * factor)), max(4, round(h * factor)))
    out = cv2.resize(img, size, interpolation=mode)
    return out[:, :, None] if out.ndim == 2 else out


def add_noise(img: np.ndarray, stage: Stage, rng: np.random.Generator) -> np.ndarray:
    """Gaussian (sigma from ``noise_range``) or Poisson (scaled by ``poisson_scale_range``) noise, colour or gray."""
    gray = rng.random() < stage.gray_noise_prob
    shape = (*img.shape[:2], 1) if gray else img.shape
    if rng.random() < stage.gaussian_noise_prob:
        sigma = rng.uniform(*stage.noise_range) / 255.0
        noise = rng.normal(0.0, sigma, size=shape)
    else:
        scale = rng.uniform(*stage.poisson_scale_range)
        base = img.mean(axis=2, keepdims=True) if gray else img
        vals = 255.0  # photon counts: 8-bit levels
        noise = (rng.poisson(np.clip(base, 0, 1) * vals) / vals - base) * scale
    return np.clip(img + noise.astype(np.float32), 0.0, 1.0)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode as JPEG at ``quality`` (OpenCV's libjpeg, 4:2:0)."""
    u8 = np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)
    ok, enc = cv2.imencode(".jpg", np.ascontiguousarray(u8[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    dec = cv2.imdecode(enc, cv2.IMREAD_COLOR) if ok else None
    if dec is None:  # pragma: no cover - OpenCV encodes and decodes any 8-bit BGR image
        return img
    return dec[:, :, ::-1].astype(np.float32) / 255.0


def _pass(img: np.ndarray, stage: Stage, cfg: DegradationConfig, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < stage.blur_prob:
        size = int(rng.choice(cfg.kernel_sizes))
        k = _sinc(size, rng) if rng.random() < stage.sinc_prob else mixed_kernel(size, stage, rng)
        img = _filter(img, k)
    img = random_resize(img, stage, rng)
    img = add_noise(img, stage, rng)
    return jpeg(img, int(rng.integers(stage.jpeg_range[0], stage.jpeg_range[1] + 1)))


def degrade(hr: torch.Tensor, scale: int, cfg: DegradationConfig, rng: np.random.Generator) -> torch.Tensor:
    """HR ``(3, H, W)`` in [0, 1] -> degraded LR ``(3, H/scale, W/scale)`` in [0, 1], quantised to 8 bits."""
    img = np.ascontiguousarray(hr.permute(1, 2, 0).numpy(), dtype=np.float32)
    out_size = (hr.shape[2] // scale, hr.shape[1] // scale)
    img = _pass(img, cfg.first, cfg, rng)
    if rng.random() < cfg.second_prob:
        img = _pass(img, cfg.second, cfg, rng)
    mode = list(RESIZE_MODES.values())[int(rng.integers(len(RESIZE_MODES)))]
    sinc = _sinc(int(rng.choice(cfg.kernel_sizes)), rng) if rng.random() < cfg.final_sinc_prob else None
    quality = int(rng.integers(cfg.second.jpeg_range[0], cfg.second.jpeg_range[1] + 1))

    def resize_sinc(a: np.ndarray) -> np.ndarray:
        a = cv2.resize(a, out_size, interpolation=mode)
        return _filter(a, sinc) if sinc is not None else a

    # The final resize (with its sinc) and JPEG, in random order.
    img = jpeg(resize_sinc(img), quality) if rng.random() < 0.5 else resize_sinc(jpeg(img, quality))
    lr = np.clip(np.round(np.clip(img, 0, 1) * 255) / 255, 0, 1).astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(lr.transpose(2, 0, 1)))
