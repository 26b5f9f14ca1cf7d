"""Formats, limits and the small types every reader and writer shares (numpy only)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srgan.errors import ConfigError, CorruptImageError, ImageTooLargeError, ImageWriteError, UnsupportedImageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")


#: Largest image (in pixels) read by default: 300 megapixels, e.g. 17300 x 17300.
#: Override per call or with the environment variable ``SRGAN_MAX_PIXELS``.
DEFAULT_MAX_PIXELS = 300_000_000


#: Largest image (in pixels) srgan will produce by default: 1 gigapixel, e.g. 32768 x 32768
#: (3 GiB of 8-bit RGB). Override per call or with ``SRGAN_MAX_OUTPUT_PIXELS``.
DEFAULT_MAX_OUTPUT_PIXELS = 1 << 30


#: Largest side each output format can store.
FORMAT_MAX_SIDE = {"JPEG": 65_535, "WEBP": 16_383, "PNG": 2**31 - 1, "TIFF": 2**32 - 1, "BMP": 2**31 - 1,
                   "GIF": 65_535}  # fmt: skip


ORIENTATION_TAG = 0x0112


ICC_TIFF_TAG = 34675


@dataclass(frozen=True)
class ImageMeta:
    """What a file carries besides its pixels.

    ``format`` is the detected container (``PNG``, ``JPEG``, ``WEBP``, ``BMP``, ``TIFF``),
    ``bit_depth`` the bits per sample (8 or 16), ``source_mode`` a short description of
    the stored layout before conversion (``P``, ``CMYK``, ``RGB``...). ``exif`` holds the
    EXIF block with its orientation already reset to 1 (the pixels are upright).
    """

    format: str = ""
    bit_depth: int = 8
    source_mode: str = ""
    icc_profile: bytes | None = None
    exif: bytes | None = None


@dataclass(frozen=True)
class LoadedImage:
    """Pixels ``(H, W, C)`` and the metadata read with them."""

    array: np.ndarray
    meta: ImageMeta

    @property
    def height(self) -> int:
        return int(self.array.shape[0])

    @property
    def width(self) -> int:
        return int(self.array.shape[1])


@dataclass(frozen=True)
class ImageInfo:
    """What a file's header says: upright size (EXIF orientation applied) and container format."""

    width: int
    height: int
    format: str


def pixel_limit(value: int | None, env: str, default: int) -> int:
    """``value`` if given, else the environment variable ``env``, else ``default``; must be positive."""
    if value is None:
        text = os.environ.get(env, "").strip()
        if not text:
            return default
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            raise ConfigError(f"{env}={text!r}: not a whole number of pixels") from None
        if value <= 0:
            raise ConfigError(f"{env}={text!r}: the pixel limit must be positive")
        return value
    if value <= 0:
        raise ConfigError(f"the pixel limit must be positive, got {value}")
    return value


def max_input_pixels(max_pixels: int | None = None) -> int:
    """The input pixel limit: ``max_pixels``, else ``SRGAN_MAX_PIXELS``, else 300 megapixels."""
    return pixel_limit(max_pixels, "SRGAN_MAX_PIXELS", DEFAULT_MAX_PIXELS)


def max_output_pixels(value: int | None = None) -> int:
    """The output pixel limit: ``value``, else ``SRGAN_MAX_OUTPUT_PIXELS``, else 1 gigapixel."""
    return pixel_limit(value, "SRGAN_MAX_OUTPUT_PIXELS", DEFAULT_MAX_OUTPUT_PIXELS)


def sniff_format(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head.startswith(b"BM"):
        return "BMP"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    return None


#: ISO base media file brands of still-image containers srgan cannot decode (``ftyp`` at byte 4)
_HEIF_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"heim": "HEIC", b"heis": "HEIC", b"hevc": "HEIC",
                b"mif1": "HEIF", b"msf1": "HEIF", b"avif": "AVIF", b"avis": "AVIF"}  # fmt: skip
#: the file extensions of those containers, for folder listings that go by name
UNSUPPORTED_SUFFIXES = frozenset({".heic", ".heif", ".avif"})


def unsupported_container(head: bytes) -> str | None:
    """The name of a known image format srgan does not read (HEIC from phones, AVIF), from a file's first bytes."""
    if head[4:8] == b"ftyp":
        return _HEIF_BRANDS.get(head[8:12])
    return None


def check_size(path: Path, width: int, height: int, limit: int) -> None:
    if width <= 0 or height <= 0:
        raise CorruptImageError(f"{path}: header gives an impossible size {width}x{height}")
    if width * height > limit:
        raise ImageTooLargeError(
            f"{path}: {width}x{height} = {width * height:,} pixels exceeds the limit of {limit:,} "
            "(raise it with max_pixels= or SRGAN_MAX_PIXELS if the file is trusted)"
        )


def to_8bit(a: np.ndarray) -> np.ndarray:
    """16-bit samples to 8 bits, rounded to nearest (65535 -> 255); 8-bit data passes through."""
    if a.dtype == np.uint8:
        return a
    return np.round(a.astype(np.float64) / 257.0).astype(np.uint8)


def as_hwc(a: np.ndarray) -> np.ndarray:
    return a[:, :, None] if a.ndim == 2 else a


def animated_error(path: Path, fmt: str, frames: int) -> UnsupportedImageError:
    return UnsupportedImageError(
        f"{path}: animated {fmt} ({frames} frames); this reads still images (srgan upscale takes animations)"
    )


EXT_FORMAT = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".gif": "GIF",
}


def format_for_path(path: str | os.PathLike[str]) -> str:
    """The image format implied by a file extension, or :class:`ImageWriteError`."""
    ext = Path(path).suffix.lower()
    try:
        return EXT_FORMAT[ext]
    except KeyError:
        raise ImageWriteError(
            f"{path}: unknown image extension {ext!r} (use one of {', '.join(sorted(EXT_FORMAT))})"
        ) from None
