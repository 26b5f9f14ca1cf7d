"""Classical augmentation: albumentations pipelines applied folder in, folder out, with a manifest.

Every output is a pure function of ``(seed, source path relative to SRC, copy index)``:
the pipeline is reseeded for each output, so the same seed gives the same bytes whatever
the order or subset of files. The manifest (JSONL) has one line per output (source, class,
seed, and the parameters albumentations applied) and one per unreadable source.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import albumentations as A
import cv2
import numpy as np
import torch

from srgan.data.labelled import FolderDataset, scan_folder
from srgan.errors import ConfigError, SrganError
from srgan.fsutil import atomic_write_bytes, check_disjoint, prepare_output
from srgan.imageio import load_image, write_image
from srgan.progress import Progress, report

__all__ = ["BLURS", "PRESETS", "SMALL", "ClassicalReport", "augment_image", "batch_augmenter", "build_preset",
           "load_pipeline", "run_classical", "source_of"]  # fmt: skip

log = logging.getLogger(__name__)

#: how a pipeline is seeded for each output (see :func:`augment_image`)
Seeding = Literal["stream", "per-transform"]

PRESETS = ("light", "medium", "heavy", "sr-degrade")

#: the suffix :func:`run_classical` gives copy ``k`` of an image (``cat/0001`` -> ``cat/0001_aug002``)
_COPY = re.compile(r"_aug\d+$")


def _affine(**ranges: Any) -> A.Affine:
    """A size-keeping affine: reflected borders, alpha (the mask) resampled bilinearly so cut-out
    edges stay soft."""
    return A.Affine(**ranges, border_mode=4, mask_interpolation=cv2.INTER_LINEAR)


def build_preset(name: str, *, flip: bool = True) -> A.Compose:
    """The built-in pipelines. Geometry keeps the image size, so outputs stack with originals.

    ``flip=False`` leaves out the horizontal flips (digits, text: mirrored, they change meaning).
    """
    if name == "light":
        ts: list[Any] = [
            A.HorizontalFlip(p=0.5),
            _affine(translate_percent=(-0.06, 0.06), scale=(0.95, 1.05), rotate=(-8, 8), p=0.7),
            A.RandomBrightnessContrast(brightness_limit=0.15, contrast_limit=0.15, p=0.5),
        ]
    elif name == "medium":
        ts = [
            A.HorizontalFlip(p=0.5),
            _affine(translate_percent=(-0.1, 0.1), scale=(0.85, 1.15), rotate=(-15, 15), p=0.9),
            A.ColorJitter(brightness=0.25, contrast=0.25, saturation=0.25, hue=0.04, p=0.7),
            A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.GaussNoise(std_range=(0.02, 0.06))], p=0.3),
        ]
    elif name == "heavy":
        ts = [
            A.HorizontalFlip(p=0.5),
            _affine(translate_percent=(-0.15, 0.15), scale=(0.75, 1.25), rotate=(-25, 25), shear=(-8, 8), p=1.0),
            A.ColorJitter(brightness=0.35, contrast=0.35, saturation=0.35, hue=0.08, p=0.9),
            A.OneOf(
                [
                    A.GaussianBlur(blur_limit=(3, 7)),
                    A.MotionBlur(blur_limit=(3, 7)),
                    A.GaussNoise(std_range=(0.03, 0.1)),
                ],
                p=0.5,
            ),
            A.CoarseDropout(num_holes_range=(1, 3), hole_height_range=(0.08, 0.2), hole_width_range=(0.08, 0.2), p=0.4),
        ]
    elif name == "sr-degrade":
        # What real low-resolution photos suffer: blur, sensor noise, JPEG, downscale and back.
        ts = [
            A.OneOf([A.GaussianBlur(blur_limit=(3, 7), sigma_limit=(0.3, 2.0)), A.Defocus(radius=(1, 3))], p=0.8),
            A.Downscale(scale_range=(0.35, 0.75), p=0.6),
            A.GaussNoise(std_range=(0.01, 0.05), p=0.6),
            A.ImageCompression(quality_range=(40, 90), p=0.8),
        ]
    else:
        raise ConfigError(f"unknown preset {name!r}; available: {', '.join(PRESETS)}")
    if not flip:
        ts = [t for t in ts if not isinstance(t, A.HorizontalFlip)]
    return A.Compose(ts, save_applied_params=True)


def load_pipeline(path: str | Path) -> A.Compose:
    """An albumentations pipeline serialised by ``A.save`` (YAML or JSON, by extension)."""
    p = Path(path)
    fmt = "yaml" if p.suffix.lower() in (".yaml", ".yml") else "json"
    try:
        pipeline = A.load(str(p), data_format=fmt)
    except FileNotFoundError:
        raise ConfigError(f"pipeline file {p} does not exist") from None
    except Exception as exc:
        raise ConfigError(f"{p}: not an albumentations pipeline ({type(exc).__name__}: {exc})") from exc
    if not isinstance(pipeline, A.Compose):
        pipeline = A.Compose([pipeline])
    return A.Compose(pipeline.transforms, save_applied_params=True)


def output_seed(seed: int, rel: Path, index: int) -> int:
    """A 32-bit seed from the run seed, the source's relative path and the copy index."""
    digest = hashlib.sha256(f"{seed}|{rel.as_posix()}|{index}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


_MAX_LISTED = 64  # larger arrays (a noise map holds a value per pixel) are summarised; the seed replays them


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        if v.size > _MAX_LISTED:
            return {"array_omitted": {"shape": list(v.shape), "dtype": str(v.dtype)}}
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    return v


def augment_image(pipeline: A.Compose, array: np.ndarray, seed: int, *,
                  seeding: Seeding = "stream") -> tuple[np.ndarray, list[dict[str, Any]]]:  # fmt: skip
    """One seeded pass of ``pipeline`` over an ``(H, W, C)`` image; the output and the transforms applied.

    ``seeding``: ``"stream"``, one random stream the transforms draw from in turn; ``"per-transform"``,
    albumentations' ``Compose.set_random_seed``, which seeds every transform alike so that they all draw
    the same numbers (a flip at p 0.5 always comes with an affine at p 0.9). Sets made before 2026-12-02
    were made that way; it is kept only so they can be remade byte for byte (the benchmarks' study caches).

    Alpha (gray + alpha, RGBA) goes through as albumentations' mask: it follows the geometry
    (flips, affine) and no colour or noise transform touches it, so colour transforms, which take
    1 or 3 channels, see only the colour. 16-bit images are augmented as float in [0, 1] and
    written back at 16 bits.
    """
    source = array
    if array.dtype == np.uint16:  # OpenCV's colour conversions take 8 bits or float, not 16
        array = array.astype(np.float32) / 65535
    has_alpha = array.shape[2] in (2, 4)
    colour = array[:, :, :-1] if has_alpha else array
    inputs: dict[str, np.ndarray] = {"image": colour[:, :, 0] if colour.shape[2] == 1 else colour}
    if has_alpha:
        inputs["mask"] = array[:, :, -1]
    if seeding == "per-transform":
        pipeline.set_random_seed(seed)
    elif seeding == "stream":
        pipeline.set_random_state(np.random.default_rng(seed), random.Random(seed))
    else:
        raise ConfigError(f"unknown seeding {seeding!r}; choose stream or per-transform")
    res = pipeline(**inputs)
    out = res["image"] if res["image"].ndim == 3 else res["image"][:, :, None]
    if has_alpha:
        out = np.dstack([out, res["mask"].astype(out.dtype)])
    if source.dtype == np.uint16:
        out = np.rint(np.clip(out, 0, 1) * 65535).astype(np.uint16)
    applied = [{"transform": name, "params": _jsonable(params)} for name, params in res["applied_transforms"]]
    return np.ascontiguousarray(out), applied


def batch_augmenter(preset: str, *, flip: bool = True) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor]:
    """A preset as a batch transform for training: ``(N, C, H, W)`` images in [-1, 1], each through the pipeline
    with its own seed drawn from ``gen``, so a seeded run draws the same transforms again (and resumes exactly
    when ``gen``'s state is saved). Images are rounded to 8 bits first, as a written copy would be.
    """
    pipeline = build_preset(preset, flip=flip)

    def apply(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        seeds = torch.randint(0, 2**32 - 1, (x.shape[0],), generator=gen, dtype=torch.int64).tolist()
        arrays = ((x.detach().cpu().permute(0, 2, 3, 1) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
        out = np.stack([augment_image(pipeline, a, s)[0] for a, s in zip(arrays, seeds, strict=True)])
        return (torch.from_numpy(out).permute(0, 3, 1, 2).float() / 127.5 - 1.0).to(x.device)

    return apply


@dataclass
class ClassicalReport:
    written: int = 0
    originals: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # read, but the pipeline raised on it
    manifest: Path | None = None
    small: int = 0  # sources with a side under SMALL px, which the presets' blur kernels erase most detail of


#: below this side (px) a 3-5 px blur kernel erases most of an image's detail: at 32 px, the ``medium`` preset's
#: blurred copies keep a median 12 % of their sources' Laplacian variance (benchmarks/augment_classical_check.py)
SMALL = 64
#: the presets that blur: their widest kernel (px) and the share of copies they blur (``OneOf``'s p, over its choices)
BLURS = {"medium": (5, 0.3 / 2), "heavy": (7, 0.5 * 2 / 3)}


def run_classical(
    src: str | Path,
    out: str | Path,
    *,
    pipeline: A.Compose,
    per_image: int = 1,
    seed: int = 0,
    include_originals: bool = False,
    overwrite: bool = False,
    progress: Progress | None = None,
    pipeline_file: str | Path | None = None,
    seeding: Seeding = "stream",
) -> ClassicalReport:
    """Write ``per_image`` augmented copies of every image of SRC into OUT (same layout).

    ``seeding``: see :func:`augment_image` (``"per-transform"`` only to remake sets made before 2026-12-02).
    """
    if per_image < 1:
        raise ConfigError("--per-image must be at least 1")
    ds: FolderDataset = scan_folder(src)
    out_root = Path(out)
    check_disjoint(out_root, folders=[("source folder", ds.root)], files=[("pipeline file", pipeline_file)])
    owned = prepare_output(out_root, overwrite=overwrite)
    manifest = owned.claim(out_root / "manifest.jsonl")
    result = ClassicalReport(manifest=manifest)
    # the exact recipe, reloadable
    A.save(pipeline, str(owned.claim(out_root / "pipeline.yaml")), data_format="yaml")
    lines: list[str] = []
    tick = report(progress)
    for i, (f, label) in enumerate(zip(ds.files, ds.labels, strict=True)):
        tick(i, len(ds.files))
        rel = ds.relative(f)
        try:
            img = load_image(f)
        except SrganError as exc:
            log.error("%s", exc)
            result.unreadable.append((rel.as_posix(), str(exc)))
            lines.append(json.dumps({"source": rel.as_posix(), "class": label, "status": "unreadable",
                                     "error": str(exc)}))  # fmt: skip
            continue
        result.small += min(img.array.shape[:2]) < SMALL
        if include_originals:
            dst = owned.claim(out_root / rel)
            write_image(dst, img.array, meta=img.meta)
            result.originals += 1
            lines.append(json.dumps({"output": dst.relative_to(out_root).as_posix(), "source": rel.as_posix(),
                                     "class": label, "status": "original"}))  # fmt: skip
        for k in range(per_image):
            s = output_seed(seed, rel, k)
            try:
                aug, applied = augment_image(pipeline, img.array, s, seeding=seeding)
            except Exception as exc:  # a user's pipeline may raise anything; the batch goes on
                why = " ".join(str(exc).split())  # one line, whatever the library wrote
                msg = f"{f}: the pipeline failed on this image ({type(exc).__name__}: {why[:300]})"
                log.error("%s", msg)
                result.failed.append((rel.as_posix(), msg))
                lines.append(json.dumps({"source": rel.as_posix(), "class": label, "status": "failed", "error": msg}))
                break
            dst = owned.claim(out_root / rel.parent / f"{rel.stem}{copy_suffix(k)}{rel.suffix}")
            write_image(dst, aug, meta=img.meta)
            result.written += 1
            lines.append(json.dumps({"output": dst.relative_to(out_root).as_posix(), "source": rel.as_posix(),
                                     "class": label, "status": "augmented", "seed": s, "seeding": seeding, "copy": k,
                                     "transforms": applied}))  # fmt: skip
    tick(len(ds.files), len(ds.files))
    atomic_write_bytes(manifest, ("\n".join(lines) + "\n").encode())
    return result


def copy_suffix(k: int) -> str:
    """What :func:`run_classical` appends to an image's stem for its ``k``-th copy."""
    return f"_aug{k:03d}"


def source_of(name: str) -> str:
    """The name (stem, without extension) of the image a copy was made from; any other name unchanged."""
    return _COPY.sub("", name)
