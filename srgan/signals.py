"""Turning Ctrl-C / SIGTERM into a flag that long loops check between steps."""

from __future__ import annotations

import contextlib
import signal
from types import FrameType
from typing import Any

__all__ = ["StopFlag"]


class StopFlag:
    """While entered, SIGINT and SIGTERM set ``self.set`` instead of killing the process.

    The loop saves its state and stops cleanly at the next step boundary; the previous
    handlers are restored on exit. Outside the main thread signals are left alone.
    """

    def __init__(self) -> None:
        self.set = False
        self._old: dict[int, Any] = {}

    def _handler(self, signum: int, _frame: FrameType | None) -> None:
        self.set = True

    def __enter__(self) -> StopFlag:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
