"""How degraded an input photo looks, without a reference: its JPEG quality and its block artefacts.

``srgan upscale`` uses it to point users of the default (clean-trained) model at the real-world model when
an input looks compressed. Two cheap estimates:

* :func:`jpeg_quality`: the IJG quality a JPEG file was saved at, from its luminance quantisation
  table (libjpeg scales the standard table by ``5000 / q`` below 50 and ``200 - 2 q`` above);
* :func:`blockiness`: how much larger the jumps across the 8x8 block boundaries are than the jumps
  inside blocks (1 for an image without blocks), so a JPEG re-saved as PNG is still seen.

Noise is not estimated: on x4-downscaled photos, Immerkaer's estimator (even over the flattest half of
the image) gave clean T91 + BSD200 images a median sigma of 2.4 and degraded ones 2.1, since fine
texture at that scale looks like noise to it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

__all__ = ["BLOCKINESS_LIMIT", "JPEG_QUALITY_LIMIT", "Degradation", "assess", "blockiness", "jpeg_quality"]

#: A JPEG saved at this quality or lower shows its blocks and ringing at 100 % zoom.
JPEG_QUALITY_LIMIT = 90
#: Blockiness above this is seen in 1 % of clean x4 bicubic LR images of T91 + BSD200 and in 47 % (one
#: stage) / 66 % (two stages) of benchmarks/realworld.py's degraded ones (benchmarks/degradation_check.py).
BLOCKINESS_LIMIT = 1.2

#: The IJG standard luminance table (ITU-T T.81 Annex K), in zig-zag-free row order.
_STD_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
], dtype=np.float64)  # fmt: skip


def _y(img: np.ndarray) -> np.ndarray:
    a = img.astype(np.float64)
    if img.dtype == np.uint16:
        a /= 257.0
    if a.ndim == 2:
        return a
    if a.shape[2] < 3:
        return a[:, :, 0]
    return 0.299 * a[:, :, 0] + 0.587 * a[:, :, 1] + 0.114 * a[:, :, 2]


def jpeg_quality(path: str | os.PathLike[str]) -> int | None:
    """The IJG quality (1-100) that best explains a JPEG's luminance table; None for other files."""
    try:
        with Image.open(path) as im:
            tables = getattr(im, "quantization", None) if im.format == "JPEG" else None
    except (OSError, ValueError):
        return None
    if not tables or 0 not in tables:
        return None
    table = np.asarray(tables[0], dtype=np.float64)
    if table.size != 64:
        return None
    # Pillow gives the table in natural order; compare it with every quality's scaled standard table.
    best, err = None, np.inf
    for q in range(1, 101):
        scale = 5000 / q if q < 50 else 200 - 2 * q
        ref = np.clip(np.floor((_STD_LUMA * scale + 50) / 100), 1, 255)
        e = float(np.abs(np.sort(ref) - np.sort(table)).mean())
        if e < err:
            best, err = q, e
    return best


def blockiness(img: np.ndarray, block: int = 8) -> float:
    """Mean |jump| across block-boundary columns and rows over the mean |jump| inside blocks (1: no blocks)."""
    y = _y(img)
    if min(y.shape) < 4 * block:
        return 1.0
    dx, dy = np.abs(np.diff(y, axis=1)), np.abs(np.diff(y, axis=0))
    edge_x = np.zeros(dx.shape[1], bool)
    edge_x[block - 1 :: block] = True
    edge_y = np.zeros(dy.shape[0], bool)
    edge_y[block - 1 :: block] = True
    at = dx[:, edge_x].sum() + dy[edge_y].sum()
    n_at = dx[:, edge_x].size + dy[edge_y].size
    inside = dx[:, ~edge_x].sum() + dy[~edge_y].sum()
    n_inside = dx[:, ~edge_x].size + dy[~edge_y].size
    return float((at / n_at) / max(inside / n_inside, 1e-9))


@dataclass(frozen=True)
class Degradation:
    jpeg_quality: int | None
    blockiness: float

    @property
    def looks_degraded(self) -> bool:
        """Compressed enough that a model trained on clean images would sharpen the artefacts."""
        low_q = self.jpeg_quality is not None and self.jpeg_quality <= JPEG_QUALITY_LIMIT
        return low_q or self.blockiness > BLOCKINESS_LIMIT

    def describe(self) -> str:
        q = f"JPEG quality ~{self.jpeg_quality}, " if self.jpeg_quality is not None else ""
        return f"{q}blockiness {self.blockiness:.2f}"


def assess(img: np.ndarray, path: str | os.PathLike[str] | None = None) -> Degradation:
    """Both estimates for an image (and its file, for the JPEG table)."""
    return Degradation(jpeg_quality(path) if path is not None else None, blockiness(img))
