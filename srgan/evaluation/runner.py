"""The evaluation runner: every method on every image of an HR folder, scored with the protocol."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from srgan.errors import ConfigError, DataError, ImageReadError, SrganError
from srgan.evaluation.methods import Method
from srgan.imageio import IMAGE_EXTENSIONS, list_images, read_image
from srgan.metrics.protocol import check_scorable, make_lr, prepare_hr, score_pair, to_uint8
from srgan.metrics.psnr_ssim import Protocol
from srgan.progress import Progress, report

__all__ = ["DatasetResult", "FileFailure", "ImageScore", "evaluate"]


@dataclass
class ImageScore:
    name: str
    psnr_y: float
    ssim_y: float
    extra: dict[str, float] = field(default_factory=dict)


@dataclass
class DatasetResult:
    dataset: str
    method: str
    scale: int
    protocol: str
    psnr_y: float = float("nan")
    ssim_y: float = float("nan")
    n_images: int = 0
    seconds: float = 0.0
    images: list[ImageScore] = field(default_factory=list)
    extra: dict[str, float] = field(default_factory=dict)

    def finish(self) -> None:
        self.n_images = len(self.images)
        if self.images:
            self.psnr_y = float(np.mean([s.psnr_y for s in self.images]))
            self.ssim_y = float(np.mean([s.ssim_y for s in self.images]))
            for key in self.images[0].extra:
                self.extra[key] = float(np.mean([s.extra[key] for s in self.images]))

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class FileFailure:
    path: Path
    message: str


def _find_lr(lr_dir: Path, stem: str, scale: int) -> Path:
    for candidate in (stem, f"{stem}x{scale}", f"{stem}_x{scale}", f"{stem}_LRx{scale}"):
        for ext in IMAGE_EXTENSIONS:
            p = lr_dir / f"{candidate}{ext}"
            if p.is_file():
                return p
    raise ImageReadError(f"{lr_dir}: no LR image for {stem!r}")


def evaluate(
    data_dir: str | Path,
    methods: Sequence[Method],
    *,
    scale: int,
    protocol: Protocol = "basicsr",
    lr_dir: str | Path | None = None,
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
    extra: Mapping[str, Callable[[np.ndarray, np.ndarray], float]] | None = None,
) -> tuple[list[DatasetResult], list[FileFailure]]:
    """Score every method on one HR folder. Unreadable images are returned as failures.

    ``extra`` adds metrics computed on the uint8 (SR, HR) pair of each image (e.g. LPIPS);
    their per-image values and means are reported beside PSNR and SSIM.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder" if root.exists() else f"{root}: no such folder")
    files = list_images(root)
    if not files:
        raise DataError(f"{root}: no images ({', '.join(IMAGE_EXTENSIONS)})")
    if scale < 1:
        raise ConfigError(f"scale must be a positive integer, got {scale}")
    results = [DatasetResult(root.name, m.name, scale, protocol) for m in methods]
    failures: list[FileFailure] = []
    tick = report(progress)
    for i, path in enumerate(files):
        tick(i, len(files), image=path.name)
        try:
            hr = prepare_hr(read_image(path), scale, protocol)
            check_scorable(path, hr, scale)
            if lr_dir is not None:
                lr = prepare_hr(read_image(_find_lr(Path(lr_dir), path.stem, scale)), 1, protocol)
                if lr.shape[0] * scale != hr.shape[0] or lr.shape[1] * scale != hr.shape[1]:
                    raise ImageReadError(
                        f"{path.name}: LR is {lr.shape[1]}x{lr.shape[0]}, expected "
                        f"{hr.shape[1] // scale}x{hr.shape[0] // scale} for x{scale}"
                    )
            else:
                lr = make_lr(hr, scale, protocol)
        except SrganError as exc:
            failures.append(FileFailure(path, str(exc)))
            continue
        for method, res in zip(methods, results, strict=True):
            t0 = time.perf_counter()
            sr = to_uint8(method.upscale(lr))
            res.seconds += time.perf_counter() - t0
            if sr.shape != hr.shape:
                raise SrganError(f"method {method.name} returned {sr.shape} for HR {hr.shape} ({path.name})")
            p, s = score_pair(sr, hr, scale=scale, protocol=protocol, device=device)
            more = {k: fn(sr, hr) for k, fn in (extra or {}).items()}
            res.images.append(ImageScore(path.name, p, s, more))
    tick(len(files), len(files))
    for res in results:
        res.finish()
    return results, failures
