"""Reading PyTorch pickle files (checkpoints, third-party ``.pth``) without running their code."""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from srgan.errors import ModelError

__all__ = ["is_torchscript", "load_torch_file"]


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def is_torchscript(path: str | Path) -> bool:
    """True for a TorchScript archive (``torch.jit.save``), which holds code, not just tensors."""
    try:
        with zipfile.ZipFile(path) as z:
            return any(name.endswith("/constants.pkl") or name == "constants.pkl" for name in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def load_torch_file(path: str | Path, what: str = "checkpoint") -> Any:
    """``torch.load`` restricted to tensors and plain containers, with one-line typed errors.

    A file that carries pickled code (or any object other than tensors, numbers, strings and
    containers) is refused; so is a TorchScript archive. Nothing in the file is executed.
    """
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"{p}: no such {what}" if not p.exists() else f"{p}: is not a file")
    if is_torchscript(p):
        raise ModelError(f"{p}: refused: a TorchScript archive holds code; srgan loads only tensors")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "global" not in str(exc).lower():  # no forbidden object named: a damaged file or another format
            raise ModelError(f"{p}: not a readable {what} (damaged, or not a PyTorch file)") from exc
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        culprit = f" ({found.group(1)})" if found else ""
        raise ModelError(
            f"{p}: refused: the file holds pickled code or objects other than tensors{culprit}, which srgan never runs"
        ) from exc
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile) as exc:
        raise ModelError(f"{p}: not a readable {what} (truncated or damaged: {_first_line(exc)})") from exc
