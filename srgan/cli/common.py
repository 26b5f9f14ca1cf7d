"""What every command shares: progress bars fed by library callbacks, text output, path checks."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from tqdm import tqdm

from srgan.fsutil import atomic_write_bytes

__all__ = ["Bar", "existing_file", "write_text"]


class Bar:
    """A progress bar on stderr drawn from a library's ``progress(done, total, **info)`` calls.

    The bar appears on the first call and closes when ``done`` reaches ``total``; a disabled
    bar ignores every call (``--no-progress``, or output that is not worth a bar).
    """

    def __init__(self, desc: str, unit: str, *, enabled: bool = True) -> None:
        self.desc, self.unit, self.enabled = desc, unit, enabled
        self._bar: tqdm | None = None

    def __call__(self, done: int, total: int, **info: object) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            self._bar = tqdm(total=total, initial=done, desc=self.desc, unit=self.unit, dynamic_ncols=True)
        bar = self._bar
        bar.total = total
        if info:
            bar.set_postfix({k: str(v) for k, v in info.items()}, refresh=False)
        bar.update(done - bar.n)
        if done >= total:
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def existing_file(path: str | None) -> str | None:
    """``path`` if it names an existing file (a model given by path, not by name), else None."""
    return path if path and Path(path).is_file() else None


def write_text(text: str, output: str | None) -> None:
    """``text`` to the file ``output`` (atomically), or to stdout."""
    if output:
        atomic_write_bytes(output, text.encode())
        logging.getLogger("srgan").info("wrote %s", output)
    else:
        sys.stdout.write(text)
        if not text.endswith("\n"):
            sys.stdout.write("\n")
