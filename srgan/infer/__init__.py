"""Inference: the Upscaler (tiling, precision, devices) and the model registry."""

from __future__ import annotations

import numpy as np

from srgan.evaluate import Method, register_model_resolver
from srgan.infer.models import DEFAULT_MODEL, LoadedModel, load_model
from srgan.infer.upscaler import Upscaler, resolve_device
from srgan.weights import list_models

__all__ = [
    "DEFAULT_MODEL",
    "LoadedModel",
    "Upscaler",
    "load_model",
    "model_method",
    "resolve_device",
]


def model_method(name: str, scale: int, device: str) -> Method:
    """Let ``srgan evaluate --method NAME|PATH`` score a model."""
    from pathlib import Path

    from srgan.errors import ConfigError, ModelError
    from srgan.evaluate import CLASSICAL_METHODS

    try:
        up = Upscaler(name, device=device, precision="fp32", tile=0)
    except ModelError as exc:
        if Path(name).suffix:
            raise
        shipped = ", ".join(m.name for m in list_models()) or "none"
        raise ConfigError(
            f"unknown method {name!r}: not one of {', '.join(CLASSICAL_METHODS)}, a shipped model ({shipped}) "
            "or a weights file"
        ) from exc
    if up.scale != scale:
        raise ConfigError(f"model {name} upscales x{up.scale}, but --scale is {scale}")

    def run(lr: np.ndarray) -> np.ndarray:
        import torch

        t = torch.from_numpy(np.ascontiguousarray(lr.transpose(2, 0, 1), dtype=np.float32) / 255.0)[None]
        if t.shape[1] == 1:
            t = t.expand(-1, 3, -1, -1)
        sr = up.upscale_tensor(t)[0].clamp(0, 1).mul(255.0)
        if lr.shape[2] == 1:
            sr = sr.mean(dim=0, keepdim=True)
        return sr.permute(1, 2, 0).double().numpy()

    return Method(name, scale, run)


register_model_resolver(model_method)
