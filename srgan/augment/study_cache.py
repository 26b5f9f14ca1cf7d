"""Finished runs of the downstream study, kept on disk so a study resumes and can be split by seed.

One JSON file per (seed, arm) and one teacher state per seed, named after the study's digest (so
studies with other data or protocols keep their own files beside). A file is used only when it was
made from the same data (a digest of every image and label), the same protocol and the same arm
definition; anything else is recomputed, never mixed in. Writes are atomic, so several processes
(one seed each, say) can share a folder. An unfinished run keeps its state between epochs beside them
(``...-train.partial.pt``, removed once the run is saved), so a killed run goes on where it was.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import torch

from srgan.augment.study import Protocol, Resume, Run
from srgan.augment.study_arms import Arm
from srgan.data.labelled import ImageSet
from srgan.fsutil import atomic_write_bytes

__all__ = ["StudyCache", "fingerprint"]


def fingerprint(data: dict[str, ImageSet], test: ImageSet, proto: Protocol) -> str:
    """A digest of every image and label the study sees and of its protocol (the budget aside)."""
    h = hashlib.sha256()
    for name in sorted(data):
        s = data[name]
        h.update(name.encode())
        h.update(s.images.contiguous().numpy().tobytes())
        h.update(s.labels.contiguous().numpy().tobytes())
    h.update(test.images.contiguous().numpy().tobytes())
    h.update(test.labels.contiguous().numpy().tobytes())
    p = {k: v for k, v in dataclasses.asdict(proto).items() if k != "budget"}
    if p["selection"] == "accuracy":
        del p["selection"]  # studies measured before the choice existed used this rule: their digests stay valid
    if p["split_seed"] is None:
        del p["split_seed"]  # per-run splits, as studies before the fixed split: their digests stay valid
    if not p["channels_last"]:
        del p["channels_last"]  # the layout studies before the option trained in: their digests stay valid
    h.update(json.dumps(p, sort_keys=True).encode())
    return h.hexdigest()


def _arm_spec(arm: Arm) -> dict[str, Any]:
    spec = dataclasses.asdict(arm)
    spec.pop("name")
    spec["extra"] = list(spec["extra"])
    if spec["epoch_scale"] == 1:
        del spec["epoch_scale"]  # runs cached before the control arm existed stay valid
    if spec["per_class"] is None:
        del spec["per_class"]  # runs cached before the option stay valid too
    if "classical" in arm.extra:
        spec["classical_sources_outside_validation"] = True  # runs from before that fix are not read back
    return spec


class StudyCache:
    """Runs and teachers of one study (``digest`` from :func:`fingerprint`) in ``folder``."""

    def __init__(self, folder: str | Path, digest: str, every: float = 60.0) -> None:
        self.folder = Path(folder)
        self.digest = digest
        self.every = every  # seconds between saves of an unfinished run's state

    def resume(self, seed: int, arm: Arm, stage: str) -> Resume:
        """Where one training stage of an unfinished run keeps its state (``...-seed0-real-x4-train.partial.pt``)."""
        path = self.folder / f"{self.digest[:10]}-seed{seed}-{arm.key}-{stage}.partial.pt"
        return Resume(path, {"digest": self.digest, "arm": _arm_spec(arm), "stage": stage}, self.every)

    def clear_partial(self, seed: int, arm: Arm) -> None:
        """Remove an arm's unfinished states once its run is saved."""
        for path in self.folder.glob(f"{self.digest[:10]}-seed{seed}-{arm.key}-*.partial.pt"):
            path.unlink(missing_ok=True)

    def _run_path(self, seed: int, arm: Arm) -> Path:
        return self.folder / f"{self.digest[:10]}-seed{seed}-{arm.key}.json"

    def load(self, seed: int, arm: Arm) -> tuple[Run, int] | None:
        path = self._run_path(seed, arm)
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if rec.get("digest") != self.digest or rec.get("arm") != _arm_spec(arm):
            return None
        return Run(**rec["run"]), int(rec["n_added"])

    def save(self, seed: int, arm: Arm, run: Run, n_added: int) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        rec = {"digest": self.digest, "arm": _arm_spec(arm), "run": dataclasses.asdict(run), "n_added": n_added}
        atomic_write_bytes(self._run_path(seed, arm), json.dumps(rec, indent=1).encode())

    def load_teacher(self, seed: int) -> dict[str, torch.Tensor] | None:
        path = self.folder / f"{self.digest[:10]}-seed{seed}-teacher.pt"
        try:
            rec = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, ValueError):
            return None
        return rec["state"] if rec.get("digest") == self.digest else None

    def save_teacher(self, seed: int, model: torch.nn.Module) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        torch.save({"digest": self.digest, "state": {k: v.cpu() for k, v in model.state_dict().items()}}, buf)
        atomic_write_bytes(self.folder / f"{self.digest[:10]}-seed{seed}-teacher.pt", buf.getvalue())
