"""Finished runs of the downstream study, kept on disk so a study resumes and can be split by seed.

One JSON file per (seed, arm) and one teacher state per seed, named after the digest of the data the run
trains on: the study's, or the real images' alone for real-only runs and teachers (so studies with other
data or protocols keep their own files beside, and share the real-only runs they have in common). A file
is used only when it was made from the same data (a digest of every image and label it depends on), the
same protocol and the same arm definition; anything else is recomputed, never mixed in. Writes are atomic,
so several processes (one seed each, say) can share a folder. An unfinished run keeps its state between
epochs beside them (``...-train.partial.pt``, removed once the run is saved), so a killed run goes on.
A real-only run is also read from a study with 1/k of the epochs, where it is real-only over k times them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from collections.abc import Collection
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from srgan.augment.study_arms import Arm
from srgan.augment.study_protocol import Protocol
from srgan.augment.study_runs import STAGES, Resume, Run
from srgan.data.labelled import ImageSet
from srgan.fsutil import atomic_write_bytes

__all__ = ["REAL_ONLY", "StudyCache", "fingerprint"]


def fingerprint(data: dict[str, ImageSet], test: ImageSet, proto: Protocol, sets: Collection[str] | None = None) -> str:
    """A digest of every image and label the study sees (or only those of ``sets``, with the test images) and
    of its protocol (the budget aside)."""
    return _with_protocol(_data_hash(data, test, sets), proto)


def _data_hash(data: dict[str, ImageSet], test: ImageSet, sets: Collection[str] | None) -> Any:
    """The hash of :func:`fingerprint` over the images and labels alone, to be finished with a protocol (or several,
    from copies: the images are hashed once)."""
    h = hashlib.sha256()
    for name in sorted(data if sets is None else sets):
        s = data[name]
        h.update(name.encode())
        h.update(s.images.contiguous().numpy().tobytes())
        h.update(s.labels.contiguous().numpy().tobytes())
    h.update(test.images.contiguous().numpy().tobytes())
    h.update(test.labels.contiguous().numpy().tobytes())
    return h


def _with_protocol(data_hash: Any, proto: Protocol) -> str:
    h = data_hash.copy()
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
    for option in ("per_class", "online", "mixed_share"):
        if spec[option] is None:
            del spec[option]  # runs cached before the option stay valid too
    if "classical" in arm.extra:
        spec["classical_sources_outside_validation"] = True  # runs from before that fix are not read back
    return spec


#: the data an arm trains on, when it is less than the whole study's: real-only runs (and each seed's teacher)
#: are keyed on the real images alone, so a study whose generated images differ (another GAN, or the same GAN's
#: float32 samples rounded differently on another CPU) still reads them back
REAL_ONLY = frozenset({"real"})
#: the largest k for which a real-only run is looked for under a protocol with 1/k of the epochs
MAX_SHORTER = 16


class StudyCache:
    """Runs and teachers of one study (``digest`` from :func:`fingerprint`) in ``folder``.

    ``narrow`` maps the sets some arms train on (:data:`REAL_ONLY`) to the digest of those sets alone: such
    runs are saved under it, and read back under it or, as cached before it existed, under ``digest``.
    """

    def __init__(self, folder: str | Path, digest: str, every: float = 60.0,
                 narrow: dict[frozenset[str], str] | None = None,
                 shorter: dict[int, str] | None = None) -> None:  # fmt: skip
        self.folder = Path(folder)
        self.digest = digest
        self.every = every  # seconds between saves of an unfinished run's state
        self.narrow = dict(narrow or {})
        # k -> the real-only digest under the protocol with 1/k of the epochs: there, real-only over k times the
        # epochs is the very same training as a real-only run here (train() sees only their product)
        self.shorter = dict(shorter or {})

    @classmethod
    def of(cls, folder: str | Path, data: dict[str, ImageSet], test: ImageSet, proto: Protocol,
           every: float = 60.0) -> StudyCache:  # fmt: skip
        """The cache of the study of ``data`` and ``test`` under ``proto``, real-only runs keyed on the real images."""
        real = _data_hash(data, test, REAL_ONLY)
        narrow = {REAL_ONLY: _with_protocol(real, proto)} if set(data) != REAL_ONLY else {}
        shorter = {k: _with_protocol(real, replace(proto, epochs=proto.epochs // k))
                   for k in range(2, MAX_SHORTER + 1) if proto.epochs % k == 0}  # fmt: skip
        return cls(folder, fingerprint(data, test, proto), every, narrow, shorter)

    def _keys(self, arm: Arm | None) -> list[str]:
        """Digests a run of ``arm`` (None: the teacher) may be cached under, the one it is saved under first."""
        uses = REAL_ONLY if arm is None else frozenset({"real", *arm.extra})
        return list(dict.fromkeys([self.narrow.get(uses, self.digest), self.digest]))

    def _run_path(self, digest: str, seed: int, arm: Arm) -> Path:
        return self.folder / f"{digest[:10]}-seed{seed}-{arm.key}.json"

    def resume(self, seed: int, arm: Arm, stage: str) -> Resume:
        """Where one training stage of an unfinished run keeps its state (``...-seed0-real-x4-train.partial.pt``)."""
        digest = self._keys(arm)[0]
        path = self.folder / f"{digest[:10]}-seed{seed}-{arm.key}-{stage}.partial.pt"
        return Resume(path, {"digest": digest, "arm": _arm_spec(arm), "stage": stage}, self.every)

    def clear_partial(self, seed: int, arm: Arm) -> None:
        """Remove an arm's unfinished states once its run is saved (its own: ``real`` leaves ``real-x4``'s)."""
        for stage in STAGES:
            self.resume(seed, arm, stage).clear()

    def _read(self, digest: str, seed: int, arm: Arm) -> tuple[Run, int] | None:
        try:
            rec = json.loads(self._run_path(digest, seed, arm).read_text())
        except (OSError, ValueError):
            return None
        if rec.get("digest") == digest and rec.get("arm") == _arm_spec(arm):
            return Run(**rec["run"]), int(rec["n_added"])
        return None

    def load(self, seed: int, arm: Arm) -> tuple[Run, int] | None:
        """The cached run, if any; a real-only run may also come from a protocol with 1/k of the epochs, as its
        real-only run over k times them (``real`` at 240 epochs is ``real-x4`` of a 60-epoch study)."""
        for digest in self._keys(arm):
            if (found := self._read(digest, seed, arm)) is not None:
                return found
        if not arm.extra and not arm.pretrain and arm.online is None:
            for k, digest in sorted(self.shorter.items()):
                same = replace(arm, epoch_scale=arm.epoch_scale * k)
                if (found := self._read(digest, seed, same)) is not None:
                    # a copy under this study's own key, saying where it came from: the run is found without the
                    # data (benchmarks/augment_study_progress.py) and its source is on record
                    self.save(seed, arm, *found, copied_from=self._run_path(digest, seed, same).name)
                    return found
        return None

    def copied_from(self, seed: int, arm: Arm) -> str | None:
        """The file a cached run was copied from (a real-only run of a study with fewer epochs), if it was."""
        try:
            return json.loads(self._run_path(self._keys(arm)[0], seed, arm).read_text()).get("copied_from")
        except (OSError, ValueError, AttributeError):
            return None

    def save(self, seed: int, arm: Arm, run: Run, n_added: int, copied_from: str | None = None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        digest = self._keys(arm)[0]
        rec = {"digest": digest, "study": self.digest, "arm": _arm_spec(arm), "run": dataclasses.asdict(run),
               "n_added": n_added, **({"copied_from": copied_from} if copied_from else {})}  # fmt: skip
        atomic_write_bytes(self._run_path(digest, seed, arm), json.dumps(rec, indent=1).encode())

    def load_teacher(self, seed: int) -> dict[str, torch.Tensor] | None:
        for digest in self._keys(None):
            try:
                rec = torch.load(self.folder / f"{digest[:10]}-seed{seed}-teacher.pt", map_location="cpu",
                                 weights_only=True)  # fmt: skip
            except (OSError, RuntimeError, ValueError):
                continue
            if rec.get("digest") == digest:
                return rec["state"]
        return None

    def save_teacher(self, seed: int, model: torch.nn.Module) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        digest = self._keys(None)[0]
        buf = io.BytesIO()
        torch.save({"digest": digest, "state": {k: v.cpu() for k, v in model.state_dict().items()}}, buf)
        atomic_write_bytes(self.folder / f"{digest[:10]}-seed{seed}-teacher.pt", buf.getvalue())
