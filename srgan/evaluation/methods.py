"""What ``srgan evaluate --method`` accepts: classical resizers by name, models by name or path."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from srgan.errors import ConfigError, ModelError
from srgan.infer import Upscaler
from srgan.resize import imresize, imresize_uint8
from srgan.weights import list_models

__all__ = ["CLASSICAL_METHODS", "Method", "UpscaleFn", "model_method", "resolve_method"]

#: An upscaler as evaluate sees it: ``(h, w, C)`` LR, uint8 or float64 on the 0-255 scale,
#: -> ``(h*s, w*s, C)`` SR, uint8 or float on the 0-255 scale.
UpscaleFn = Callable[[np.ndarray], np.ndarray]


@dataclass
class Method:
    """A named way to upscale by a fixed scale."""

    name: str
    scale: int
    upscale: UpscaleFn


def _cv2_resize(img: np.ndarray, scale: int, interp: int) -> np.ndarray:
    out = cv2.resize(img, (img.shape[1] * scale, img.shape[0] * scale), interpolation=interp)
    return out[:, :, None] if out.ndim == 2 else out


def _bicubic(lr: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB ``imresize``: class-preserving for uint8, double precision otherwise."""
    if lr.dtype == np.uint8:
        return imresize_uint8(lr, float(scale))
    t = torch.from_numpy(np.ascontiguousarray(lr.transpose(2, 0, 1), dtype=np.float64))
    return imresize(t, float(scale)).numpy().transpose(1, 2, 0)


def _classical(name: str, scale: int) -> Method:
    if name == "bicubic":
        return Method("bicubic", scale, lambda lr: _bicubic(lr, scale))
    if name == "lanczos":
        return Method("lanczos", scale, lambda lr: _cv2_resize(lr, scale, cv2.INTER_LANCZOS4))
    if name == "nearest":
        return Method("nearest", scale, lambda lr: _cv2_resize(lr, scale, cv2.INTER_NEAREST))
    raise KeyError(name)


CLASSICAL_METHODS: tuple[str, ...] = ("bicubic", "lanczos", "nearest")


def model_method(name: str, scale: int, device: str, denoise: float | None = None) -> Method:
    """A model (shipped name or weights file) as an evaluation method, run untiled in fp32 (``denoise``: as
    ``srgan upscale --denoise``, for the real-world models)."""
    try:
        up = Upscaler(name, device=device, precision="fp32", tile=0, denoise=denoise)
    except ModelError as exc:
        if Path(name).suffix:
            raise
        shipped = ", ".join(m.name for m in list_models()) or "none"
        raise ConfigError(
            f"unknown method {name!r}: not one of {', '.join(CLASSICAL_METHODS)}, a shipped model ({shipped}) "
            "or a weights file"
        ) from exc
    if up.scale != scale:
        raise ConfigError(f"model {name} upscales x{up.scale}, but --scale is {scale}")

    def run(lr: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(np.ascontiguousarray(lr.transpose(2, 0, 1), dtype=np.float32) / 255.0)[None]
        if t.shape[1] == 1:
            t = t.expand(-1, 3, -1, -1)
        sr = up.upscale_tensor(t)[0].clamp(0, 1).mul(255.0)
        if lr.shape[2] == 1:
            sr = sr.mean(dim=0, keepdim=True)
        return sr.permute(1, 2, 0).double().numpy()

    return Method(name, scale, run)


def resolve_method(name: str, scale: int, device: str = "cpu") -> Method:
    """A classical method by name, or a model by name or path."""
    if name in CLASSICAL_METHODS:
        return _classical(name, scale)
    return model_method(name, scale, device)
