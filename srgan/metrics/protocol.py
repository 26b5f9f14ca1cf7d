"""The benchmark protocol, step by step: modcrop, the LR input, rounding, Y-PSNR/SSIM of a pair.

Benchmark evaluation: modcrop, MATLAB LR, upscale, score with the published protocol.

For each HR image of a dataset folder: crop it to a multiple of the scale, make the LR
input with MATLAB's bicubic (or read it from an LR folder), upscale it with each method,
round the result to uint8 and score PSNR/SSIM on Y with ``scale`` border pixels cropped.

The two protocols differ in how the LR input is made, as the scripts they follow do:

* ``basicsr``: ``imresize`` of the uint8 image, so the LR is uint8 (MATLAB rounds the
  result of each pass for uint8 input); this is how the LR files used by BasicSR and
  modern papers were written.
* ``matlab``: the classic SRCNN/VDSR scripts call ``im2double`` before ``imresize``, so the
  LR stays in double precision and is never rounded.

A method receives the LR in that class (uint8, or float64 on the 0-255 scale) and may
return uint8 or float; float results are clamped and rounded half away from zero.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from srgan.errors import DataError
from srgan.imageio import to_8bit
from srgan.metrics.psnr_ssim import Protocol, protocol_planes, psnr, ssim
from srgan.resize import imresize, imresize_uint8

__all__ = ["SSIM_WINDOW", "check_scorable", "make_lr", "modcrop", "prepare_hr", "score_pair", "to_uint8"]


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so height and width are multiples of ``scale``."""
    h, w = img.shape[0] - img.shape[0] % scale, img.shape[1] - img.shape[1] % scale
    return img[:h, :w]


def prepare_hr(img: np.ndarray, scale: int, protocol: Protocol) -> np.ndarray:
    """HR as the protocol reads it: uint8, no alpha, modcropped; RGB unless MATLAB gray."""
    a = to_8bit(img)
    if a.shape[2] in (2, 4):
        a = a[:, :, :-1]
    if a.shape[2] == 1 and protocol == "basicsr":
        a = np.repeat(a, 3, axis=2)
    return np.ascontiguousarray(modcrop(a, scale))


def make_lr(hr: np.ndarray, scale: int, protocol: Protocol) -> np.ndarray:
    """The LR input of a modcropped uint8 HR image under a protocol (see the module doc)."""
    if protocol == "matlab":
        t = torch.from_numpy(np.ascontiguousarray(hr.transpose(2, 0, 1), dtype=np.float64))
        return imresize(t, 1.0 / scale).numpy().transpose(1, 2, 0)
    lr = imresize_uint8(hr, 1.0 / scale)
    return lr[:, :, None] if lr.ndim == 2 else lr


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Clamp and round (half away from zero) a 0-255 image to uint8; uint8 passes through."""
    if img.dtype == np.uint8:
        return img
    return np.floor(np.clip(img, 0.0, 255.0) + 0.5).astype(np.uint8)


def score_pair(
    sr: np.ndarray, hr: np.ndarray, *, scale: int, protocol: Protocol, device: torch.device | str = "cpu"
) -> tuple[float, float]:
    """Y-PSNR and Y-SSIM of uint8 SR against uint8 HR with ``scale`` pixels of border cropped."""
    a = protocol_planes(sr, protocol=protocol, device=device)
    b = protocol_planes(hr, protocol=protocol, device=device)
    return float(psnr(a, b, crop_border=scale)[0]), float(ssim(a, b, crop_border=scale)[0])


#: SSIM's Gaussian window (Wang et al.): the scored area must be at least this many pixels a side.
SSIM_WINDOW = 11


def check_scorable(path: Path, hr: np.ndarray, scale: int) -> None:
    """Refuse an HR image too small to score at ``scale`` (border crop, then SSIM's 11x11 window)."""
    h, w = hr.shape[0] - 2 * scale, hr.shape[1] - 2 * scale
    if min(h, w) < SSIM_WINDOW:
        need = SSIM_WINDOW + 2 * scale
        raise DataError(f"{path}: {hr.shape[1]}x{hr.shape[0]} after modcrop is too small to score at x{scale} "
                        f"(at least {need}x{need}: SSIM's {SSIM_WINDOW}x{SSIM_WINDOW} window after a {scale}-pixel "
                        "border crop)")  # fmt: skip
