"""Labelled image folders: flat, or one sub-folder per class; loaded whole as small tensors.

Used by the augmenter (classical engine, report) and its GAN trainer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from srgan.errors import DataError, SrganError
from srgan.imageio import list_images, load_image, to_8bit

__all__ = ["FolderDataset", "ImageSet", "load_images", "scan_folder"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FolderDataset:
    """Files of a folder with their class (``""`` for a flat folder)."""

    root: Path
    files: tuple[Path, ...]
    labels: tuple[str, ...]

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.labels))

    @property
    def flat(self) -> bool:
        return self.classes == [""]

    def by_class(self) -> dict[str, list[Path]]:
        out: dict[str, list[Path]] = {c: [] for c in self.classes}
        for f, c in zip(self.files, self.labels, strict=True):
            out[c].append(f)
        return out

    def relative(self, f: Path) -> Path:
        return f.relative_to(self.root)


def scan_folder(root: str | Path) -> FolderDataset:
    """Images directly in ``root`` form a flat dataset; images in sub-folders are classes."""
    r = Path(root)
    if not r.is_dir():
        raise DataError(f"{r}: not a folder" if r.exists() else f"{r}: no such folder")
    subdirs = sorted(d for d in r.iterdir() if d.is_dir() and not d.name.startswith("."))
    files: list[Path] = []
    labels: list[str] = []
    for d in subdirs:
        for f in list_images(d, recursive=True):
            files.append(f)
            labels.append(d.name)
    top = list_images(r)
    if top and files:
        raise DataError(f"{r}: holds both images and class sub-folders; use one layout")
    for f in top:
        files.append(f)
        labels.append("")
    if not files:
        raise DataError(f"{r}: no images found (flat, or one sub-folder per class)")
    return FolderDataset(r, tuple(files), tuple(labels))


@dataclass
class ImageSet:
    images: torch.Tensor  # (N, C, S, S) in [-1, 1]
    labels: torch.Tensor  # (N,) int64
    classes: list[str]
    unreadable: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # each image's path in its folder, without the suffix


def centre_square(a: np.ndarray) -> np.ndarray:
    """The largest centred square of an ``(H, W, C)`` image (itself when square)."""
    h, w = a.shape[:2]
    side = min(h, w)
    y, x = (h - side) // 2, (w - side) // 2
    return a[y : y + side, x : x + side]


def load_images(src: str | Path, size: int) -> ImageSet:
    """All images of a folder (flat or per class) as ``size`` squares; gray if every image is gray.

    An image that is not square is centre-cropped to its short side first (as StyleGAN's dataset
    tool does), so objects keep their shape instead of being squashed.
    """
    ds = scan_folder(src)
    arrays: list[np.ndarray] = []
    labels: list[int] = []
    names: list[str] = []
    unreadable: list[str] = []
    cropped = 0
    index = {c: i for i, c in enumerate(ds.classes)}
    for f, c in zip(ds.files, ds.labels, strict=True):
        try:
            a = load_image(f).array
        except SrganError as exc:
            log.error("%s", exc)
            unreadable.append(str(ds.relative(f)))
            continue
        a = to_8bit(a)
        if a.shape[2] in (2, 4):
            a = a[:, :, :-1]
        if a.shape[0] != a.shape[1]:
            a = centre_square(a)
            cropped += 1
        interp = cv2.INTER_AREA if min(a.shape[:2]) > size else cv2.INTER_CUBIC
        r = cv2.resize(a, (size, size), interpolation=interp)
        arrays.append(r[:, :, None] if r.ndim == 2 else r)
        labels.append(index[c])
        names.append(ds.relative(f).with_suffix("").as_posix())
    if not arrays:
        raise DataError(f"{src}: no readable images")
    if cropped:
        log.info("%s: %d of %d images are not square; centre-cropped to their short side", src, cropped, len(arrays))
    gray = all(a.shape[2] == 1 for a in arrays)
    arrays = [a if gray or a.shape[2] == 3 else np.repeat(a, 3, axis=2) for a in arrays]
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return ImageSet(x, torch.tensor(labels, dtype=torch.long), ds.classes, unreadable, names)
