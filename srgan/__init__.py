"""srgan: image super-resolution and dataset augmentation on PyTorch.

>>> from srgan import Upscaler, evaluate, load_model            # doctest: +SKIP
>>> Upscaler("srresnet-x4").upscale(image)                      # doctest: +SKIP
>>> results, failures = evaluate("Set5", [method], scale=4)     # doctest: +SKIP

The package is organised one folder per concern (README.md, "How srgan is built"); importing
``srgan`` itself is light: torch loads when ``Upscaler`` or ``load_model`` is first used.
"""

from __future__ import annotations

from typing import Any

from srgan.errors import SrganError

__version__ = "0.1.0"

__all__ = ["SrganError", "Upscaler", "__version__", "evaluate", "load_model"]


def __getattr__(name: str) -> Any:
    if name in ("Upscaler", "load_model"):
        from srgan import infer

        return getattr(infer, name)
    if name == "evaluate":  # the function; the package behind it is srgan.evaluation
        from srgan.evaluation import evaluate

        return evaluate
    raise AttributeError(f"module 'srgan' has no attribute {name!r}")
