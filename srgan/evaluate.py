"""Benchmark evaluation: modcrop, MATLAB LR, upscale, score with the published protocol.

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

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from srgan.errors import ConfigError, DataError, ImageReadError, SrganError
from srgan.io import IMAGE_EXTENSIONS, list_images, read_image
from srgan.metrics import Protocol, protocol_planes, psnr, ssim
from srgan.resize import imresize, imresize_uint8

__all__ = [
    "CLASSICAL_METHODS",
    "DatasetResult",
    "ImageScore",
    "Method",
    "evaluate",
    "make_lr",
    "modcrop",
    "prepare_hr",
    "resolve_method",
    "score_pair",
    "to_uint8",
]

log = logging.getLogger(__name__)

#: An upscaler as evaluate sees it: ``(h, w, C)`` LR, uint8 or float64 on the 0-255 scale,
#: -> ``(h*s, w*s, C)`` SR, uint8 or float on the 0-255 scale.
UpscaleFn = Callable[[np.ndarray], np.ndarray]


@dataclass
class Method:
    """A named way to upscale by a fixed scale."""

    name: str
    scale: int
    upscale: UpscaleFn


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so height and width are multiples of ``scale``."""
    h, w = img.shape[0] - img.shape[0] % scale, img.shape[1] - img.shape[1] % scale
    return img[:h, :w]


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

#: Hook filled by :mod:`srgan.infer` so evaluate can resolve model names and paths
#: without importing the inference engine (and torch models) for classical methods.
_model_resolver: list[Callable[[str, int, str], Method]] = []


def register_model_resolver(fn: Callable[[str, int, str], Method]) -> None:
    """Let evaluate resolve method names that are not classical (models by name or path)."""
    _model_resolver.append(fn)


def resolve_method(name: str, scale: int, device: str = "cpu") -> Method:
    """A classical method by name, or a model by name or path (through :mod:`srgan.infer`)."""
    if name in CLASSICAL_METHODS:
        return _classical(name, scale)
    with contextlib.suppress(ImportError):
        import srgan.infer  # noqa: F401  (registers the model resolver)
    if not _model_resolver:
        raise ConfigError(f"unknown method {name!r}; available: {', '.join(CLASSICAL_METHODS)}")
    return _model_resolver[-1](name, scale, device)


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


def prepare_hr(img: np.ndarray, scale: int, protocol: Protocol) -> np.ndarray:
    """HR as the protocol reads it: uint8, no alpha, modcropped; RGB unless MATLAB gray."""
    if img.dtype == np.uint16:
        img = np.round(img.astype(np.float64) / 257.0).astype(np.uint8)
    a = img
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


def _find_lr(lr_dir: Path, stem: str, scale: int) -> Path:
    for candidate in (stem, f"{stem}x{scale}", f"{stem}_x{scale}", f"{stem}_LRx{scale}"):
        for ext in IMAGE_EXTENSIONS:
            p = lr_dir / f"{candidate}{ext}"
            if p.is_file():
                return p
    raise ImageReadError(f"{lr_dir}: no LR image for {stem!r}")


#: SSIM's Gaussian window (Wang et al.): the scored area must be at least this many pixels a side.
SSIM_WINDOW = 11


def _check_scorable(path: Path, hr: np.ndarray, scale: int) -> None:
    """Refuse an HR image too small to score at ``scale`` (border crop, then SSIM's 11x11 window)."""
    h, w = hr.shape[0] - 2 * scale, hr.shape[1] - 2 * scale
    if min(h, w) < SSIM_WINDOW:
        need = SSIM_WINDOW + 2 * scale
        raise DataError(f"{path}: {hr.shape[1]}x{hr.shape[0]} after modcrop is too small to score at x{scale} "
                        f"(at least {need}x{need}: SSIM's {SSIM_WINDOW}x{SSIM_WINDOW} window after a {scale}-pixel "
                        "border crop)")  # fmt: skip


def evaluate(
    data_dir: str | Path,
    methods: Sequence[Method],
    *,
    scale: int,
    protocol: Protocol = "basicsr",
    lr_dir: str | Path | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
    extra: dict[str, Callable[[np.ndarray, np.ndarray], float]] | None = None,
) -> tuple[list[DatasetResult], list[FileFailure]]:
    """Score every method on one HR folder. Unreadable images are returned as failures.

    ``extra`` adds metrics computed on the uint8 (SR, HR) pair of each image (e.g. LPIPS);
    their per-image values and means are reported beside PSNR and SSIM.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    files = list_images(root)
    if not files:
        raise DataError(f"{root}: no images ({', '.join(IMAGE_EXTENSIONS)})")
    if scale < 1:
        raise ConfigError(f"scale must be a positive integer, got {scale}")
    results = [DatasetResult(root.name, m.name, scale, protocol) for m in methods]
    failures: list[FileFailure] = []
    bar = tqdm(files, desc=f"{root.name} x{scale}", unit="img", disable=not progress, leave=False)
    for path in bar:
        try:
            hr = prepare_hr(read_image(path), scale, protocol)
            _check_scorable(path, hr, scale)
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
    for res in results:
        res.finish()
    return results, failures


# --------------------------------------------------------------------------- reports


def format_markdown(results: Sequence[DatasetResult], *, per_image: bool = True) -> str:
    """Tables: one summary row per (dataset, method), then per-image rows per dataset."""
    lines: list[str] = []
    datasets = list(dict.fromkeys(r.dataset for r in results))
    for ds in datasets:
        rows = [r for r in results if r.dataset == ds]
        scale, protocol = rows[0].scale, rows[0].protocol
        lines.append(f"### {ds} x{scale} (protocol: {protocol})")
        lines.append("")
        lines.append("| method | PSNR-Y (dB) | SSIM-Y | images | seconds |")
        lines.append("|---|---:|---:|---:|---:|")
        for r in rows:
            lines.append(f"| {r.method} | {r.psnr_y:.2f} | {r.ssim_y:.4f} | {r.n_images} | {r.seconds:.2f} |")
        lines.append("")
        if per_image and rows[0].images:
            lines.append("| image | " + " | ".join(f"{r.method} PSNR / SSIM" for r in rows) + " |")
            lines.append("|---|" + "---:|" * len(rows))
            for i, img in enumerate(rows[0].images):
                cells = [f"{r.images[i].psnr_y:.2f} / {r.images[i].ssim_y:.4f}" for r in rows]
                lines.append(f"| {img.name} | " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines)


def format_csv(results: Sequence[DatasetResult]) -> str:
    """One row per image and one ``MEAN`` row per (dataset, method)."""
    out = ["dataset,method,scale,protocol,image,psnr_y,ssim_y,seconds"]
    for r in results:
        for img in r.images:
            out.append(f"{r.dataset},{r.method},{r.scale},{r.protocol},{img.name},{img.psnr_y:.6f},{img.ssim_y:.6f},")
        out.append(f"{r.dataset},{r.method},{r.scale},{r.protocol},MEAN,{r.psnr_y:.6f},{r.ssim_y:.6f},{r.seconds:.4f}")
    return "\n".join(out) + "\n"
