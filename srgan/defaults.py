"""Defaults that both the CLI (without importing torch) and the library need."""

from __future__ import annotations

__all__ = ["DEFAULT_MODEL", "REAL_WORLD_MODEL"]

#: What ``srgan upscale`` uses without ``--model`` (srgan/shipped/README.md says why).
DEFAULT_MODEL = "srresnet-x4"
#: The model for compressed and noisy photos, suggested when the default model gets one.
REAL_WORLD_MODEL = "realsr-x4"
