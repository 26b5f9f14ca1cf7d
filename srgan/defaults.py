"""Defaults that both the CLI (without importing torch) and the library need."""

from __future__ import annotations

__all__ = ["DEFAULT_MODEL"]

#: What ``srgan upscale`` uses without ``--model`` (srgan/shipped/README.md says why).
DEFAULT_MODEL = "srresnet-x4"
