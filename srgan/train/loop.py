"""The one training loop both trainers run: the SR trainer and the augmenter's class-conditional GAN.

A :class:`TrainLoop` subclass says what one iteration does (:meth:`TrainLoop.step`), which
objects make up its state (:meth:`TrainLoop.components`) and what its inputs are
(:meth:`TrainLoop.batches`, a pure function of the iteration index so that a resumed run sees
exactly what an uninterrupted one would). The loop does the rest, the same way for both:

* checkpoints in one format, written atomically every ``checkpoint_every`` iterations, at the
  end, and on Ctrl-C / SIGTERM (then :class:`~srgan.errors.Interrupted` is raised);
* resume: every component, the RNG states and the iteration come back; metric records past the
  checkpoint are dropped, since the resumed run logs those iterations again;
* ``metrics.jsonl`` and TensorBoard logs in ``tb/``; progress through a callback;
* a non-finite loss stops the run with one line;
* under torchrun, only rank 0 writes, and a stop on any rank stops every rank.
"""

from __future__ import annotations

import io
import json
import logging
import math
import shutil
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from srgan.device import Launch
from srgan.errors import ConfigError, Interrupted, ModelError, SrganError
from srgan.fsutil import atomic_write_bytes
from srgan.progress import Progress, report
from srgan.signals import StopFlag
from srgan.weights import load_torch_file

__all__ = ["CHECKPOINT_FORMAT", "TrainLoop", "read_checkpoint", "trim_metrics"]

log = logging.getLogger(__name__)

#: Version of the checkpoint layout: ``{"format", "iteration", "config", "state", "rng", "meta"}``.
CHECKPOINT_FORMAT = 1


def _from_legacy(st: dict[str, Any]) -> dict[str, Any]:
    """Checkpoints written before the common format: the SR trainer's and the augmenter GAN's."""
    if "step" in st:  # the augmenter's GAN: g, d, g_ema, opt_g, opt_d, step, config, classes, g_hparams
        state = {"g": st["g"], "d": st["d"], "ema": st["g_ema"], "opt_g": st["opt_g"], "opt_d": st["opt_d"]}
        return {"format": CHECKPOINT_FORMAT, "iteration": int(st["step"]), "config": st["config"], "state": state,
                "rng": {}, "meta": {"classes": st["classes"], "g_hparams": st["g_hparams"]}}  # fmt: skip
    names = ("g", "ema", "d", "opt_g", "opt_d", "sched_g", "sched_d", "scaler")
    rng = {"cpu": st["rng_cpu"], **({"cuda": st["rng_cuda"]} if "rng_cuda" in st else {})}
    meta = {"val_metrics": st.get("val_metrics", {}), "world_size": st.get("world_size", 1)}
    return {"format": CHECKPOINT_FORMAT, "iteration": int(st["iteration"]), "config": st["config"],
            "state": {k: st[k] for k in names if k in st}, "rng": rng, "meta": meta}  # fmt: skip


def read_checkpoint(path: str | Path, what: str = "checkpoint") -> dict[str, Any]:
    """A training checkpoint in the common format (older layouts are converted), or a one-line error."""
    st = load_torch_file(path, what)
    try:
        if isinstance(st, dict) and st.get("format") == CHECKPOINT_FORMAT:
            return st
        return _from_legacy(st)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path}: not an srgan {what} (missing {exc})") from exc


def trim_metrics(path: Path, upto: int) -> None:
    """Drop metric records past iteration ``upto`` (and a torn last line from a hard kill)."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if int(json.loads(line).get("iteration", 0)) <= upto:
                kept.append(line)
        except (ValueError, AttributeError):
            continue
    atomic_write_bytes(path, "".join(f"{ln}\n" for ln in kept).encode())


class TrainLoop:
    """See the module docstring. Subclasses set ``total``, ``log_every`` and ``checkpoint_every``."""

    total: int
    log_every: int
    checkpoint_every: int
    #: Files and folders a run writes into its folder: ``--overwrite`` removes these and nothing else.
    run_files: tuple[str, ...] = ("metrics.jsonl", "config.json")
    run_folders: tuple[str, ...] = ("tb",)

    def __init__(self, out: str | Path, checkpoint: str | Path, *, launch: Launch | None = None,
                 device: torch.device | None = None, progress: Progress | None = None) -> None:  # fmt: skip
        self.out = Path(out)
        self.checkpoint_path = Path(checkpoint)
        self.launch = launch or Launch()
        self.device = device or torch.device("cpu")
        self.progress = progress
        self.iteration = 0
        self.writer: Any = None

    # ------------------------------------------------------------------ what a subclass says

    def components(self) -> dict[str, Any]:
        """The objects (modules, optimizers, schedulers, scalers) whose ``state_dict`` is the run's state."""
        raise NotImplementedError

    def config_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def check_resumable(self, saved_config: dict[str, Any], meta: dict[str, Any]) -> None:
        """Raise :class:`ConfigError` if a checkpoint with this config cannot continue as this run."""

    def meta(self) -> dict[str, Any]:
        return {}

    def restore_meta(self, meta: dict[str, Any]) -> None:
        return None

    def batches(self) -> Iterator[Any]:
        """The inputs of iterations ``self.iteration``, ``self.iteration + 1``, ... (a pure function of the index)."""
        raise NotImplementedError

    def step(self, batch: Any) -> dict[str, float]:
        """One iteration; returns the figures to log."""
        raise NotImplementedError

    def after_step(self) -> None:
        """Work after an iteration was counted (validation, sample grids), main rank only."""

    def finish(self) -> dict[str, Any]:
        return {"iteration": self.iteration}

    # ------------------------------------------------------------------ run folder

    def existing_run(self) -> list[str]:
        files = [*self.run_files, str(self.checkpoint_path.relative_to(self.out))]
        return [n for n in files if (self.out / n).is_file()] + [
            f"{n}/" for n in self.run_folders if (self.out / n).is_dir()
        ]

    def prepare(self, *, resume: bool, overwrite: bool) -> bool:
        """Refuse to start again silently in a folder that holds a run; with ``overwrite``, remove only its files.

        With ``resume``, restore the run from its checkpoint; returns whether one was loaded.
        """
        if resume and overwrite:
            raise ConfigError("--resume and --overwrite exclude each other")
        found = [] if resume else self.existing_run()
        if found and not overwrite:
            raise ConfigError(f"{self.out}: already holds a training run ({', '.join(found)}); continue it with "
                              "--resume, or pass --overwrite to start again (its checkpoint, metrics and "
                              "weights are replaced)")  # fmt: skip
        if found and self.launch.is_main:
            for name in found:
                target = self.out / name.rstrip("/")
                if name.endswith("/") and not target.is_symlink():
                    shutil.rmtree(target)
                else:
                    target.unlink(missing_ok=True)
            with suppress(OSError):
                self.checkpoint_path.parent.rmdir()  # only if nothing else is in it
        if self.launch.enabled and dist.is_initialized():
            dist.barrier()
        return self.load() if resume else False

    # ------------------------------------------------------------------ checkpoints

    def state(self) -> dict[str, Any]:
        rng: dict[str, Any] = {"cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "format": CHECKPOINT_FORMAT,
            "iteration": self.iteration,
            "config": self.config_dict(),
            "state": {name: obj.state_dict() for name, obj in self.components().items()},
            "rng": rng,
            "meta": {"world_size": self.launch.world_size, **self.meta()},
        }

    def save(self) -> None:
        if self.launch.is_main:
            buf = io.BytesIO()
            torch.save(self.state(), buf)
            atomic_write_bytes(self.checkpoint_path, buf.getvalue())
        if self.launch.enabled:
            dist.barrier()

    def load(self) -> bool:
        """Restore the run from its checkpoint; False (and iteration 0) when there is none yet."""
        path = self.checkpoint_path
        if not path.is_file():
            log.info("no checkpoint in %s: starting from iteration 0", path.parent)
            return False
        st = read_checkpoint(path)
        self.check_resumable(st["config"], st["meta"])
        for name, obj in self.components().items():
            if name in st["state"]:
                obj.load_state_dict(st["state"][name])
        if "cpu" in st["rng"]:
            torch.set_rng_state(st["rng"]["cpu"])
        if self.device.type == "cuda" and "cuda" in st["rng"]:
            torch.cuda.set_rng_state(st["rng"]["cuda"], self.device)
        self.iteration = int(st["iteration"])
        self.restore_meta(st["meta"])
        if self.launch.is_main:
            trim_metrics(self.out / "metrics.jsonl", self.iteration)
        saved_world = int(st["meta"].get("world_size", 1))
        if saved_world != self.launch.world_size:
            log.info("resuming a %d-process run with %d process(es)", saved_world, self.launch.world_size)
        log.info("resumed from %s at iteration %d", path, self.iteration)
        return True

    # ------------------------------------------------------------------ the loop

    def log(self, record: dict[str, Any]) -> None:
        if not self.launch.is_main:
            return
        with open(self.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for k, v in record.items():
                if isinstance(v, float | int) and k not in ("iteration", "time"):
                    self.writer.add_scalar(k, v, record["iteration"])

    def _stop_requested(self, flag: StopFlag) -> bool:
        if not self.launch.enabled:
            return flag.set
        t = torch.tensor([1.0 if flag.set else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def _close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def run(self) -> dict[str, Any]:
        """Iterate up to ``total``; returns :meth:`finish`'s result."""
        self.out.mkdir(parents=True, exist_ok=True)
        if self.launch.is_main:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.out / "tb"))
            atomic_write_bytes(self.out / "config.json", json.dumps(self.config_dict(), indent=2).encode())
        tick = report(self.progress if self.launch.is_main else None)
        shown: dict[str, str] = {}
        t0, it0 = time.perf_counter(), self.iteration
        try:
            with StopFlag() as stop:
                for batch in self.batches() if self.iteration < self.total else ():
                    logs = self.step(batch)
                    self.iteration += 1
                    if self.iteration % self.log_every == 0 or self.iteration == self.total:
                        if not all(math.isfinite(v) for v in logs.values()):
                            raise SrganError(f"non-finite loss at iteration {self.iteration}: {logs}")
                        rate = (self.iteration - it0) / max(1e-9, time.perf_counter() - t0)
                        shown = {k: f"{v:.4g}" for k, v in logs.items() if k != "lr"}
                        self.log({"iteration": self.iteration, "time": time.time(), "it_per_s": rate, **logs})
                    tick(self.iteration, self.total, **shown)
                    if self.launch.is_main:
                        self.after_step()
                    if self.iteration % self.checkpoint_every == 0 or self.iteration == self.total:
                        self.save()
                    if self._stop_requested(stop):
                        self.save()
                        raise Interrupted(f"stopped at iteration {self.iteration}; checkpoint saved in "
                                          f"{self.checkpoint_path.parent}, continue with --resume")  # fmt: skip
                    if self.iteration >= self.total:
                        break
            if self.iteration < self.total:
                raise SrganError(f"data ran out at iteration {self.iteration}")  # pragma: no cover
            return self.finish()
        finally:
            self._close()
