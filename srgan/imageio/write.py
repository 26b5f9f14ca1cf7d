"""Writing images: every layout and depth a format can hold, metadata carried over, atomically.

The encoded bytes go to a temporary file in the target folder, which is synced and renamed
over the target (:mod:`srgan.fsutil`), so a crash never leaves half an image. Huge PNG and
TIFF outputs are streamed to the file instead of encoded in memory.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import cv2
import numpy as np
import tifffile
from PIL import Image

from srgan.errors import ImageWriteError
from srgan.fsutil import atomic_write_bytes, atomic_write_with
from srgan.imageio.formats import ICC_TIFF_TAG, ImageMeta, format_for_path, to_8bit
from srgan.imageio.png import png_stream, png_with_chunks

__all__ = ["STREAM_THRESHOLD", "encode_image", "write_image"]

log = logging.getLogger(__name__)


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
        a = to_8bit(a)
    has_alpha = a.shape[2] in (2, 4)
    if fmt == "JPEG" and has_alpha:
        raise ImageWriteError(f"{path}: JPEG cannot store an alpha channel; write PNG, WebP or TIFF instead")
    if a.shape[2] == 2 and (fmt in ("WEBP", "BMP") or (fmt == "PNG" and a.dtype == np.uint16)):
        # These encoders have no gray + alpha layout; RGBA keeps every value.
        a = np.concatenate([a[:, :, :1]] * 3 + [a[:, :, 1:]], axis=2)
    return np.ascontiguousarray(a)


def _tiff_write(target: io.BytesIO | io.BufferedWriter, a: np.ndarray, icc: bytes | None) -> None:
    photometric = "minisblack" if a.shape[2] in (1, 2) else "rgb"
    extrasamples = ["unassalpha"] if a.shape[2] in (2, 4) else None
    extratags = [(ICC_TIFF_TAG, "B", len(icc), icc, True)] if icc else None
    tifffile.imwrite(
        target,
        a[:, :, 0] if a.shape[2] == 1 else a,
        photometric=photometric,
        compression="zlib",
        extrasamples=extrasamples,
        extratags=extratags,
    )


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
        return png_with_chunks(enc.tobytes(), meta)
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
                atomic_write_with(p, lambda f: png_stream(f, a, meta))
            else:
                atomic_write_with(p, lambda f: _tiff_write(f, a, meta.icc_profile if meta else None))
            return
        data = encode_image(array, fmt, meta=meta, quality=quality, path=p)
        atomic_write_bytes(p, data)
    except OSError as exc:
        raise ImageWriteError(f"{p}: cannot write ({exc.strerror or exc})") from exc
