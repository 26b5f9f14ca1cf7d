"""Animated GIF, PNG (APNG) and WebP: read every frame composited, write them back as an animation.

Frames come out fully composited (Pillow applies each frame's blend and disposal while decoding),
as ``(H, W, 4)`` RGBA or ``(H, W, 3)`` RGB uint8 arrays, with their durations (ms), the loop
count and each frame's disposal method. Written back, every frame is a complete picture: a frame
with transparent pixels is written with "restore to background" disposal so that the previous
frame cannot show through it; opaque frames keep the disposal they came with.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from srgan.errors import CorruptImageError, ImageWriteError, UnsupportedImageError
from srgan.fsutil import atomic_write_bytes
from srgan.imageio.formats import check_size, max_input_pixels, sniff_format

__all__ = ["ANIMATED_FORMATS", "Animation", "frame_count", "load_animation", "write_animation"]

#: Containers that hold animations, by the format name :func:`sniff_format` gives.
ANIMATED_FORMATS = ("GIF", "PNG", "WEBP")


@dataclass
class Animation:
    frames: list[np.ndarray]  # (H, W, 3 or 4) uint8, composited
    durations: list[int]  # milliseconds per frame
    loop: int = 0  # 0: forever
    disposal: list[int] = field(default_factory=list)  # GIF's codes: 0/1 keep, 2 background, 3 previous
    format: str = "GIF"


def frame_count(path: str | os.PathLike[str]) -> int:
    """Frames in an animated GIF / PNG / WebP; 1 for a still image or any other format."""
    p = Path(path)
    with open(p, "rb") as f:
        fmt = sniff_format(f.read(16))
    if fmt not in ANIMATED_FORMATS:
        return 1
    try:
        Image.init()
        with open(p, "rb") as f:
            im = Image.OPEN[fmt][0](f, str(p))
            return int(getattr(im, "n_frames", 1) or 1)
    except Exception as exc:
        raise CorruptImageError(f"{p}: corrupt {fmt} header ({exc})") from exc


def load_animation(path: str | os.PathLike[str], *, max_pixels: int | None = None) -> Animation:
    """Every frame of an animated image, composited, with its timing (a still image gives one frame)."""
    p = Path(path)
    data = p.read_bytes()
    fmt = sniff_format(data[:16])
    if fmt not in ANIMATED_FORMATS:
        raise UnsupportedImageError(f"{p}: {fmt or 'this format'} holds no animation")
    Image.init()
    try:
        im = Image.OPEN[fmt][0](io.BytesIO(data), str(p))
        n = int(getattr(im, "n_frames", 1) or 1)
        check_size(p, im.width, im.height * n, max_input_pixels(max_pixels))  # all frames count
        frames, durations, disposal = [], [], []
        for i in range(n):
            im.seek(i)
            im.load()
            has_alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
            frames.append(np.asarray(im.convert("RGBA" if has_alpha else "RGB")).copy())
            durations.append(round(float(im.info.get("duration", 100) or 100)))
            disposal.append(int(getattr(im, "disposal_method", im.info.get("disposal", 0)) or 0))
        loop = int(im.info.get("loop", 0) or 0)
    except (UnsupportedImageError, CorruptImageError):
        raise
    except Exception as exc:
        raise CorruptImageError(f"{p}: truncated or corrupt {fmt} animation ({exc})") from exc
    if all(f.shape[2] == 3 or (f[:, :, 3] == 255).all() for f in frames):  # opaque (WebP decodes as RGBA)
        frames = [np.ascontiguousarray(f[:, :, :3]) for f in frames]
    else:  # one layout for every frame
        frames = [f if f.shape[2] == 4 else np.dstack([f, np.full(f.shape[:2], 255, np.uint8)]) for f in frames]
    return Animation(frames, durations, loop, disposal, fmt)


def write_animation(path: str | os.PathLike[str], anim: Animation, *, quality: int = 95) -> None:
    """Write ``anim`` atomically as GIF, animated PNG or animated WebP (by ``path``'s extension)."""
    p = Path(path)
    fmt = {".gif": "GIF", ".png": "PNG", ".webp": "WEBP"}.get(p.suffix.lower())
    if fmt is None:
        raise ImageWriteError(f"{p}: an animation can be written as .gif, .png or .webp, not {p.suffix or 'that'}")
    mode = "RGBA" if anim.frames[0].shape[2] == 4 else "RGB"
    images = [Image.fromarray(f, mode=mode) for f in anim.frames]
    disposal = [
        2 if mode == "RGBA" and (f[:, :, 3] < 255).any() else (d if d in (0, 1, 2, 3) else 0)
        for f, d in zip(anim.frames, anim.disposal or [0] * len(anim.frames), strict=True)
    ]
    opts: dict[str, object] = {"save_all": True, "append_images": images[1:], "duration": anim.durations,
                               "loop": anim.loop}  # fmt: skip
    if fmt == "GIF":
        opts["disposal"] = disposal
    elif fmt == "PNG":
        opts["disposal"] = [{0: 0, 1: 0, 2: 1, 3: 2}[d] for d in disposal]  # APNG numbers them differently
    else:
        opts.update(quality=quality, lossless=quality >= 100)
    buf = io.BytesIO()
    try:
        images[0].save(buf, format=fmt, **opts)
    except (OSError, ValueError) as exc:
        raise ImageWriteError(f"{p}: cannot encode the animation as {fmt} ({exc})") from exc
    try:
        atomic_write_bytes(p, buf.getvalue())
    except OSError as exc:
        raise ImageWriteError(f"{p}: cannot write ({exc.strerror or exc})") from exc
