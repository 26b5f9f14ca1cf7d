"""Devices and torchrun launches: which device this process uses, and where it sits in a launch."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

import torch

from srgan.errors import ConfigError

__all__ = ["Launch", "cpu_model", "processor", "resolve_device"]


@dataclass(frozen=True)
class Launch:
    """This process's place in a ``torchrun`` launch: rank 0 of 1 when started directly."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_env(cls) -> Launch:
        """Read torchrun's ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` (the CLI does this, once)."""
        try:
            return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)),
                       int(os.environ.get("WORLD_SIZE", 1)))  # fmt: skip
        except ValueError as exc:
            raise ConfigError(f"malformed torchrun environment (RANK/LOCAL_RANK/WORLD_SIZE): {exc}") from None


def _mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def resolve_device(name: str, launch: Launch | None = None) -> torch.device:
    """``auto`` -> CUDA, else MPS, else CPU; ``cuda`` means this process's GPU, ``cuda:LOCAL_RANK``.

    Refuses devices that are not present, in one line.
    """
    launch = launch or Launch()
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif _mps_available():
            return torch.device("mps")
        else:
            return torch.device("cpu")
    if name == "cuda":
        name = f"cuda:{launch.local_rank}"
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device {name!r} (use auto, cpu, cuda, cuda:N or mps)") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name}: CUDA is not available on this machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"device {name}: only {torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not _mps_available():
        raise ConfigError("device mps: Apple Metal is not available on this machine")
    return dev


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``'s, else what :mod:`platform` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def processor(device: torch.device) -> str:
    """What does the arithmetic on ``device``: the GPU's name, or the CPU's model. Float results can differ
    between two of them, so a record of a run says which it was."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_model() if device.type == "cpu" else device.type
