"""Reading images faithfully.

Images are numpy arrays shaped ``(H, W, C)`` with ``C`` in 1 (gray), 2 (gray + alpha),
3 (RGB) or 4 (RGBA), of dtype ``uint8`` or ``uint16``. The bit depth is decided by the
file's header and kept as such; it is never guessed from pixel values.

Reading refuses (with a typed error, before allocating pixels) empty files, files that are
not images, images whose header announces more pixels than the limit, animations, and
truncated or corrupt data (every PNG chunk's CRC is checked). EXIF orientation is applied on
read; the ICC profile and EXIF block travel in :class:`ImageMeta`. Pillow's process-wide
settings are never changed.
"""

from __future__ import annotations

import io
import logging
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import tifffile
from PIL import Image, UnidentifiedImageError

from srgan.errors import (
    CorruptImageError,
    ImageReadError,
    NotAnImageError,
    UnsupportedImageError,
)
from srgan.imageio.formats import (
    ICC_TIFF_TAG,
    IMAGE_EXTENSIONS,
    ORIENTATION_TAG,
    UNSUPPORTED_SUFFIXES,
    ImageInfo,
    ImageMeta,
    LoadedImage,
    animated_error,
    as_hwc,
    check_size,
    max_input_pixels,
    sniff_format,
    unsupported_container,
)
from srgan.imageio.png import check_png_chunks

__all__ = ["list_images", "load_image", "probe_image", "read_image"]

log = logging.getLogger(__name__)


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
    orientation = int(exif.get(ORIENTATION_TAG, 1) or 1)
    if orientation not in range(1, 9):
        orientation = 1
    if ORIENTATION_TAG in exif:
        exif[ORIENTATION_TAG] = 1
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
    elif mode in ("P", "PA"):  # RGBA only when the palette has a transparent entry
        im = im.convert("RGBA" if mode == "PA" or "transparency" in im.info else "RGB")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        im = im.convert("RGB")
    elif mode == "La":
        im = im.convert("LA")
    elif mode == "RGBa":
        im = im.convert("RGBA")
    elif mode == "F":
        raise UnsupportedImageError("floating-point images are not supported")
    if im.mode.startswith("I;16"):
        return as_hwc(np.asarray(im).astype(np.uint16)), 16
    if im.mode == "I":
        a = np.asarray(im)
        if a.min() < 0 or a.max() > 65535:
            raise UnsupportedImageError("32-bit integer images are not supported")
        return as_hwc(a.astype(np.uint16)), 16
    return as_hwc(np.asarray(im).copy()), 8


def _with_key_alpha(a: np.ndarray, key: object) -> np.ndarray:
    """Gray or RGB pixels plus the alpha a PNG colour key (tRNS) means: 0 where a pixel equals the key.

    Pillow reports the key in the file's own sample values (16-bit ones for a 16-bit PNG). A key no
    pixel can equal makes every pixel opaque, so no alpha channel is added for it.
    """
    k = np.asarray(key if isinstance(key, tuple) else (key,))
    if a.shape[2] not in (1, 3) or k.size != a.shape[2] or k.dtype.kind not in "iu":
        return a
    if (k < 0).any() or (k > np.iinfo(a.dtype).max).any():
        return a
    alpha = np.where((a == k.astype(a.dtype)).all(axis=2), 0, np.iinfo(a.dtype).max).astype(a.dtype)
    return np.concatenate([a, alpha[:, :, None]], axis=2)


def _decode_pillow(path: Path, data: bytes, fmt: str, limit: int) -> LoadedImage:
    try:
        im = _pil_open(io.BytesIO(data), fmt)
    except UnidentifiedImageError as exc:
        raise NotAnImageError(f"{path}: not a readable {fmt} image") from exc
    except (OSError, SyntaxError, ValueError, struct.error) as exc:
        raise CorruptImageError(f"{path}: corrupt {fmt} header ({exc})") from exc
    check_size(path, im.width, im.height, limit)
    frames = int(getattr(im, "n_frames", 1) or 1)
    if frames > 1 and fmt != "TIFF":
        raise animated_error(path, fmt, frames)
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
    if fmt == "PNG" and "transparency" in im.info and source_mode != "P":
        array = _with_key_alpha(array, im.info["transparency"])
    array = _apply_orientation(array, orientation)
    meta = ImageMeta(format=fmt, bit_depth=depth, source_mode=source_mode, icc_profile=icc, exif=exif)
    return LoadedImage(array, meta)


def _decode_png16(path: Path, data: bytes, color_type: int, limit: int) -> LoadedImage:
    """16-bit PNG: Pillow cannot hold 16-bit colour, so OpenCV decodes the samples."""
    icc: bytes | None = None
    exif: bytes | None = None
    key = None
    orientation = 1
    try:
        with _pil_open(io.BytesIO(data), "PNG") as im:
            icc = im.info.get("icc_profile") or None
            key = im.info.get("transparency")
            exif, orientation = _exif_from_pillow(im)
    except Exception:  # metadata is best effort; the pixels decide readability
        log.debug("%s: no metadata from the PNG chunks", path)
    buf = np.frombuffer(data, dtype=np.uint8)
    a = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if a is None or a.dtype != np.uint16:
        raise CorruptImageError(f"{path}: truncated or corrupt 16-bit PNG data")
    a = as_hwc(a)
    if color_type == 4:  # gray + alpha arrives as BGRA with B == G == R
        a = a[:, :, [0, 3]]
    elif a.shape[2] == 3:
        a = a[:, :, ::-1]
    elif a.shape[2] == 4:
        a = a[:, :, [2, 1, 0, 3]]
    if key is not None:
        a = _with_key_alpha(np.ascontiguousarray(a), key)
    a = _apply_orientation(np.ascontiguousarray(a), orientation)
    names = {0: "I;16", 2: "RGB;16", 4: "LA;16", 6: "RGBA;16"}
    meta = ImageMeta("PNG", 16, names.get(color_type, "16-bit"), icc, exif)
    return LoadedImage(a, meta)


def _decode_png(path: Path, data: bytes, limit: int) -> LoadedImage:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise CorruptImageError(f"{path}: PNG without a valid IHDR header")
    width, height, bit_depth, color_type = struct.unpack(">IIBB", data[16:26])
    check_size(path, width, height, limit)
    check_png_chunks(path, data)
    if bit_depth == 16:
        return _decode_png16(path, data, color_type, limit)
    return _decode_pillow(path, data, "PNG", limit)


def _check_tiff_samples(path: Path, dtype: np.dtype | None, bits: int) -> None:
    """Refuse sample types no srgan output can hold, naming them (Pillow would call them corrupt)."""
    if dtype in (np.uint8, np.uint16, np.bool_):
        return
    kind = {"f": "floating-point", "i": "signed integer", "u": "unsigned integer", "c": "complex"}
    name = kind.get(dtype.kind, "unknown") if dtype is not None else "unknown"
    raise UnsupportedImageError(
        f"{path}: {bits}-bit {name} TIFF samples are not supported; save it as 8- or 16-bit integer TIFF or PNG"
    )


def _cmyk_to_rgb16(a: np.ndarray) -> np.ndarray:
    """16-bit CMYK (plus alpha) to RGB(A) with the formula Pillow uses for 8-bit CMYK:
    ``R = (1 - C)(1 - K)``, no colour management."""
    white_k = 65535 - a[:, :, 3].astype(np.uint32)  # 65535 * 65535 + 32767 still fits 32 bits
    out = np.empty((*a.shape[:2], 4 if a.shape[2] > 4 else 3), np.uint16)
    for c in range(3):  # one channel at a time in 32 bits: a 300-megapixel input stays a few GB
        out[:, :, c] = ((65535 - a[:, :, c].astype(np.uint32)) * white_k + 32767) // 65535
    if a.shape[2] > 4:
        out[:, :, 3] = a[:, :, 4]
    return out


def _decode_tiff(path: Path, data: bytes, limit: int) -> LoadedImage:
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages.first
            photometric = int(page.photometric)
            _check_tiff_samples(path, page.dtype, int(page.bitspersample))
            deep = page.dtype == np.uint16 and len(page.extrasamples) < 2
            cmyk16, white16 = deep and photometric == 5, deep and photometric == 0
            # Plain gray/RGB and 16-bit CMYK and min-is-white gray are decoded here; Pillow handles the
            # rest (palette, 8-bit CMYK, YCbCr, CIELab, 1- and 8-bit min-is-white) in 8 bits.
            if photometric not in (1, 2) and not (cmyk16 or white16):
                return _decode_pillow(path, data, "TIFF", limit)
            check_size(path, int(page.imagewidth), int(page.imagelength), limit)
            if len(tif.pages) > 1:
                log.warning("%s: multi-page TIFF; only the first of its %d pages is read", path, len(tif.pages))
            a = page.asarray()
            if page.planarconfig == 2 and a.ndim == 3:  # separate planes: (S, H, W)
                a = np.moveaxis(a, 0, -1)
            icc_tag = page.tags.get(ICC_TIFF_TAG)
            # A CMYK file's profile describes ink values, not the RGB pixels returned.
            icc = bytes(icc_tag.value) if icc_tag is not None and not cmyk16 else None
            orient_tag = page.tags.get(274)
            orientation = int(orient_tag.value) if orient_tag is not None else 1
    except (ImageReadError, UnsupportedImageError):
        raise
    except Exception as exc:  # tifffile raises many types for damaged files
        raise CorruptImageError(f"{path}: truncated or corrupt TIFF data ({exc})") from exc
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    a = as_hwc(a)
    if cmyk16:
        a = _cmyk_to_rgb16(a)
    elif white16:  # 0 is white: invert the gray, keep any alpha
        a = np.concatenate([65535 - a[:, :, :1], a[:, :, 1:]], axis=2)
    if a.shape[2] > 4:
        a = a[:, :, :4]
    a = _apply_orientation(a, orientation if orientation in range(1, 9) else 1)
    depth = 16 if a.dtype == np.uint16 else 8
    mode = "CMYK;16" if cmyk16 else {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[a.shape[2]]
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
    fmt = sniff_format(data[:16])
    if fmt is None and (other := unsupported_container(data[:16])):
        raise UnsupportedImageError(f"{p}: {other} images are not supported; convert it to PNG, JPEG or TIFF first")
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
        value = int(exif.get(ORIENTATION_TAG, 1) or 1)
    except Exception:  # a broken EXIF block: load_image warns about it, the probe stays quiet
        return 1
    return value if value in range(1, 9) else 1


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
    check_size(p, w, h, max_input_pixels(max_pixels))
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
    files = [f for f in it if f.is_file() and not f.name.startswith(".")]
    unread = sum(f.suffix.lower() in UNSUPPORTED_SUFFIXES for f in files)
    if unread:
        log.warning(
            "%s: %d HEIC/HEIF/AVIF file(s) left out: srgan does not read them (convert them first)", root, unread
        )
    return sorted(f for f in files if f.suffix.lower() in IMAGE_EXTENSIONS)
