"""How long jobs report progress: a callback the caller passes in; the library draws nothing.

A library function that takes ``progress`` calls it as ``progress(done, total, **info)`` after
each unit of work (an image, a tile, an iteration); ``info`` carries short figures to show
(a loss, a file name). ``None`` means nobody is listening. The CLI turns these calls into bars.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Progress", "report"]


class Progress(Protocol):
    def __call__(self, done: int, total: int, **info: object) -> None: ...


def _silent(done: int, total: int, **info: object) -> None:
    return None


def report(progress: Progress | None) -> Progress:
    """``progress`` itself, or a callback that does nothing."""
    return progress if progress is not None else _silent
