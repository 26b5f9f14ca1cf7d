"""The study's records: one training run, one arm's runs over the seeds, and where an unfinished run keeps its
state between epochs."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from srgan.augment.study_arms import Arm
from srgan.fsutil import atomic_write_with

__all__ = ["STAGES", "ArmResult", "Resume", "Run"]

log = logging.getLogger(__name__)

#: the training stages of a run that keep their own saved state (see :func:`run_arm`)
STAGES = ("pretrain", "train")


@dataclass
class Run:
    val_accuracy: float
    test_accuracy: float
    epoch: int  # the epoch chosen on validation
    epochs_run: int
    seconds: float
    device: str = "cpu"
    threads: int | None = None  # torch's CPU threads while it trained (None: not recorded, runs before 2026-12-02)
    hardware: str | None = None  # its processor(s), " + "-joined if resumed on another (None: runs before 2026-12-06)


@dataclass
class ArmResult:
    arm: Arm
    runs: list[Run] = field(default_factory=list)
    n_extra: int = 0

    def test(self) -> np.ndarray:
        return np.array([r.test_accuracy for r in self.runs])

    def val(self) -> np.ndarray:
        return np.array([r.val_accuracy for r in self.runs])


@dataclass(frozen=True)
class Resume:
    """Where :func:`train` keeps its state at the end of an epoch (at most every ``every`` seconds, and always
    after the last), so that a killed run goes on from its last saved epoch and ends as an uninterrupted one
    would (bitwise, on the same device and thread count). A saved state is used only if its ``meta`` (what
    the caller says it must match: data digest, arm, stage) and the run's own shape (seed, epochs, steps,
    device) are the same; anything else starts over."""

    path: Path
    meta: dict[str, Any] = field(default_factory=dict)
    every: float = 60.0

    def load(self, shape: dict[str, Any]) -> dict[str, Any] | None:
        if not self.path.is_file():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as e:  # a truncated pickle fails in many ways: every one means start over
            log.warning("%s is unreadable (%s); the run starts over", self.path, type(e).__name__)
            return None
        same = json.dumps(state.get("meta"), sort_keys=True) == json.dumps({**self.meta, **shape}, sort_keys=True)
        if not same:
            log.warning("%s was saved by another run; this one starts over", self.path)
        return state if same else None

    def save(self, shape: dict[str, Any], state: dict[str, Any]) -> None:
        atomic_write_with(self.path, lambda f: torch.save({**state, "meta": {**self.meta, **shape}}, f))

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
