"""What :meth:`Upscaler.upscale` accepts, and how each kind comes back in its own form.

* a numpy array ``(H, W, C)`` or ``(H, W)`` of uint8, uint16 or float (0-1): the same shape
  convention and dtype;
* a PIL image: a PIL image of the same mode for ``L``, ``LA``, ``RGB``, ``RGBA``, ``I;16``
  (other modes, such as ``P`` or ``CMYK``, come back as ``RGB``/``RGBA``);
* a torch tensor ``(C, H, W)`` or ``(N, C, H, W)``, float in [0, 1]: a float tensor of the same
  dtype on the same device.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from srgan.errors import ConfigError

__all__ = ["apply"]

Core = Callable[[np.ndarray], np.ndarray]  # (H, W, C) uint8/uint16/float32 -> (H*s, W*s, C) same dtype


def _numpy(x: np.ndarray, core: Core) -> np.ndarray:
    if x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[2] not in (1, 2, 3, 4)):
        raise ConfigError(f"expected an (H, W) or (H, W, C) image with C in 1-4, got shape {x.shape}")
    a = x[:, :, None] if x.ndim == 2 else x
    if a.dtype.kind == "f":
        out = core(np.ascontiguousarray(a, dtype=np.float32)).astype(x.dtype)
    elif a.dtype in (np.uint8, np.uint16):
        out = core(np.ascontiguousarray(a))
    else:
        raise ConfigError(f"expected uint8, uint16 or float pixels, got {x.dtype}")
    return out[:, :, 0] if x.ndim == 2 else out


def _pil(im: Any, core: Core) -> Any:
    from PIL import Image

    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L"):
        out = _numpy(np.asarray(im).astype(np.uint16), core)
        return Image.fromarray(out)  # Pillow stores (H, W) uint16 as I;16
    if mode not in ("L", "LA", "RGB", "RGBA"):
        mode = "RGBA" if "A" in mode or "transparency" in im.info else "RGB"
        im = im.convert(mode)
    return Image.fromarray(_numpy(np.asarray(im), core), mode=mode)


def _tensor(t: torch.Tensor, core: Core) -> torch.Tensor:
    if not t.is_floating_point() or t.ndim not in (3, 4):
        raise ConfigError(f"expected a float (C, H, W) or (N, C, H, W) tensor, got {tuple(t.shape)} {t.dtype}")
    batch = t[None] if t.ndim == 3 else t
    outs = []
    for x in batch:
        a = x.detach().float().cpu().permute(1, 2, 0).contiguous().numpy()
        outs.append(torch.from_numpy(core(a)).permute(2, 0, 1))
    out = torch.stack(outs).to(device=t.device, dtype=t.dtype)
    return out[0] if t.ndim == 3 else out


def apply(x: Any, core: Core) -> Any:
    """Run ``core`` on ``x`` of any supported kind and return the result in ``x``'s kind."""
    if isinstance(x, np.ndarray):
        return _numpy(x, core)
    if isinstance(x, torch.Tensor):
        return _tensor(x, core)
    from PIL import Image  # a dependency; imported here so that numpy and torch callers never load it

    if isinstance(x, Image.Image):
        return _pil(x, core)
    raise ConfigError(f"cannot upscale a {type(x).__name__}: give a numpy array, a PIL image or a torch tensor")
