"""PNG at the chunk level: CRC checks on read, metadata chunks and a streaming encoder on write."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np

from srgan.errors import CorruptImageError
from srgan.imageio.formats import ImageMeta, animated_error


def png_chunk(tag: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(tag + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", crc)


def check_png_chunks(path: Path, data: bytes) -> None:
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
                raise animated_error(path, "PNG", frames)
        if tag == b"IEND":
            return
        pos = end


def png_with_chunks(png: bytes, meta: ImageMeta | None, *, bare: bool = False) -> bytes:
    """Insert iCCP / eXIf chunks right after IHDR of an encoded PNG (or return them alone if ``bare``)."""
    if meta is None or (not meta.icc_profile and not meta.exif):
        return png
    chunks = []
    if meta.icc_profile:
        chunks.append(png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(meta.icc_profile)))
    if meta.exif:
        exif = meta.exif[6:] if meta.exif.startswith(b"Exif\x00\x00") else meta.exif
        chunks.append(png_chunk(b"eXIf", exif))
    if bare:
        return b"".join(chunks)
    end_of_ihdr = 8 + 8 + 13 + 4
    return png[:end_of_ihdr] + b"".join(chunks) + png[end_of_ihdr:]


def png_stream(f: io.BufferedWriter, a: np.ndarray, meta: ImageMeta | None, level: int = 6) -> None:
    """Write a PNG row block by row block: memory stays at one block, whatever the image size.

    Every row uses PNG's 'Sub' filter (each byte minus the byte one pixel to its left),
    which suits photographs; the compressed stream is cut into 1 MiB IDAT chunks.
    """
    h, w, c = a.shape
    depth = 16 if a.dtype == np.uint16 else 8
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    f.write(b"\x89PNG\r\n\x1a\n")
    f.write(png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0)))
    f.write(png_with_chunks(b"", meta, bare=True))
    bpp = c * (depth // 8)
    comp = zlib.compressobj(level)
    pending = bytearray()

    def flush(data: bytes) -> None:
        pending.extend(data)
        while len(pending) >= 1 << 20:
            f.write(png_chunk(b"IDAT", bytes(pending[: 1 << 20])))
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
        f.write(png_chunk(b"IDAT", bytes(pending)))
    f.write(png_chunk(b"IEND", b""))
