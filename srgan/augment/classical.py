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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import albumentations as A
import numpy as np

from srgan.data.labelled import FolderDataset, scan_folder
from srgan.errors import ConfigError, SrganError
from srgan.fsutil import atomic_write_bytes, check_disjoint, prepare_output
from srgan.imageio import load_image, write_image
from srgan.progress import Progress, report

__all__ = ["PRESETS", "ClassicalReport", "build_preset", "load_pipeline", "run_classical"]

log = logging.getLogger(__name__)

PRESETS = ("light", "medium", "heavy", "sr-degrade")


def build_preset(name: str, *, flip: bool = True) -> A.Compose:
    """The built-in pipelines. Geometry keeps the image size, so outputs stack with originals.

    ``flip=False`` leaves out the horizontal flips (digits, text: mirrored, they change meaning).
    """
    if name == "light":
        ts: list[Any] = [
            A.HorizontalFlip(p=0.5),
            A.Affine(translate_percent=(-0.06, 0.06), scale=(0.95, 1.05), rotate=(-8, 8), border_mode=4, p=0.7),
            A.RandomBrightnessContrast(brightness_limit=0.15, contrast_limit=0.15, p=0.5),
        ]
    elif name == "medium":
        ts = [
            A.HorizontalFlip(p=0.5),
            A.Affine(translate_percent=(-0.1, 0.1), scale=(0.85, 1.15), rotate=(-15, 15), border_mode=4, p=0.9),
            A.ColorJitter(brightness=0.25, contrast=0.25, saturation=0.25, hue=0.04, p=0.7),
            A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.GaussNoise(std_range=(0.02, 0.06))], p=0.3),
        ]
    elif name == "heavy":
        ts = [
            A.HorizontalFlip(p=0.5),
            A.Affine(
                translate_percent=(-0.15, 0.15),
                scale=(0.75, 1.25),
                rotate=(-25, 25),
                shear=(-8, 8),
                border_mode=4,
                p=1.0,
            ),
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


@dataclass
class ClassicalReport:
    written: int = 0
    originals: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    manifest: Path | None = None


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
) -> ClassicalReport:
    """Write ``per_image`` augmented copies of every image of SRC into OUT (same layout)."""
    if per_image < 1:
        raise ConfigError("--per-image must be at least 1")
    ds: FolderDataset = scan_folder(src)
    out_root = Path(out)
    check_disjoint(out_root, folders=[("source folder", ds.root)], files=[("pipeline file", pipeline_file)])
    owned = prepare_output(out_root, overwrite=overwrite)
    result = ClassicalReport(manifest=owned.claim(out_root / "manifest.jsonl"))
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
        arr = img.array if img.array.shape[2] != 1 else img.array[:, :, 0]
        if include_originals:
            dst = owned.claim(out_root / rel)
            write_image(dst, img.array, meta=img.meta)
            result.originals += 1
            lines.append(json.dumps({"output": dst.relative_to(out_root).as_posix(), "source": rel.as_posix(),
                                     "class": label, "status": "original"}))  # fmt: skip
        for k in range(per_image):
            s = output_seed(seed, rel, k)
            pipeline.set_random_seed(s)
            res = pipeline(image=arr)
            aug = res["image"]
            if aug.ndim == 2:
                aug = aug[:, :, None]
            dst = owned.claim(out_root / rel.parent / f"{rel.stem}_aug{k:03d}{rel.suffix}")
            write_image(dst, np.ascontiguousarray(aug), meta=img.meta)
            result.written += 1
            applied = [{"transform": name, "params": _jsonable(params)} for name, params in res["applied_transforms"]]
            lines.append(json.dumps({"output": dst.relative_to(out_root).as_posix(), "source": rel.as_posix(),
                                     "class": label, "status": "augmented", "seed": s, "copy": k,
                                     "transforms": applied}))  # fmt: skip
    tick(len(ds.files), len(ds.files))
    atomic_write_bytes(result.manifest, ("\n".join(lines) + "\n").encode())
    return result
