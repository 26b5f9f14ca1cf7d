"""Benchmark evaluation: score upscaling methods on HR folders with the published protocol.

``methods`` names what can be scored (classical resizers, models through :class:`srgan.infer.Upscaler`),
``runner`` scores them image by image (:mod:`srgan.metrics.protocol` holds each step of the
protocol), ``tables`` formats the results.
"""

from srgan.evaluate.methods import CLASSICAL_METHODS, Method, model_method, resolve_method
from srgan.evaluate.runner import DatasetResult, FileFailure, ImageScore, evaluate
from srgan.evaluate.tables import format_csv, format_markdown

__all__ = [
    "CLASSICAL_METHODS",
    "DatasetResult",
    "FileFailure",
    "ImageScore",
    "Method",
    "evaluate",
    "format_csv",
    "format_markdown",
    "model_method",
    "resolve_method",
]
