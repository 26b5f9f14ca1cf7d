"""Batch upscaling of files, folders and globs, one failure never stopping the rest.

Outputs are written atomically, so an interrupted batch leaves finished files and no
partial one (a hard kill can leave a hidden temporary file, which the next run into that
folder removes). Sources are never written to. Under ``torchrun`` each rank takes every
``world_size``-th file, so a folder is spread over every GPU of a machine or a cluster.
"""

from __future__ import annotations

import glob
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from srgan.errors import ConfigError, SrganError
from srgan.infer.upscaler import Upscaler
from srgan.io import IMAGE_EXTENSIONS, list_images, load_image, write_image

__all__ = ["BatchReport", "Job", "plan_jobs", "resize_output", "run_batch"]

log = logging.getLogger(__name__)


@dataclass
class Job:
    src: Path
    dst: Path


@dataclass
class BatchReport:
    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def _dst_name(src: Path, ext: str, suffix: str) -> str:
    new_ext = src.suffix if ext == "auto" else f".{ext.lstrip('.')}"
    return f"{src.stem}{suffix}{new_ext}"


def plan_jobs(
    input_spec: str, output: str, *, recursive: bool = False, ext: str = "auto", suffix: str = ""
) -> list[Job]:
    """Pair every input image with its output path.

    A single file goes to ``output`` if it has an image extension, else into the folder
    ``output``. A folder (or glob) goes into the folder ``output``, mirroring sub-folders.
    """
    out = Path(output)
    src_path = Path(input_spec)
    if _is_glob(input_spec) and not src_path.exists():
        files = sorted(Path(p) for p in glob.glob(input_spec, recursive=recursive) if Path(p).is_file())
        if not files:
            raise ConfigError(f"{input_spec}: no files match")
        base = Path(os.path.commonpath([str(f.parent) for f in files]))
    elif src_path.is_dir():
        files = list_images(src_path, recursive=recursive)
        if not files:
            raise ConfigError(f"{src_path}: no images ({', '.join(IMAGE_EXTENSIONS)})")
        base = src_path
    elif src_path.exists():
        if out.suffix.lower() in IMAGE_EXTENSIONS and not out.is_dir():
            return [Job(src_path, out)]
        return [Job(src_path, out / _dst_name(src_path, ext, suffix))]
    else:
        raise ConfigError(f"{input_spec}: no such file or folder")
    if out.suffix.lower() in IMAGE_EXTENSIONS and not out.is_dir():
        raise ConfigError(f"{output}: several inputs need an output folder, not a file name")
    return [Job(f, out / f.relative_to(base).parent / _dst_name(f, ext, suffix)) for f in files]


def resize_output(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """High-quality resize to ``(width, height)``: Lanczos when growing, area averaging when shrinking."""
    w, h = size
    if (img.shape[1], img.shape[0]) == (w, h):
        return img
    shrinking = w < img.shape[1] or h < img.shape[0]
    out = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LANCZOS4)
    return out[:, :, None] if out.ndim == 2 else out


def target_size(
    in_w: int, in_h: int, *, outscale: float | None, width: int | None, height: int | None
) -> tuple[int, int] | None:
    """Final ``(width, height)`` asked for, or None for the model's native scale."""
    if outscale is not None:
        return max(1, round(in_w * outscale)), max(1, round(in_h * outscale))
    if width and height:
        return width, height
    if width:
        return width, max(1, round(in_h * width / in_w))
    if height:
        return max(1, round(in_w * height / in_h)), height
    return None


def _clean_stale_temporaries(folders: set[Path]) -> None:
    """Remove hidden temporary files left by killed srgan writers (their process is gone)."""
    for folder in folders:
        if not folder.is_dir():
            continue
        for tmp in folder.glob(".*.srgan-*.tmp"):
            try:
                pid = int(tmp.name.rsplit(".srgan-", 1)[1].split("-", 1)[0])
                os.kill(pid, 0)
            except ProcessLookupError:
                tmp.unlink(missing_ok=True)
            except (ValueError, IndexError, PermissionError):
                continue


def rank_share(jobs: list[Job]) -> list[Job]:
    """This process's share of the jobs under torchrun (all of them otherwise)."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    rank = int(os.environ.get("RANK", 0))
    return jobs[rank::world] if world > 1 else jobs


def run_batch(
    upscaler: Upscaler,
    jobs: list[Job],
    *,
    outscale: float | None = None,
    width: int | None = None,
    height: int | None = None,
    quality: int = 95,
    skip_existing: bool = False,
    progress: bool = True,
) -> BatchReport:
    """Upscale every job; each failure is logged as one line and the batch goes on."""
    report = BatchReport()
    _clean_stale_temporaries({j.dst.parent for j in jobs})
    for job in tqdm(jobs, desc="upscale", unit="img", disable=not progress or len(jobs) < 2):
        try:
            if job.dst.resolve() == job.src.resolve():
                raise ConfigError(f"{job.src}: output would overwrite the source; choose another output or --suffix")
            if skip_existing and job.dst.exists():
                report.skipped.append(job.dst)
                continue
            img = load_image(job.src)
            out = upscaler.upscale(img.array)
            size = target_size(img.width, img.height, outscale=outscale, width=width, height=height)
            if size is not None:
                out = resize_output(out, size)
            write_image(job.dst, out, meta=img.meta, quality=quality)
            report.done.append(job.dst)
        except SrganError as exc:
            log.error("%s", exc)
            report.failed.append((job.src, str(exc)))
    return report
