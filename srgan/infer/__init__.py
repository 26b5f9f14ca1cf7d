"""Inference: the Upscaler (tiling, precision, devices) and the model registry."""

from __future__ import annotations

from srgan.infer.models import DEFAULT_MODEL, LoadedModel, load_model
from srgan.infer.upscaler import Upscaler

__all__ = [
    "DEFAULT_MODEL",
    "LoadedModel",
    "Upscaler",
    "load_model",
]
