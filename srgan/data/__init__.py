"""Training and validation data for super-resolution.

Training samples are a pure function of ``(seed, sample index)``: the image, the crop
position and the flip/rotation of sample ``k`` are drawn from a generator seeded with
``(seed, k)``. Iteration ``i`` of a run with global batch ``B`` uses samples
``i*B .. i*B+B-1``, split between ranks. So a resumed run sees exactly the batches an
uninterrupted run would, whatever the number of DataLoader workers or processes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from srgan.data.degrade import DegradationConfig, degrade
from srgan.data.tensors import array_to_tensor
from srgan.errors import DataError, SrganError
from srgan.imageio import list_images, read_image
from srgan.metrics.protocol import make_lr, modcrop, prepare_hr

__all__ = ["PairedFolder", "PatchDataset", "SampleSampler", "load_hr_images", "select_images"]

log = logging.getLogger(__name__)


_EVERY_KTH = re.compile(r"(.+)\[::([1-9][0-9]*)\]")


def select_images(spec: str | Path) -> list[Path]:
    """The images a spec names: ``FOLDER`` (all of its images) or ``FOLDER[::K]`` (every K-th in path order).

    ``BSD200[::10]`` is the issue-19 validation set (benchmarks' ``dataset_dir``); a training config
    holds it out of the training data with ``data.exclude``.
    """
    m = _EVERY_KTH.fullmatch(str(spec))
    folder, step = (Path(m.group(1)), int(m.group(2))) if m else (Path(spec), 1)
    if not folder.is_dir():
        raise DataError(f"{spec}: folder {folder} does not exist")
    return list_images(folder, recursive=True)[::step]


def load_hr_images(
    dirs: Sequence[str | Path], *, scale: int, min_size: int, skip_small: bool = False,
    exclude: Collection[Path] = (),
) -> list[tuple[str, np.ndarray]]:  # fmt: skip
    """Read every image of the folders as uint8 RGB, modcropped, but those in ``exclude`` (resolved paths).

    Images smaller than ``min_size`` are refused (:class:`DataError`), or skipped with one
    warning when ``skip_small`` is set.
    """
    images: list[tuple[str, np.ndarray]] = []
    skipped = held = 0
    for d in dirs:
        root = Path(d)
        if not root.is_dir():
            raise DataError(f"training folder {root} does not exist")
        files = list_images(root, recursive=True)
        if not files:
            raise DataError(f"training folder {root} holds no images")
        for f in files:
            if exclude and f.resolve() in exclude:
                held += 1
                continue
            try:
                img = prepare_hr(read_image(f), scale, "basicsr")
            except SrganError as exc:
                log.warning("skipping %s", exc)
                continue
            if min(img.shape[:2]) < min_size:
                if skip_small:
                    skipped += 1
                    continue
                raise DataError(
                    f"{f}: {img.shape[1]}x{img.shape[0]} is smaller than the {min_size}px HR patch "
                    "(lower data.patch_size or remove the image)"
                )
            images.append((str(f), img))
    if held:
        log.info("held %d image(s) out of training", held)
    if skipped:
        log.warning("skipped %d image(s) smaller than the %dpx patch", skipped, min_size)
    if not images:
        raise DataError(f"no readable training images in {', '.join(map(str, dirs))}")
    return images


def _rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, index])


def _augment(arrays: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """The same random flip / 90-degree rotation applied to every array (HWC)."""
    hflip, vflip, rot = rng.random(3) < 0.5
    out = []
    for a in arrays:
        if hflip:
            a = a[:, ::-1]
        if vflip:
            a = a[::-1]
        if rot:
            a = a.transpose(1, 0, 2)
        out.append(np.ascontiguousarray(a))
    return out


class PatchDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Random aligned (LR, HR) patches from HR images; item ``k`` is deterministic in ``(seed, k)``.

    With ``degradation=None`` the LR image is MATLAB's bicubic of the whole HR image
    (uint8, computed once), exactly how benchmark LR images are made; patches are aligned
    crops of both. With a :class:`DegradationConfig` the LR patch is synthesised from the
    HR patch by the blur / resize / noise / JPEG pipeline in :mod:`srgan.data.degrade`.
    Items are float tensors in [0, 1]: LR ``(3, p/s, p/s)``, HR ``(3, p, p)``.
    """

    def __init__(
        self,
        images: list[tuple[str, np.ndarray]],
        *,
        scale: int,
        patch_size: int,
        seed: int = 0,
        augment: bool = True,
        degradation: DegradationConfig | None = None,
    ) -> None:
        if patch_size % scale:
            raise DataError(f"patch_size {patch_size} must be a multiple of the scale {scale}")
        self.images = images
        self.scale = scale
        self.patch = patch_size
        self.seed = seed
        self.augment = augment
        self.degradation = degradation
        self.lrs = None if degradation else [make_lr(img, scale, "basicsr") for _, img in images]
        # Larger images are drawn more often, so every HR pixel is about equally likely.
        areas = np.array([img.shape[0] * img.shape[1] for _, img in images], dtype=np.float64)
        self.cum = np.cumsum(areas / areas.sum())

    def __len__(self) -> int:
        return 2**62  # an endless stream; the sampler decides which items are used

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = _rng(self.seed, int(index))
        i = min(int(np.searchsorted(self.cum, rng.random(), side="right")), len(self.images) - 1)
        hr_img = self.images[i][1]
        s, p = self.scale, self.patch
        lp = p // s
        lh, lw = hr_img.shape[0] // s, hr_img.shape[1] // s
        y, x = int(rng.integers(0, lh - lp + 1)), int(rng.integers(0, lw - lp + 1))
        hr = hr_img[y * s : (y + lp) * s, x * s : (x + lp) * s]
        if self.lrs is not None:
            lr = self.lrs[i][y : y + lp, x : x + lp]
            if self.augment:
                lr, hr = _augment([lr, hr], rng)
            return array_to_tensor(lr), array_to_tensor(hr)
        if self.augment:
            (hr,) = _augment([hr], rng)
        assert self.degradation is not None
        hr_t = array_to_tensor(hr)
        return degrade(hr_t, s, self.degradation, rng), hr_t


class SampleSampler(Sampler[int]):
    """Yields this rank's sample indices for iterations ``start .. end-1``.

    Iteration ``i`` owns global samples ``i*B .. i*B+B-1`` (``B`` = global batch); rank ``r``
    of ``W`` takes the ``r``-th contiguous slice of ``B/W``. Like a DistributedSampler it
    gives every rank disjoint data, but it is indexed by iteration, which makes resuming
    exact and lets a run resume with a different number of processes.
    """

    def __init__(self, *, global_batch: int, start: int, end: int, rank: int = 0, world_size: int = 1) -> None:
        if global_batch % world_size:
            raise DataError(f"batch size {global_batch} is not divisible by {world_size} processes")
        self.b, self.start, self.end = global_batch, start, end
        self.per_rank = global_batch // world_size
        self.rank = rank

    def __iter__(self) -> Iterator[int]:
        for it in range(self.start, self.end):
            base = it * self.b + self.rank * self.per_rank
            yield from range(base, base + self.per_rank)

    def __len__(self) -> int:
        return (self.end - self.start) * self.per_rank


@dataclass
class PairedFolder:
    """Validation pairs: HR images of a folder, modcropped, with their MATLAB LR (uint8, RGB)."""

    folder: Path
    scale: int
    max_images: int = 0

    def load(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        root = Path(self.folder)
        if not root.is_dir():
            raise DataError(f"validation folder {root} does not exist")
        files = list_images(root)
        if self.max_images:
            files = files[: self.max_images]
        if not files:
            raise DataError(f"validation folder {root} holds no images")
        pairs = []
        for f in files:
            hr = prepare_hr(read_image(f), self.scale, "basicsr")
            pairs.append((f.name, make_lr(hr, self.scale, "basicsr"), modcrop(hr, self.scale)))
        return pairs
