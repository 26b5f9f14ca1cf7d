"""Images as tensors: ``(H, W, C)`` uint8/uint16 arrays <-> ``(C, H, W)`` float in [0, 1]."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["array_to_tensor", "tensor_to_array"]


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
