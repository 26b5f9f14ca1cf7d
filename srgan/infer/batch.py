"""Batch upscaling of files, folders and globs, one failure never stopping the rest.

Outputs are written atomically, so an interrupted batch leaves finished files and no
partial one (a hard kill can leave a hidden temporary file, which the next run into that
folder removes). Sources are never written to. Under ``torchrun`` each rank takes every
``world_size``-th file, so a folder is spread over every GPU of a machine or a cluster.
"""

from __future__ import annotations

import glob
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from srgan.device import Launch
from srgan.errors import ConfigError, OutputTooLargeError, SrganError
from srgan.fsutil import is_within
from srgan.imageio import (
    FORMAT_MAX_SIDE,
    IMAGE_EXTENSIONS,
    format_for_path,
    list_images,
    load_image,
    max_output_pixels,
    probe_image,
    write_image,
)
from srgan.imageio.animation import ANIMATED_FORMATS, Animation, frame_count, load_animation, write_animation
from srgan.infer.upscaler import Upscaler
from srgan.progress import Progress, report

__all__ = [
    "BatchReport",
    "Job",
    "Written",
    "check_output_size",
    "plan_conflicts",
    "plan_jobs",
    "resize_output",
    "run_batch",
]

log = logging.getLogger(__name__)


@dataclass
class Job:
    src: Path
    dst: Path


@dataclass
class Written:
    """An output file and what it took."""

    path: Path
    width: int
    height: int
    seconds: float
    frames: int = 1


@dataclass
class BatchReport:
    written: list[Written] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def done(self) -> list[Path]:
        return [w.path for w in self.written]


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def _dst_name(src: Path, ext: str, suffix: str) -> str:
    new_ext = src.suffix if ext == "auto" else f".{ext.lstrip('.')}"
    if new_ext.lower() == ".gif" and not _animated(src):
        new_ext = ".png"  # a still: a palette of 256 colours cannot hold an upscaled photo, PNG keeps it all
    return f"{src.stem}{suffix}{new_ext}"


def _animated(src: Path) -> bool:
    try:
        return frame_count(src) > 1
    except (OSError, SrganError):
        return False  # unreadable: its own error comes when the file is processed


def plan_jobs(
    input_spec: str, output: str, *, recursive: bool = False, ext: str = "auto", suffix: str = ""
) -> list[Job]:
    """Pair every input image with its output path.

    A single file goes to ``output`` if it has an image extension, else into the folder
    ``output``. A folder (or glob) goes into the folder ``output``, mirroring sub-folders.
    """
    if any(sep and sep in suffix for sep in (os.sep, os.altsep, "\0")) or suffix in (".", ".."):
        raise ConfigError(f"--suffix {suffix!r}: a suffix cannot hold a path separator (outputs stay in OUT)")
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
        if out.suffix and not out.is_dir():  # "out.jfif" or a typo: a file meant, no format to write it in
            raise ConfigError(f"{output}: {out.suffix} is not a format srgan writes ({', '.join(IMAGE_EXTENSIONS)}); "
                              "to write into a folder of that name, make it first")  # fmt: skip
        return [Job(src_path, out / _dst_name(src_path, ext, suffix))]
    else:
        raise ConfigError(f"{input_spec}: no such file or folder")
    if out.suffix.lower() in IMAGE_EXTENSIONS and not out.is_dir():
        raise ConfigError(f"{output}: several inputs need an output folder, not a file name")
    # OUT a sub-folder of IN, searched recursively: the files already there are a previous run's outputs
    out_below_in = is_within(out, base) and not is_within(base, out)
    if out_below_in and (inside := {f for f in files if is_within(f, out)}):
        log.info("%d file(s) already in the output folder %s are outputs, not inputs: left out", len(inside), out)
        files = [f for f in files if f not in inside]
        if not files:
            raise ConfigError(f"{input_spec}: no images outside the output folder {out}")
    jobs = [Job(f, out / f.relative_to(base).parent / _dst_name(f, ext, suffix)) for f in files]
    for job in jobs:
        if not is_within(job.dst, out):  # e.g. a file name made of dots; checked again on the real paths
            raise ConfigError(f"{job.src}: its output {job.dst} would lie outside the output folder {out}")
    return jobs


def plan_conflicts(jobs: list[Job]) -> list[str]:
    """One message per output that would replace an input of the batch or another job's output."""
    sources = {Path(os.path.realpath(j.src)): j.src for j in jobs}
    taken: dict[Path, Path] = {}
    problems = []
    for job in jobs:
        dst = Path(os.path.realpath(job.dst))
        if dst in sources:
            other = sources[dst]
            whose = "its own source" if other == job.src else f"the source {other}"
            problems.append(f"{job.src}: its output {job.dst} would overwrite {whose}; use --suffix or another folder")
        elif dst in taken:
            problems.append(f"{job.src}: its output {job.dst} is also the output of {taken[dst]}; use --ext auto "
                            "or --suffix, or move one of them")  # fmt: skip
        else:
            taken[dst] = job.src
    return problems


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
        if not math.isfinite(outscale) or outscale <= 0:
            raise ConfigError(f"outscale must be a finite positive number, got {outscale}")
        return max(1, round(in_w * outscale)), max(1, round(in_h * outscale))
    if width and height:
        return width, height
    if width:
        return width, max(1, round(in_h * width / in_w))
    if height:
        return max(1, round(in_w * height / in_h)), height
    return None


def check_output_size(path: Path, dst: Path, in_w: int, in_h: int, scale: int, final: tuple[int, int] | None,
                      limit: int) -> None:  # fmt: skip
    """Refuse, before any pixel is decoded, an output over ``limit`` pixels or beyond its format's sides."""
    sizes = [(in_w * scale, in_h * scale)] + ([final] if final is not None else [])
    for w, h in sizes:
        if w * h > limit:
            raise OutputTooLargeError(
                f"{path}: the output would be {w}x{h} = {w * h:,} pixels, over the limit of {limit:,} "
                "(raise it with --max-output-pixels or SRGAN_MAX_OUTPUT_PIXELS)"
            )
    w, h = sizes[-1]
    fmt = format_for_path(dst)
    side = FORMAT_MAX_SIDE.get(fmt)
    if side is not None and max(w, h) > side:
        raise OutputTooLargeError(f"{path}: a {w}x{h} output does not fit {fmt}, whose sides stop at {side:,} "
                                  "pixels; choose another --ext")  # fmt: skip


def _upscale_animation(upscaler: Upscaler, job: Job, size: tuple[int, int] | None, quality: int,
                       progress: Progress | None) -> tuple[int, int]:  # fmt: skip
    """Every frame through the model (and the final resize); timing, loop and disposal kept."""
    anim = load_animation(job.src)
    tick = report(progress)
    frames = []
    for i, frame in enumerate(anim.frames):
        tick(i, len(anim.frames), file=job.src.name)
        out = upscaler.upscale(frame)
        frames.append(resize_output(out, size) if size is not None else out)
    tick(len(anim.frames), len(anim.frames))
    write_animation(job.dst, Animation(frames, anim.durations, anim.loop, anim.disposal, anim.format), quality=quality)
    return frames[0].shape[1], frames[0].shape[0]


#: Rough bytes per output sample once encoded (photos): what the free-space check plans with.
_BYTES_PER_SAMPLE = {"PNG": 0.5, "TIFF": 0.6, "BMP": 1.0, "JPEG": 0.1, "WEBP": 0.1, "GIF": 0.3}


def estimate_output_bytes(jobs: list[Job], scale: int, *, outscale: float | None = None, width: int | None = None,
                          height: int | None = None, limit: int | None = None) -> int:  # fmt: skip
    """About how many bytes the outputs of ``jobs`` will take, from the inputs' headers.

    Unreadable inputs count 0, and so do outputs over ``limit`` pixels or their format's sides (default
    :func:`~srgan.imageio.max_output_pixels`): those are refused per file and never written.
    """
    limit = max_output_pixels(limit)
    total = 0.0
    for job in jobs:
        try:
            info = probe_image(job.src)
            fmt = format_for_path(job.dst)
            size = target_size(info.width, info.height, outscale=outscale, width=width, height=height)
            check_output_size(job.src, job.dst, info.width, info.height, scale, size, limit)
        except SrganError:
            continue
        w, h = size if size is not None else (info.width * scale, info.height * scale)
        total += w * h * 3 * _BYTES_PER_SAMPLE.get(fmt, 1.0)
    return int(total)


def _pixel_counter(progress: Progress | None, total: int, name: str) -> Callable[[int], None] | None:
    """Turn the Upscaler's per-tile pixel counts into ``progress(done, total)`` calls."""
    if progress is None:
        return None
    done = 0

    def count(pixels: int) -> None:
        nonlocal done
        done += pixels
        progress(min(done, total), total, file=name)

    return count


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


def rank_share(jobs: list[Job], launch: Launch) -> list[Job]:
    """This process's share of the jobs in a torchrun launch: every ``world_size``-th job."""
    return jobs[launch.rank :: launch.world_size] if launch.enabled else jobs


def run_batch(
    upscaler: Upscaler,
    jobs: list[Job],
    *,
    outscale: float | None = None,
    width: int | None = None,
    height: int | None = None,
    quality: int = 95,
    skip_existing: bool = False,
    progress: Progress | None = None,
    tile_progress: Progress | None = None,
    frame_progress: Progress | None = None,
    max_pixels: int | None = None,
    inspect: Callable[[Path, np.ndarray], None] | None = None,
) -> BatchReport:
    """Upscale every job; each failure is logged as one line and the batch goes on.

    Before an input is decoded, its header is read and the output it would give (at the
    model's scale, and after ``outscale``/``width``/``height``) is checked against
    ``max_pixels`` (default :func:`~srgan.imageio.max_output_pixels`) and the output format.
    ``progress`` counts files; ``tile_progress`` counts the input pixels of the current file done;
    ``frame_progress`` the frames of an animation. Animated GIF, PNG and WebP files are upscaled
    frame by frame into an animation of the output's format. ``inspect(path, pixels)`` sees every
    still input once it is decoded (the CLI uses it to hint at a better model for degraded photos).
    """
    limit = max_output_pixels(max_pixels)
    result = BatchReport()
    _clean_stale_temporaries({j.dst.parent for j in jobs})
    tick = report(progress)
    for i, job in enumerate(jobs):
        tick(i, len(jobs), file=job.src.name)
        try:
            if job.dst.resolve() == job.src.resolve():
                raise ConfigError(f"{job.src}: output would overwrite the source; choose another output or --suffix")
            if skip_existing and job.dst.exists():
                result.skipped.append(job.dst)
                continue
            info = probe_image(job.src)
            size = target_size(info.width, info.height, outscale=outscale, width=width, height=height)
            check_output_size(job.src, job.dst, info.width, info.height, upscaler.scale, size, limit)
            t0 = time.perf_counter()
            if info.format in ANIMATED_FORMATS and (n := frame_count(job.src)) > 1:
                check_output_size(job.src, job.dst, info.width, info.height * n, upscaler.scale, None, limit)
                w, h = _upscale_animation(upscaler, job, size, quality, frame_progress)
                result.written.append(Written(job.dst, w, h, time.perf_counter() - t0, n))
                continue
            img = load_image(job.src)
            if inspect is not None:
                inspect(job.src, img.array)
            size = target_size(img.width, img.height, outscale=outscale, width=width, height=height)
            check_output_size(job.src, job.dst, img.width, img.height, upscaler.scale, size, limit)
            out = upscaler.upscale(img.array, progress=_pixel_counter(tile_progress, upscaler.work(img.array),
                                                                      job.src.name))  # fmt: skip
            if size is not None:
                out = resize_output(out, size)
            write_image(job.dst, out, meta=img.meta, quality=quality)
            result.written.append(Written(job.dst, out.shape[1], out.shape[0], time.perf_counter() - t0))
        except SrganError as exc:
            log.error("%s", exc)
            result.failed.append((job.src, str(exc)))
        except MemoryError:
            msg = f"{job.src}: out of memory (try --tile with a smaller tile, or a smaller output)"
            log.error("%s", msg)
            result.failed.append((job.src, msg))
        except (RuntimeError, cv2.error) as exc:  # torch allocation failures, OpenCV size limits
            if os.environ.get("SRGAN_DEBUG"):
                raise
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            msg = f"{job.src}: failed ({type(exc).__name__}: {first})"
            log.error("%s", msg)
            result.failed.append((job.src, msg))
    tick(len(jobs), len(jobs))
    return result
