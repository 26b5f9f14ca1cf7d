"""The upscaler: tiling, precision, devices, alpha / gray / 16-bit images.

Tiles are cut from a CPU copy of the image, padded by the model's receptive field
(``tile_pad``), run on the device one by one, cropped back to their core and written into
a CPU output canvas of the output dtype. With enough padding the tiled result equals the
untiled one (up to float rounding: at most one 8-bit level). The whole image only goes to
the device when tiling is off.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from srgan.device import resolve_device
from srgan.errors import ConfigError, ModelError, OutputTooLargeError
from srgan.imageio import max_output_pixels
from srgan.infer.convert import apply
from srgan.infer.models import DEFAULT_MODEL, LoadedModel, load_model

__all__ = ["Upscaler"]

log = logging.getLogger(__name__)

MIN_TILE = 32


def _available_memory(device: torch.device) -> int:
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 << 30


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, torch.cuda.OutOfMemoryError | MemoryError):
        return True
    msg = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in msg or "can't allocate memory" in msg)


@dataclass
class _Plan:
    tile: int  # core tile side in LR pixels (0 = whole image)
    pad: int


class Upscaler:
    """Upscale images with a model; see the module docstring for how tiles are handled.

    >>> import numpy as np
    >>> from srgan import Upscaler
    >>> up = Upscaler("srresnet-x2", device="cpu")
    >>> up.upscale(np.zeros((16, 24, 3), np.uint8)).shape    # numpy in, numpy out, dtype kept
    (32, 48, 3)
    >>> up.upscale(np.zeros((16, 24), np.float32)).dtype     # gray (H, W) stays (H, W)
    dtype('float32')

    ``upscale`` also takes PIL images and torch tensors (see :mod:`srgan.infer.convert`).
    ``tile``: ``"auto"`` picks a tile from free memory (and halves it on out-of-memory),
    ``0`` runs whole images, ``N`` uses N x N LR tiles. ``tile_pad`` defaults to the model's
    receptive field. ``precision``: ``auto`` is fp32 on CPU and fp16 (or bf16) on GPUs for
    models that support it; a half-precision tile that yields NaN or Inf is redone in fp32.
    ``alpha``: ``"bicubic"`` resizes the alpha channel, ``"model"`` runs it through the model.
    ``denoise``: for a real-world model, 0 (keep noise and detail) to 1 (clean hardest); see
    :func:`~srgan.infer.models.load_model`. ``tta``: average the 8 flips/rotations of the input
    (each output turned back exactly): slower by 8x, a little more accurate. ``pre_pad``:
    reflect-pad the input's right and bottom edges by this many pixels before the model and crop
    them off after (Real-ESRGAN's option).
    """

    def __init__(
        self,
        model: str | Path | LoadedModel = DEFAULT_MODEL,
        *,
        device: str = "auto",
        precision: str = "auto",
        tile: int | str = "auto",
        tile_pad: int | None = None,
        alpha: str = "bicubic",
        tta: bool = False,
        pre_pad: int = 0,
        denoise: float | None = None,
    ) -> None:
        self.device = resolve_device(device)
        if isinstance(model, LoadedModel):
            self.model = model
        else:
            self.model = load_model(model, device="cpu", denoise=denoise)
        self.model.module.to(self.device).eval()
        self.scale = self.model.scale
        if alpha not in ("bicubic", "model"):
            raise ConfigError(f"alpha must be bicubic or model, got {alpha!r}")
        self.alpha = alpha
        self.tta = bool(tta)
        if pre_pad < 0:
            raise ConfigError(f"pre_pad must not be negative, got {pre_pad}")
        self.pre_pad = int(pre_pad)
        self.dtype = self._pick_dtype(precision)
        if tile != "auto" and (not isinstance(tile, int) or tile < 0):
            raise ConfigError(f"tile must be auto, 0 or a positive number of pixels, got {tile!r}")
        if isinstance(tile, int) and 0 < tile < MIN_TILE:
            raise ConfigError(f"tile must be at least {MIN_TILE} pixels, got {tile}")
        self.tile_setting = tile
        self.tile_pad = self.model.context if tile_pad is None else int(tile_pad)
        if self.tile_pad < 0:
            raise ConfigError("tile_pad must not be negative")
        if not self.model.tileable:
            self.tile_setting = 0
        self._fp32_fallback = False

    # ------------------------------------------------------------------ settings

    def _pick_dtype(self, precision: str) -> torch.dtype:
        m, dev = self.model, self.device
        if precision not in ("auto", "fp32", "fp16", "bf16"):
            raise ConfigError(f"precision must be auto, fp32, fp16 or bf16, got {precision!r}")
        if dev.type == "cpu":
            if precision in ("fp16", "bf16"):
                log.warning("half precision is not used on CPU (slow and inexact there); using fp32")
            return torch.float32
        if precision == "fp32":
            return torch.float32
        if precision == "fp16" or (precision == "auto" and m.supports_half):
            if not m.supports_half:
                raise ConfigError(f"{m.name} does not support fp16")
            self._cast(torch.float16)
            return torch.float16
        if precision == "bf16":
            if not m.supports_bf16:
                raise ConfigError(f"{m.name} does not support bf16")
            self._cast(torch.bfloat16)
            return torch.bfloat16
        return torch.float32

    def _cast(self, dtype: torch.dtype) -> None:
        self.model.module.to(dtype)

    def auto_tile(self) -> int:
        """LR tile side that keeps the activations well inside free memory."""
        avail = _available_memory(self.device)
        budget = avail / 4 if self.device.type == "cuda" else min(avail / 8, 1 << 30)
        bytes_per = 2 if self.dtype != torch.float32 else 4
        # Live activations per LR pixel: a few feature maps plus the upscaled output.
        per_px = bytes_per * (4 * self.model.feature_channels + 2 * 3 * self.scale**2)
        side = int(math.sqrt(budget / per_px))
        return max(MIN_TILE * 2, min(1024 if self.device.type == "cuda" else 512, side // 16 * 16))

    # ------------------------------------------------------------------ core

    @torch.inference_mode()
    def _run(self, x: torch.Tensor) -> torch.Tensor:
        """``(1, C, h, w)`` float32 on CPU -> float32 CPU output; half with a NaN/Inf check."""
        if self.dtype != torch.float32 and not self._fp32_fallback:
            y = self.model(x.to(self.device, self.dtype)).float()
            if torch.isfinite(y).all():
                return y.cpu()
            log.warning("%s produced NaN/Inf in %s; switching to fp32", self.model.name, self.dtype)
            self._fp32_fallback = True
            self._cast(torch.float32)
        return self.model(x.to(self.device, torch.float32)).float().cpu()

    def _upscale_planes(self, planes: np.ndarray, out: np.ndarray, plan: _Plan, progress: Callable[[int], None] | None,
                        maxval: float) -> None:  # fmt: skip
        """Model-upscale integer ``planes`` ((H, W, 1 or 3)) into ``out`` ((H*s, W*s, same C) view).

        Tiles are converted to float one at a time, so no float copy of the image is made.
        """
        h, w = planes.shape[:2]
        s = self.scale
        tile = plan.tile if plan.tile > 0 else max(h, w)
        pad = plan.pad if plan.tile > 0 else 0
        for y0 in range(0, h, tile):
            for x0 in range(0, w, tile):
                y1, x1 = min(h, y0 + tile), min(w, x0 + tile)
                py0, px0 = max(0, y0 - pad), max(0, x0 - pad)
                py1, px1 = min(h, y1 + pad), min(w, x1 + pad)
                crop = planes[py0:py1, px0:px1].transpose(2, 0, 1).astype(np.float32) / maxval
                if crop.shape[0] == 1:
                    crop = np.repeat(crop, 3, axis=0)  # gray runs through the model as RGB
                sr = self._run(torch.from_numpy(crop)[None])[0]  # (C, (py1-py0)*s, (px1-px0)*s)
                core = sr[:, (y0 - py0) * s : (y1 - py0) * s, (x0 - px0) * s : (x1 - px0) * s]
                if out.shape[2] == 1:  # a gray image was run as RGB
                    core = core.mean(dim=0, keepdim=True)
                vals = core.clamp(0, 1).mul(maxval)
                if out.dtype.kind in "ui":
                    vals = vals.round()
                out[y0 * s : y1 * s, x0 * s : x1 * s] = vals.permute(1, 2, 0).numpy().astype(out.dtype)
                if progress is not None:
                    progress((y1 - y0) * (x1 - x0))

    def _with_oom_retry(self, fn: Callable[[_Plan], None], h: int, w: int) -> None:
        if self.tile_setting == "auto":
            tile = self.auto_tile()
            plan = _Plan(0 if tile >= max(h, w) else tile, self.tile_pad)
        else:
            plan = _Plan(int(self.tile_setting), self.tile_pad)
        while True:
            try:
                fn(plan)
                return
            except Exception as exc:
                if not _is_oom(exc):
                    raise
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                current = plan.tile or max(h, w)
                if current // 2 < MIN_TILE:
                    raise ModelError(f"out of memory even with {current}px tiles on {self.device}") from exc
                log.warning(
                    "out of memory with %dpx tiles on %s; retrying with %dpx", current, self.device, current // 2
                )
                plan = _Plan(current // 2, self.tile_pad)

    def upscale(self, image: Any, *, progress: Callable[[int], None] | None = None) -> Any:
        """An image upscaled by the model's scale, in the kind it came in (:mod:`srgan.infer.convert`).

        Colour goes through the model (gray as RGB, averaged back to one plane); alpha is
        resized bicubically or, with ``alpha="model"``, through the model as well. ``progress``
        is called with the number of LR pixels each finished tile covered.
        """
        return apply(image, lambda a: self._upscale_array(a, progress))

    def work(self, image: np.ndarray) -> int:
        """How many input pixels :meth:`upscale` reports through ``progress`` for this image."""
        h, w = image.shape[:2]
        c = 1 if image.ndim == 2 else image.shape[2]
        passes = (8 if self.tta else 1) * (2 if c in (2, 4) and self.alpha == "model" else 1)
        return (h + self.pre_pad) * (w + self.pre_pad) * passes

    def _upscale_array(self, image: np.ndarray, progress: Callable[[int], None] | None) -> np.ndarray:
        """``(H, W, C)`` uint8/uint16/float32 -> ``(H*s, W*s, C)`` of the same dtype, with TTA and pre-pad."""
        p, s = self.pre_pad, self.scale
        if p:
            h, w = image.shape[:2]
            padded = np.pad(image, ((0, p), (0, p), (0, 0)), mode="reflect" if min(h, w) > p else "edge")
            return self._upscale_array_tta(padded, progress)[: h * s, : w * s]
        return self._upscale_array_tta(image, progress)

    def _upscale_array_tta(self, image: np.ndarray, progress: Callable[[int], None] | None) -> np.ndarray:
        if not self.tta:
            return self._upscale_once(image, progress)
        src = image.astype(np.float32) / (1.0 if image.dtype.kind == "f" else float(np.iinfo(image.dtype).max))
        acc: np.ndarray | None = None
        for flip in (False, True):
            for k in range(4):
                t = np.ascontiguousarray(np.rot90(src[:, ::-1] if flip else src, k))
                y = np.rot90(self._upscale_once(t, progress), -k)
                y = y[:, ::-1] if flip else y
                acc = y.astype(np.float32) if acc is None else acc + y
        assert acc is not None
        mean = acc / 8.0
        if image.dtype.kind == "f":
            return np.ascontiguousarray(mean, dtype=image.dtype)
        top = float(np.iinfo(image.dtype).max)
        return np.ascontiguousarray(np.clip(np.round(mean * top), 0, top).astype(image.dtype))

    def _upscale_once(self, image: np.ndarray, progress: Callable[[int], None] | None) -> np.ndarray:
        h, w, c = image.shape
        s = self.scale
        limit = max_output_pixels()
        if h * s * w * s > limit:
            raise OutputTooLargeError(f"a {w}x{h} image at x{s} gives {w * s * h * s:,} pixels, over the output "
                                      f"limit of {limit:,} (SRGAN_MAX_OUTPUT_PIXELS)")  # fmt: skip
        maxval = 1.0 if image.dtype.kind == "f" else float(np.iinfo(image.dtype).max)
        n_color = c - 1 if c in (2, 4) else c
        out = np.empty((h * s, w * s, c), dtype=image.dtype)
        self._model_upscale(image[:, :, :n_color], out[:, :, :n_color], maxval, progress)
        if n_color < c:
            alpha = image[:, :, c - 1 :]
            if self.alpha == "bicubic":
                out[:, :, c - 1] = cv2.resize(alpha, (w * s, h * s), interpolation=cv2.INTER_CUBIC)
            else:
                self._model_upscale(alpha, out[:, :, c - 1 :], maxval, progress)
        return out

    def _model_upscale(self, src: np.ndarray, dst: np.ndarray, maxval: float,
                       progress: Callable[[int], None] | None) -> None:  # fmt: skip
        """One- or three-plane ``src`` through the model into the matching view ``dst``."""
        h, w = src.shape[:2]
        self._with_oom_retry(lambda plan: self._upscale_planes(src, dst, plan, progress, maxval), h, w)

    def upscale_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """``(1, 3, h, w)`` float in [0, 1] -> float ``(1, 3, h*s, w*s)`` (no rounding), for evaluation."""
        return self._run(x.float().cpu())
