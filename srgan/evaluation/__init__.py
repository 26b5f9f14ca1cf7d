"""Benchmark evaluation: score upscaling methods on HR folders with the published protocol.

``methods`` names what can be scored (classical resizers, models through :class:`srgan.infer.Upscaler`),
``runner`` scores them image by image (:mod:`srgan.metrics.protocol` holds each step of the
protocol), ``tables`` formats the results.
"""

from srgan.evaluation.methods import CLASSICAL_METHODS, Method, model_method, resolve_method
from srgan.evaluation.runner import DatasetResult, FileFailure, ImageScore, evaluate
from srgan.evaluation.tables import format_csv, format_markdown

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
