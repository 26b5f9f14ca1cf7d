"""Faithful image reading and writing.

Images are numpy arrays shaped ``(H, W, C)`` with ``C`` in 1 (gray), 2 (gray + alpha),
3 (RGB) or 4 (RGBA), of dtype ``uint8`` or ``uint16``. The bit depth is decided by the
file's header and kept as such; it is never guessed from pixel values.

Reading refuses (with a typed error, before allocating pixels) empty files, files that are
not images, images whose header announces more pixels than ``max_pixels``, and truncated or
corrupt data. EXIF orientation is applied on read; the ICC profile and EXIF block travel
in :class:`ImageMeta` and are written back where the output format allows.

Writing is atomic: the encoded bytes go to a temporary file in the target folder, which
is flushed, synced and renamed over the target, so a crash never leaves half an image.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import tifffile
import torch
from PIL import Image, UnidentifiedImageError

from srgan.errors import (
    ConfigError,
    CorruptImageError,
    ImageReadError,
    ImageTooLargeError,
    ImageWriteError,
    NotAnImageError,
    UnsupportedImageError,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "ImageInfo",
    "ImageMeta",
    "LoadedImage",
    "array_to_tensor",
    "atomic_write_bytes",
    "encode_image",
    "list_images",
    "load_image",
    "max_input_pixels",
    "max_output_pixels",
    "probe_image",
    "read_image",
    "tensor_to_array",
    "write_image",
]

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")

#: Largest image (in pixels) read by default: 300 megapixels, e.g. 17300 x 17300.
#: Override per call or with the environment variable ``SRGAN_MAX_PIXELS``.
DEFAULT_MAX_PIXELS = 300_000_000

#: Largest image (in pixels) srgan will produce by default: 1 gigapixel, e.g. 32768 x 32768
#: (3 GiB of 8-bit RGB). Override per call or with ``SRGAN_MAX_OUTPUT_PIXELS``.
DEFAULT_MAX_OUTPUT_PIXELS = 1 << 30

#: Largest side each output format can store.
FORMAT_MAX_SIDE = {"JPEG": 65_535, "WEBP": 16_383, "PNG": 2**31 - 1, "TIFF": 2**32 - 1, "BMP": 2**31 - 1}


_ORIENTATION_TAG = 0x0112
_ICC_TIFF_TAG = 34675


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

    @property
    def channels(self) -> int:
        return int(self.array.shape[2])

    @property
    def has_alpha(self) -> bool:
        return self.channels in (2, 4)


# --------------------------------------------------------------------------- reading


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


def _pil_open(fp: io.BytesIO | Path, fmt: str) -> Image.Image:
    """Open with Pillow's plugin for ``fmt`` directly.

    ``Image.open`` applies Pillow's process-wide decompression-bomb limit (``MAX_IMAGE_PIXELS``),
    which srgan neither relies on (its own limit is checked from the header first) nor changes for
    the other users of Pillow in the process.
    """
    Image.init()
    factory, _accept = Image.OPEN[fmt]
    if isinstance(fp, Path):
        f = open(fp, "rb")  # noqa: SIM115 - the image owns it and closes it with itself
        try:
            im = factory(f, str(fp))
        except BaseException:
            f.close()
            raise
        im._exclusive_fp = True  # as Image.open marks a file it opened: closed with the image
        return im
    return factory(fp, "")


def _sniff_format(head: bytes) -> str | None:
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


def _check_size(path: Path, width: int, height: int, limit: int) -> None:
    if width <= 0 or height <= 0:
        raise CorruptImageError(f"{path}: header gives an impossible size {width}x{height}")
    if width * height > limit:
        raise ImageTooLargeError(
            f"{path}: {width}x{height} = {width * height:,} pixels exceeds the limit of {limit:,} "
            "(raise it with max_pixels= or SRGAN_MAX_PIXELS if the file is trusted)"
        )


def _as_hwc(a: np.ndarray) -> np.ndarray:
    return a[:, :, None] if a.ndim == 2 else a


def _apply_orientation(a: np.ndarray, orientation: int) -> np.ndarray:
    """Make pixels upright according to an EXIF orientation value (1-8)."""
    if orientation == 2:
        a = a[:, ::-1]
    elif orientation == 3:
        a = a[::-1, ::-1]
    elif orientation == 4:
        a = a[::-1]
    elif orientation == 5:
        a = a.transpose(1, 0, 2)
    elif orientation == 6:
        a = np.rot90(a, -1)
    elif orientation == 7:
        a = np.rot90(a, 2).transpose(1, 0, 2)
    elif orientation == 8:
        a = np.rot90(a, 1)
    return np.ascontiguousarray(a)


def _exif_from_pillow(im: Image.Image) -> tuple[bytes | None, int]:
    """Return the EXIF block with orientation reset to 1, and the original orientation."""
    try:
        exif = im.getexif()
    except Exception:  # a broken EXIF block must not make the pixels unreadable
        log.warning("ignoring an unreadable EXIF block")
        return None, 1
    if not exif:
        return None, 1
    orientation = int(exif.get(_ORIENTATION_TAG, 1) or 1)
    if orientation not in range(1, 9):
        orientation = 1
    if _ORIENTATION_TAG in exif:
        exif[_ORIENTATION_TAG] = 1
    try:
        return exif.tobytes(), orientation
    except Exception:
        log.warning("dropping an EXIF block that cannot be re-encoded")
        return None, orientation


def _pillow_to_array(im: Image.Image) -> tuple[np.ndarray, int]:
    """Convert a loaded Pillow image to (H, W, C) uint8/uint16 and its bit depth."""
    mode = im.mode
    if mode == "1":
        im = im.convert("L")
    elif mode in ("P", "PA"):
        im = im.convert("RGBA")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        im = im.convert("RGB")
    elif mode == "La":
        im = im.convert("LA")
    elif mode == "RGBa":
        im = im.convert("RGBA")
    elif mode == "F":
        raise UnsupportedImageError("floating-point images are not supported")
    if im.mode.startswith("I;16"):
        return _as_hwc(np.asarray(im).astype(np.uint16)), 16
    if im.mode == "I":
        a = np.asarray(im)
        if a.min() < 0 or a.max() > 65535:
            raise UnsupportedImageError("32-bit integer images are not supported")
        return _as_hwc(a.astype(np.uint16)), 16
    return _as_hwc(np.asarray(im).copy()), 8


def _decode_pillow(path: Path, data: bytes, fmt: str, limit: int) -> LoadedImage:
    try:
        im = _pil_open(io.BytesIO(data), fmt)
    except UnidentifiedImageError as exc:
        raise NotAnImageError(f"{path}: not a readable {fmt} image") from exc
    except (OSError, SyntaxError, ValueError, struct.error) as exc:
        raise CorruptImageError(f"{path}: corrupt {fmt} header ({exc})") from exc
    _check_size(path, im.width, im.height, limit)
    frames = int(getattr(im, "n_frames", 1) or 1)
    if frames > 1 and fmt != "TIFF":
        raise _animated(path, fmt, frames)
    if frames > 1:
        log.warning("%s: multi-page TIFF; only the first of its %d pages is read", path, frames)
    source_mode = im.mode
    try:
        im.load()
    except (OSError, SyntaxError, ValueError, struct.error, EOFError, zlib.error) as exc:
        raise CorruptImageError(f"{path}: truncated or corrupt {fmt} data ({exc})") from exc
    exif, orientation = _exif_from_pillow(im)
    icc = im.info.get("icc_profile") or None
    if source_mode == "CMYK":
        # The profile describes CMYK values, not the RGB pixels we return.
        icc = None
    array, depth = _pillow_to_array(im)
    array = _apply_orientation(array, orientation)
    meta = ImageMeta(format=fmt, bit_depth=depth, source_mode=source_mode, icc_profile=icc, exif=exif)
    return LoadedImage(array, meta)


def _decode_png16(path: Path, data: bytes, color_type: int, limit: int) -> LoadedImage:
    """16-bit PNG: Pillow cannot hold 16-bit colour, so OpenCV decodes the samples."""
    icc: bytes | None = None
    exif: bytes | None = None
    orientation = 1
    try:
        with _pil_open(io.BytesIO(data), "PNG") as im:
            icc = im.info.get("icc_profile") or None
            exif, orientation = _exif_from_pillow(im)
    except Exception:  # metadata is best effort; the pixels decide readability
        log.debug("%s: no metadata from the PNG chunks", path)
    buf = np.frombuffer(data, dtype=np.uint8)
    a = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if a is None or a.dtype != np.uint16:
        raise CorruptImageError(f"{path}: truncated or corrupt 16-bit PNG data")
    a = _as_hwc(a)
    if color_type == 4:  # gray + alpha arrives as BGRA with B == G == R
        a = a[:, :, [0, 3]]
    elif a.shape[2] == 3:
        a = a[:, :, ::-1]
    elif a.shape[2] == 4:
        a = a[:, :, [2, 1, 0, 3]]
    a = _apply_orientation(np.ascontiguousarray(a), orientation)
    names = {0: "I;16", 2: "RGB;16", 4: "LA;16", 6: "RGBA;16"}
    meta = ImageMeta("PNG", 16, names.get(color_type, "16-bit"), icc, exif)
    return LoadedImage(a, meta)


def _animated(path: Path, fmt: str, frames: int) -> UnsupportedImageError:
    return UnsupportedImageError(
        f"{path}: animated {fmt} ({frames} frames); srgan reads still images only, so extract the frames first"
    )


def _check_png_chunks(path: Path, data: bytes) -> None:
    """Verify every chunk's CRC up to IEND (decoders skip the CRC of image data) and refuse APNG."""
    pos, n = 8, len(data)
    while True:
        if pos + 12 > n:
            raise CorruptImageError(f"{path}: truncated PNG (no IEND chunk)")
        length = int.from_bytes(data[pos : pos + 4], "big")
        end = pos + 12 + length
        if end > n:
            raise CorruptImageError(f"{path}: truncated PNG (a chunk runs past the end of the file)")
        tag = data[pos + 4 : pos + 8]
        crc = int.from_bytes(data[end - 4 : end], "big")
        if zlib.crc32(data[pos + 4 : end - 4]) & 0xFFFFFFFF != crc:
            name = tag.decode("latin-1", "replace")
            raise CorruptImageError(f"{path}: corrupt PNG data ({name} chunk at byte {pos} fails its CRC check)")
        if tag == b"acTL":
            frames = int.from_bytes(data[pos + 8 : pos + 12], "big")
            if frames > 1:
                raise _animated(path, "PNG", frames)
        if tag == b"IEND":
            return
        pos = end


def _decode_png(path: Path, data: bytes, limit: int) -> LoadedImage:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise CorruptImageError(f"{path}: PNG without a valid IHDR header")
    width, height, bit_depth, color_type = struct.unpack(">IIBB", data[16:26])
    _check_size(path, width, height, limit)
    _check_png_chunks(path, data)
    if bit_depth == 16:
        return _decode_png16(path, data, color_type, limit)
    return _decode_pillow(path, data, "PNG", limit)


def _decode_tiff(path: Path, data: bytes, limit: int) -> LoadedImage:
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages.first
            photometric = int(page.photometric)
            # Only plain gray/RGB layouts are decoded here; Pillow handles the rest.
            if photometric not in (1, 2) or page.dtype not in (np.uint8, np.uint16, np.bool_):
                if page.dtype is not None and page.dtype.kind == "f":
                    raise UnsupportedImageError(f"{path}: floating-point TIFF is not supported")
                return _decode_pillow(path, data, "TIFF", limit)
            _check_size(path, int(page.imagewidth), int(page.imagelength), limit)
            if len(tif.pages) > 1:
                log.warning("%s: multi-page TIFF; only the first of its %d pages is read", path, len(tif.pages))
            a = page.asarray()
            if page.planarconfig == 2 and a.ndim == 3:  # separate planes: (S, H, W)
                a = np.moveaxis(a, 0, -1)
            icc_tag = page.tags.get(_ICC_TIFF_TAG)
            icc = bytes(icc_tag.value) if icc_tag is not None else None
            orient_tag = page.tags.get(274)
            orientation = int(orient_tag.value) if orient_tag is not None else 1
    except (ImageReadError, UnsupportedImageError):
        raise
    except Exception as exc:  # tifffile raises many types for damaged files
        raise CorruptImageError(f"{path}: truncated or corrupt TIFF data ({exc})") from exc
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    a = _as_hwc(a)
    if a.shape[2] > 4:
        a = a[:, :, :4]
    a = _apply_orientation(a, orientation if orientation in range(1, 9) else 1)
    depth = 16 if a.dtype == np.uint16 else 8
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[a.shape[2]]
    return LoadedImage(a, ImageMeta("TIFF", depth, mode, icc, None))


def _read_and_sniff(p: Path, size: int | None) -> tuple[bytes, str]:
    """The first ``size`` bytes of a file (all of it for None) and its image format, or a typed error."""
    try:
        if p.is_dir():
            raise ImageReadError(f"{p}: is a folder, not an image file")
        with open(p, "rb") as f:
            data = f.read() if size is None else f.read(size)
    except FileNotFoundError as exc:
        raise ImageReadError(f"{p}: no such file") from exc
    except PermissionError as exc:
        raise ImageReadError(f"{p}: permission denied") from exc
    except OSError as exc:
        raise ImageReadError(f"{p}: cannot read ({exc.strerror or exc})") from exc
    if not data:
        raise NotAnImageError(f"{p}: empty file (0 bytes)")
    fmt = _sniff_format(data[:16])
    if fmt is None:
        raise NotAnImageError(f"{p}: not an image (unrecognised content, whatever the file name says)")
    return data, fmt


def load_image(path: str | os.PathLike[str], *, max_pixels: int | None = None) -> LoadedImage:
    """Read an image file with its metadata.

    >>> img = load_image("photo.png")       # doctest: +SKIP
    >>> img.array.shape, img.array.dtype    # doctest: +SKIP
    ((512, 512, 3), dtype('uint8'))

    Raises a subclass of :class:`~srgan.errors.ImageReadError` for anything that is not a
    complete, supported image within the pixel limit.
    """
    p = Path(path)
    limit = max_input_pixels(max_pixels)
    data, fmt = _read_and_sniff(p, None)
    if fmt == "PNG":
        return _decode_png(p, data, limit)
    if fmt == "TIFF":
        return _decode_tiff(p, data, limit)
    return _decode_pillow(p, data, fmt, limit)


def _quiet_orientation(im: Image.Image) -> int:
    """The EXIF orientation found in the header. ``Image.getexif`` is not used: for a PNG without an
    eXIf chunk before its pixels it decodes the whole image to look further."""
    raw = im.info.get("exif")
    if not raw:
        return 1
    try:
        exif = Image.Exif()
        exif.load(raw)
        value = int(exif.get(_ORIENTATION_TAG, 1) or 1)
    except Exception:  # a broken EXIF block: load_image warns about it, the probe stays quiet
        return 1
    return value if value in range(1, 9) else 1


@dataclass(frozen=True)
class ImageInfo:
    """What a file's header says: upright size (EXIF orientation applied) and container format."""

    width: int
    height: int
    format: str


def probe_image(path: str | os.PathLike[str], *, max_pixels: int | None = None) -> ImageInfo:
    """Read only the header of an image file: no pixels are decoded, whatever the image's size.

    Raises :class:`~srgan.errors.ImageReadError` subclasses as :func:`load_image` does for files
    that are missing, empty, not images or over the input pixel limit.
    """
    p = Path(path)
    _head, fmt = _read_and_sniff(p, 16)
    try:
        if fmt == "TIFF":
            with tifffile.TiffFile(p) as tif:
                page = tif.pages.first
                w, h = int(page.imagewidth), int(page.imagelength)
                tag = page.tags.get(274)
                orientation = int(tag.value) if tag is not None else 1
        else:
            with _pil_open(p, fmt) as im:
                w, h = im.size
                orientation = _quiet_orientation(im) if fmt in ("JPEG", "PNG", "WEBP") else 1
    except ImageReadError:
        raise
    except Exception as exc:  # every library raises its own types for a damaged header
        raise CorruptImageError(f"{p}: corrupt {fmt} header ({exc})") from exc
    _check_size(p, w, h, max_input_pixels(max_pixels))
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    return ImageInfo(w, h, fmt)


def read_image(path: str | os.PathLike[str], *, max_pixels: int | None = None) -> np.ndarray:
    """Read only the pixels of an image file; see :func:`load_image`."""
    return load_image(path, max_pixels=max_pixels).array


def list_images(folder: str | os.PathLike[str], *, recursive: bool = False) -> list[Path]:
    """Image files (by extension) in a folder, sorted by path; hidden files are skipped."""
    root = Path(folder)
    it: Iterator[Path] = root.rglob("*") if recursive else root.iterdir()
    return sorted(f for f in it if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS and not f.name.startswith("."))


# --------------------------------------------------------------------------- writing

_EXT_FORMAT = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}


def format_for_path(path: str | os.PathLike[str]) -> str:
    """The image format implied by a file extension, or :class:`ImageWriteError`."""
    ext = Path(path).suffix.lower()
    try:
        return _EXT_FORMAT[ext]
    except KeyError:
        raise ImageWriteError(
            f"{path}: unknown image extension {ext!r} (use one of {', '.join(sorted(_EXT_FORMAT))})"
        ) from None


def _png_chunk(tag: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(tag + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", crc)


def _png_with_chunks(png: bytes, meta: ImageMeta | None, *, bare: bool = False) -> bytes:
    """Insert iCCP / eXIf chunks right after IHDR of an encoded PNG (or return them alone if ``bare``)."""
    if meta is None or (not meta.icc_profile and not meta.exif):
        return png
    chunks = []
    if meta.icc_profile:
        chunks.append(_png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(meta.icc_profile)))
    if meta.exif:
        exif = meta.exif[6:] if meta.exif.startswith(b"Exif\x00\x00") else meta.exif
        chunks.append(_png_chunk(b"eXIf", exif))
    if bare:
        return b"".join(chunks)
    end_of_ihdr = 8 + 8 + 13 + 4
    return png[:end_of_ihdr] + b"".join(chunks) + png[end_of_ihdr:]


def _normalise_for_write(array: np.ndarray, fmt: str, path: Path) -> np.ndarray:
    a = np.asarray(array)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
        raise ImageWriteError(f"{path}: expected an (H, W, C) array with C in 1-4, got shape {a.shape}")
    if a.dtype not in (np.uint8, np.uint16):
        raise ImageWriteError(f"{path}: expected uint8 or uint16 pixels, got {a.dtype}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ImageWriteError(f"{path}: cannot write an empty image {a.shape}")
    if fmt in ("JPEG", "WEBP", "BMP") and a.dtype == np.uint16:
        log.warning("%s: %s stores 8 bits per sample; reducing 16-bit data to 8 bits", path, fmt)
        a = np.round(a.astype(np.float64) / 257.0).astype(np.uint8)
    has_alpha = a.shape[2] in (2, 4)
    if fmt == "JPEG" and has_alpha:
        raise ImageWriteError(f"{path}: JPEG cannot store an alpha channel; write PNG, WebP or TIFF instead")
    if a.shape[2] == 2 and (fmt in ("WEBP", "BMP") or (fmt == "PNG" and a.dtype == np.uint16)):
        # These encoders have no gray + alpha layout; RGBA keeps every value.
        a = np.concatenate([a[:, :, :1]] * 3 + [a[:, :, 1:]], axis=2)
    return np.ascontiguousarray(a)


def _tiff_write(target: io.BytesIO | io.BufferedWriter, a: np.ndarray, icc: bytes | None) -> None:
    kwargs: dict[str, object] = {"compression": "zlib"}
    photometric = "minisblack" if a.shape[2] in (1, 2) else "rgb"
    if a.shape[2] in (2, 4):
        kwargs["extrasamples"] = ["unassalpha"]
    if icc:
        kwargs["extratags"] = [(_ICC_TIFF_TAG, "B", len(icc), icc, True)]
    tifffile.imwrite(target, a[:, :, 0] if a.shape[2] == 1 else a, photometric=photometric, **kwargs)


def encode_image(
    array: np.ndarray,
    fmt: str,
    *,
    meta: ImageMeta | None = None,
    quality: int = 95,
    path: Path | None = None,
) -> bytes:
    """Encode pixels to the bytes of an image file of format ``fmt`` (see :func:`write_image`)."""
    where = path or Path(f"<{fmt}>")
    a = _normalise_for_write(array, fmt, where)
    icc = meta.icc_profile if meta else None
    exif = meta.exif if meta else None
    buf = io.BytesIO()
    if fmt == "TIFF":
        _tiff_write(buf, a, icc)
        return buf.getvalue()
    if fmt == "PNG" and a.dtype == np.uint16:
        if a.shape[2] == 3:
            a = a[:, :, ::-1]
        elif a.shape[2] == 4:
            a = a[:, :, [2, 1, 0, 3]]
        ok, enc = cv2.imencode(".png", np.ascontiguousarray(a), [cv2.IMWRITE_PNG_COMPRESSION, 6])
        if not ok:
            raise ImageWriteError(f"{where}: OpenCV failed to encode a 16-bit PNG")
        return _png_with_chunks(enc.tobytes(), meta)
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[a.shape[2]]
    if a.dtype == np.uint16:  # only 16-bit gray reaches here (PNG); colour went through OpenCV
        im = Image.fromarray(a[:, :, 0].astype(np.uint16), mode="I;16")
    else:
        im = Image.fromarray(a[:, :, 0] if mode == "L" else a, mode=mode)
    opts: dict[str, object] = {}
    if icc and fmt != "BMP":
        opts["icc_profile"] = icc
    if exif and fmt in ("JPEG", "PNG", "WEBP"):
        opts["exif"] = exif
    if fmt == "JPEG":
        q = int(quality)
        opts.update(quality=q, subsampling=0 if q >= 90 else 2, optimize=True)
    elif fmt == "WEBP":
        q = int(quality)
        opts.update(quality=q, lossless=q >= 100, exact=q >= 100, method=4)
    elif fmt == "PNG":
        opts.update(compress_level=6)
    try:
        im.save(buf, format=fmt, **opts)
    except (OSError, ValueError, KeyError) as exc:
        raise ImageWriteError(f"{where}: cannot encode as {fmt} ({exc})") from exc
    return buf.getvalue()


#: Images larger than this (bytes of pixels) are encoded straight to the file (PNG, TIFF)
#: instead of in memory, so writing a huge upscale needs no second copy of it.
STREAM_THRESHOLD = 128 << 20


def _png_stream(f: io.BufferedWriter, a: np.ndarray, meta: ImageMeta | None, level: int = 6) -> None:
    """Write a PNG row block by row block: memory stays at one block, whatever the image size.

    Every row uses PNG's 'Sub' filter (each byte minus the byte one pixel to its left),
    which suits photographs; the compressed stream is cut into 1 MiB IDAT chunks.
    """
    h, w, c = a.shape
    depth = 16 if a.dtype == np.uint16 else 8
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    f.write(b"\x89PNG\r\n\x1a\n")
    f.write(_png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0)))
    f.write(_png_with_chunks(b"", meta, bare=True))
    bpp = c * (depth // 8)
    comp = zlib.compressobj(level)
    pending = bytearray()

    def flush(data: bytes) -> None:
        pending.extend(data)
        while len(pending) >= 1 << 20:
            f.write(_png_chunk(b"IDAT", bytes(pending[: 1 << 20])))
            del pending[: 1 << 20]

    rows = max(1, (8 << 20) // max(1, w * bpp))
    for y0 in range(0, h, rows):
        block = a[y0 : y0 + rows]
        raw = block.astype(">u2").view(np.uint8) if depth == 16 else block
        raw = np.ascontiguousarray(raw).reshape(block.shape[0], w * bpp)
        filtered = raw.copy()
        filtered[:, bpp:] -= raw[:, :-bpp]  # uint8 arithmetic wraps modulo 256, as PNG wants
        lines = np.empty((block.shape[0], w * bpp + 1), dtype=np.uint8)
        lines[:, 0] = 1  # filter type Sub
        lines[:, 1:] = filtered
        flush(comp.compress(lines.tobytes()))
    flush(comp.flush())
    if pending:
        f.write(_png_chunk(b"IDAT", bytes(pending)))
    f.write(_png_chunk(b"IEND", b""))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic_write_with(path: Path, writer: Callable[[io.BufferedWriter], None]) -> None:
    """Like :func:`atomic_write_bytes`, with ``writer`` streaming into the temporary file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.srgan-{os.getpid()}-", suffix=".tmp", dir=path.parent)
    try:
        os.close(fd)
        with open(tmp, "wb") as f:  # a named file: some writers (tifffile) look at f.name
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600); give it the mode a plain open() would have,
        # or keep the mode of the file being replaced.
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the complete new one.

    The bytes go to a hidden temporary file in the same folder, are flushed and synced,
    then renamed over ``path``. On any failure the temporary file is removed.
    """
    _atomic_write_with(Path(path), lambda f: f.write(data))


def write_image(
    path: str | os.PathLike[str],
    array: np.ndarray,
    *,
    meta: ImageMeta | None = None,
    quality: int = 95,
) -> None:
    """Write pixels ``(H, W, C)`` (uint8 or uint16) atomically; the format follows the extension.

    PNG and TIFF keep 8 or 16 bits and every channel layout. JPEG, WebP and BMP hold 8 bits
    (16-bit data is rounded down to 8 with a warning); JPEG refuses alpha. The ICC profile
    goes to PNG, JPEG, WebP and TIFF, the EXIF block to PNG, JPEG and WebP.
    ``quality`` applies to JPEG and WebP (100 = lossless WebP).
    """
    p = Path(path)
    fmt = format_for_path(p)
    try:
        if array.nbytes > STREAM_THRESHOLD and fmt in ("PNG", "TIFF"):
            a = _normalise_for_write(array, fmt, p)
            if fmt == "PNG":
                _atomic_write_with(p, lambda f: _png_stream(f, a, meta))
            else:
                _atomic_write_with(p, lambda f: _tiff_write(f, a, meta.icc_profile if meta else None))
            return
        data = encode_image(array, fmt, meta=meta, quality=quality, path=p)
        atomic_write_bytes(p, data)
    except OSError as exc:
        raise ImageWriteError(f"{p}: cannot write ({exc.strerror or exc})") from exc


# --------------------------------------------------------------------------- tensors


def array_to_tensor(array: np.ndarray, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(H, W, C)`` uint8/uint16 -> ``(C, H, W)`` float in [0, 1] (scaled by the dtype's maximum)."""
    if array.dtype == np.uint8:
        scale = 255.0
    elif array.dtype == np.uint16:
        scale = 65535.0
    else:
        raise TypeError(f"expected uint8 or uint16 pixels, got {array.dtype}")
    a = array[:, :, None] if array.ndim == 2 else array
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).to(dtype) / scale


def tensor_to_array(tensor: torch.Tensor, dtype: type[np.integer] | np.dtype = np.uint8) -> np.ndarray:
    """``(C, H, W)`` float in [0, 1] -> ``(H, W, C)`` uint8/uint16, clamped and rounded."""
    dt = np.dtype(dtype)
    scale = 255.0 if dt == np.uint8 else 65535.0
    t = tensor.detach().float().clamp(0, 1).mul(scale).round()
    return np.ascontiguousarray(t.cpu().numpy().transpose(1, 2, 0)).astype(dt)


def replace_meta(meta: ImageMeta, **changes: object) -> ImageMeta:
    """A copy of ``meta`` with some fields changed."""
    return replace(meta, **changes)  # type: ignore[arg-type]
