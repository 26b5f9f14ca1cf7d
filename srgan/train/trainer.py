"""The trainer: psnr stage (pixel loss) and gan stage (pixel + perceptual + adversarial).

One process or many (``torchrun``: DDP, NCCL on GPUs, gloo on CPU). Rank 0 alone logs,
validates and writes checkpoints. A checkpoint carries everything an exact resume needs:
G, D, EMA, optimizers, schedulers, grad scaler, RNG states, iteration and config. Data is
indexed by iteration (see :mod:`srgan.data`), so a resumed run continues with exactly the
batches an uninterrupted one would have seen, with any number of processes.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import math
import shutil
import time
from collections.abc import Callable
from contextlib import nullcontext, suppress
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader

from srgan.archs import build_discriminator, build_generator
from srgan.data import PairedFolder, PatchDataset, SampleSampler, load_hr_images
from srgan.data.degrade import DegradationConfig
from srgan.data.tensors import array_to_tensor, tensor_to_array
from srgan.device import Launch, resolve_device
from srgan.errors import ConfigError, Interrupted, ModelError, SrganError
from srgan.fsutil import atomic_write_bytes
from srgan.losses import PIXEL_LOSSES, AdversarialLoss, PerceptualLoss
from srgan.metrics.protocol import score_pair
from srgan.progress import Progress, report
from srgan.signals import StopFlag
from srgan.train.config import Config
from srgan.train.ema import ema_update
from srgan.weights import load_torch_file, save_generator, shipped_model_path

__all__ = ["Trainer", "TrainingInterrupted", "train"]

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "latest.pt"


TrainingInterrupted = Interrupted  # SIGINT/SIGTERM stopped training after a checkpoint was written


def init_distributed(device_pref: str, launch: Launch) -> torch.device:
    """Pick this rank's device and join the process group of a multi-process launch."""
    if device_pref.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"train.device {device_pref}: CUDA is not available")
    device = resolve_device("cpu" if device_pref == "auto" and not torch.cuda.is_available() else device_pref,
                            launch)  # fmt: skip
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if launch.enabled and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device


def lr_lambda(cfg: Config) -> Callable[[int], float]:
    """Multiplier of the base LR at a step: linear warm-up, then cosine, multistep or constant."""
    t = cfg.train

    def f(step: int) -> float:
        if t.warmup and step < t.warmup:
            return (step + 1) / t.warmup
        if t.scheduler == "cosine":
            span = max(1, t.iterations - t.warmup)
            progress = min(1.0, (step - t.warmup) / span)
            floor = t.min_lr / t.lr
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
        if t.scheduler == "multistep":
            return t.gamma ** sum(step >= m for m in t.milestones)
        return 1.0

    return f


def _unwrap(m: nn.Module) -> nn.Module:
    return m.module if isinstance(m, DDP) else m


#: What a training run writes into its folder; ``--overwrite`` removes these and nothing else.
RUN_FILES = ("checkpoints/latest.pt", "final.safetensors", "metrics.jsonl", "config.json")
RUN_FOLDERS = ("tb",)


def existing_run_files(out: Path) -> list[str]:
    """The files and folders of an earlier run found in ``out``."""
    return [n for n in RUN_FILES if (out / n).is_file()] + [f"{n}/" for n in RUN_FOLDERS if (out / n).is_dir()]


def remove_run_files(out: Path) -> None:
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)
    for name in RUN_FOLDERS:
        if (out / name).is_dir() and not (out / name).is_symlink():
            shutil.rmtree(out / name)
    with suppress(OSError):
        (out / "checkpoints").rmdir()  # only if nothing else is in it


def _trim_metrics(path: Path, upto: int) -> None:
    """Drop metric records past ``upto``: a resumed run logs those iterations again."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if int(json.loads(line).get("iteration", 0)) <= upto:
                kept.append(line)
        except (ValueError, AttributeError):
            continue  # a torn last line from a hard kill
    atomic_write_bytes(path, "".join(f"{ln}\n" for ln in kept).encode())


class Trainer:
    """Builds models, data and optimizers from a :class:`Config` and runs the loop."""

    def __init__(self, cfg: Config, output: str | Path, *, resume: bool = False, progress: Progress | None = None,
                 overwrite: bool = False, launch: Launch | None = None) -> None:  # fmt: skip
        self.cfg = cfg
        self.out = Path(output)
        self.progress = progress
        if resume and overwrite:
            raise ConfigError("--resume and --overwrite exclude each other")
        if not resume:
            found = existing_run_files(self.out)
            if found and not overwrite:
                raise ConfigError(f"{self.out}: already holds a training run ({', '.join(found)}); continue it with "
                                  "--resume, or pass --overwrite to start again (its checkpoint, metrics and "
                                  "weights are replaced)")  # fmt: skip
        self.dist = launch or Launch()
        self.device = init_distributed(cfg.train.device, self.dist)
        if overwrite and self.dist.is_main:
            remove_run_files(self.out)
        if self.dist.enabled:
            dist.barrier()
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        t = cfg.train
        self.amp_dtype: torch.dtype | None = None
        if t.amp != "none":
            if self.device.type != "cuda":
                log.warning("train.amp=%s needs CUDA; training in fp32 on %s", t.amp, self.device)
            else:
                self.amp_dtype = torch.bfloat16 if t.amp == "bf16" else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)

        torch.manual_seed(t.seed)  # identical initial weights on every rank
        g = build_generator(cfg.model.arch, **cfg.model.hparams()).to(self.device)
        self.ema: nn.Module | None = None
        if t.ema_decay > 0:
            self.ema = copy.deepcopy(g).eval()
            for p in self.ema.parameters():
                p.requires_grad_(False)
        self.d: nn.Module | None = None
        self.opt_d: torch.optim.Optimizer | None = None
        self.sched_d: torch.optim.lr_scheduler.LambdaLR | None = None
        self.perceptual: nn.Module | None = None
        self.adversarial: AdversarialLoss | None = None
        lo = cfg.loss
        self.pixel = PIXEL_LOSSES[lo.pixel](weight=lo.pixel_weight).to(self.device)
        if t.stage == "gan":
            d = self._build_discriminator().to(self.device)
            self.adversarial = AdversarialLoss(kind=lo.adversarial, weight=lo.adversarial_weight)
            self.d = DDP(d) if self.dist.enabled else d
        if lo.perceptual:
            self.perceptual = PerceptualLoss(
                backbone=lo.perceptual,
                layers=lo.perceptual_layers or None,
                weight=lo.perceptual_weight,
                weights_path=lo.perceptual_weights_path or None,
                allow_download=lo.allow_download,
            ).to(self.device)
        self.g = DDP(g) if self.dist.enabled else g
        self.opt_g = self._optimizer(self.g.parameters(), t.lr)
        self.sched_g = torch.optim.lr_scheduler.LambdaLR(self.opt_g, lr_lambda(cfg))
        if self.d is not None:
            self.opt_d = self._optimizer(self.d.parameters(), cfg.disc.lr)
            self.sched_d = torch.optim.lr_scheduler.LambdaLR(self.opt_d, lr_lambda(cfg))
        self.iteration = 0
        self.val_metrics: dict[str, float] = {}
        resumed = resume and self._load_checkpoint()
        if not resumed and t.stage == "gan":
            if not t.init_from:
                raise ConfigError("train.stage=gan needs train.init_from (a psnr-stage checkpoint or .safetensors)")
            self._init_from(t.init_from)

        images = load_hr_images(
            cfg.data.train_dirs, scale=cfg.model.scale, min_size=cfg.data.patch_size,
            skip_small=cfg.data.small_images == "skip",
        )  # fmt: skip
        self.n_train_images = len(images)
        degradation = DegradationConfig() if cfg.data.degradation == "blind" else None
        self.dataset = PatchDataset(
            images, scale=cfg.model.scale, patch_size=cfg.data.patch_size, seed=t.seed,
            augment=cfg.data.augment, degradation=degradation,
        )  # fmt: skip
        self.val_pairs = (
            PairedFolder(Path(cfg.val.dir), cfg.model.scale, cfg.val.max_images).load()
            if cfg.val.dir and self.dist.is_main
            else []
        )
        self.writer: Any = None

    # ------------------------------------------------------------------ building

    def _optimizer(self, params: Any, lr: float) -> torch.optim.Optimizer:
        t = self.cfg.train
        cls = torch.optim.AdamW if t.optimizer == "adamw" else torch.optim.Adam
        return cls(params, lr=lr, betas=(t.betas[0], t.betas[1]), weight_decay=t.weight_decay)

    def _build_discriminator(self) -> nn.Module:
        dc = self.cfg.disc
        if dc.arch == "vgg":
            return build_discriminator(
                "vgg",
                num_feat=dc.num_feat,
                input_size=self.cfg.data.patch_size,
                spectral_norm=dc.spectral_norm,
            )
        return build_discriminator(
            "patchgan", num_feat=dc.num_feat, num_layers=dc.num_layers, spectral_norm=dc.spectral_norm
        )

    def _init_from(self, path: str) -> None:
        """Start the gan stage from psnr-stage weights (EMA weights when the checkpoint has them)."""
        p = Path(path)
        if not p.is_file() and not p.suffix:
            p = shipped_model_path(path) or p
        if not p.is_file():
            raise ConfigError(f"train.init_from: {p} is neither a file nor a shipped model name")
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(p))
        else:
            ckpt = load_torch_file(p, "checkpoint")
            if not isinstance(ckpt, dict) or not isinstance(ckpt.get("ema") or ckpt.get("g"), dict):
                raise ModelError(f"train.init_from {p}: not an srgan training checkpoint (no generator weights)")
            state = ckpt.get("ema") or ckpt["g"]
        try:
            _unwrap(self.g).load_state_dict(state)
        except RuntimeError as exc:
            raise ModelError(f"train.init_from {p}: weights do not fit the configured generator: {exc}") from exc
        if self.ema is not None:
            self.ema.load_state_dict(state)
        log.info("gan stage initialised from %s", p)

    # ------------------------------------------------------------------ checkpoints

    @property
    def checkpoint_path(self) -> Path:
        return self.out / "checkpoints" / CHECKPOINT_NAME

    def _state(self) -> dict[str, Any]:
        st: dict[str, Any] = {
            "iteration": self.iteration,
            "config": self.cfg.to_dict(),
            "world_size": self.dist.world_size,
            "g": _unwrap(self.g).state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "sched_g": self.sched_g.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng_cpu": torch.get_rng_state(),
            "val_metrics": dict(self.val_metrics),
        }
        if self.device.type == "cuda":
            st["rng_cuda"] = torch.cuda.get_rng_state(self.device)
        if self.ema is not None:
            st["ema"] = self.ema.state_dict()
        if self.d is not None:
            assert self.opt_d is not None and self.sched_d is not None
            st.update(
                d=_unwrap(self.d).state_dict(),
                opt_d=self.opt_d.state_dict(),
                sched_d=self.sched_d.state_dict(),
            )
        return st

    def save_checkpoint(self) -> None:
        if self.dist.is_main:
            buf = io.BytesIO()
            torch.save(self._state(), buf)
            atomic_write_bytes(self.checkpoint_path, buf.getvalue())
        if self.dist.enabled:
            dist.barrier()

    def _load_checkpoint(self) -> bool:
        path = self.checkpoint_path
        if not path.is_file():
            log.info("no checkpoint in %s: starting from iteration 0", path.parent)
            return False
        st = load_torch_file(path, "checkpoint")
        if st["config"]["model"] != self.cfg.to_dict()["model"]:
            raise ConfigError(f"{path}: the checkpoint's [model] section differs from the config; cannot resume")
        if st["config"]["train"]["stage"] != self.cfg.train.stage:
            raise ConfigError(f"{path}: checkpoint is from the {st['config']['train']['stage']} stage")
        _unwrap(self.g).load_state_dict(st["g"])
        self.opt_g.load_state_dict(st["opt_g"])
        self.sched_g.load_state_dict(st["sched_g"])
        self.scaler.load_state_dict(st["scaler"])
        if self.ema is not None and "ema" in st:
            self.ema.load_state_dict(st["ema"])
        if self.d is not None:
            assert self.opt_d is not None and self.sched_d is not None
            _unwrap(self.d).load_state_dict(st["d"])
            self.opt_d.load_state_dict(st["opt_d"])
            self.sched_d.load_state_dict(st["sched_d"])
        torch.set_rng_state(st["rng_cpu"])
        if self.device.type == "cuda" and "rng_cuda" in st:
            torch.cuda.set_rng_state(st["rng_cuda"], self.device)
        self.iteration = int(st["iteration"])
        if self.dist.is_main:
            _trim_metrics(self.out / "metrics.jsonl", self.iteration)
        self.val_metrics = dict(st.get("val_metrics", {}))
        if st.get("world_size", 1) != self.dist.world_size:
            log.info("resuming a %d-process run with %d process(es)", st.get("world_size", 1), self.dist.world_size)
        log.info("resumed from %s at iteration %d", path, self.iteration)
        return True

    # ------------------------------------------------------------------ steps

    def _autocast(self) -> Any:
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast("cuda", dtype=self.amp_dtype)

    def _update_ema(self) -> None:
        if self.ema is None:
            return
        ema_update(self.ema, _unwrap(self.g), self.cfg.train.ema_decay)

    def _step_opt(self, loss: torch.Tensor, opt: torch.optim.Optimizer, params: Any) -> None:
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.cfg.train.grad_clip > 0:
            self.scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(params, self.cfg.train.grad_clip)
        self.scaler.step(opt)

    def train_step(self, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, float]:
        """One iteration: a G step (and a D step in the gan stage)."""
        logs: dict[str, float] = {}
        with self._autocast():
            sr = self.g(lr)
            l_pix = self.pixel(sr.float(), hr)
            loss_g = l_pix
            logs["l_pix"] = float(l_pix.detach())
            if self.perceptual is not None:
                l_per = self.perceptual(sr.float(), hr)
                loss_g = loss_g + l_per
                logs["l_percep"] = float(l_per.detach())
            if self.d is not None:
                assert self.adversarial is not None
                # The G step needs D's gradient w.r.t. its input only: use the bare module,
                # with D's parameters frozen, so DDP does not wait for D gradients here.
                d_raw = _unwrap(self.d)
                for p in d_raw.parameters():
                    p.requires_grad_(False)
                logits = d_raw(torch.cat([hr, sr])).float()
                real_l, fake_l = logits.chunk(2)
                l_adv = self.adversarial.generator(fake_l, real_l)
                loss_g = loss_g + l_adv
                logs["l_adv"] = float(l_adv.detach())
        self._step_opt(loss_g, self.opt_g, self.g.parameters())
        if self.d is not None:
            assert self.adversarial is not None and self.opt_d is not None
            for p in _unwrap(self.d).parameters():
                p.requires_grad_(True)
            with self._autocast():
                logits = self.d(torch.cat([hr, sr.detach()])).float()
                real_l, fake_l = logits.chunk(2)
                loss_d = self.adversarial.discriminator(real_l, fake_l)
            self._step_opt(loss_d, self.opt_d, self.d.parameters())
            logs["l_d"] = float(loss_d.detach())
            logs["d_real"] = float(real_l.detach().mean())
            logs["d_fake"] = float(fake_l.detach().mean())
        self.scaler.update()
        self.sched_g.step()
        if self.sched_d is not None:
            self.sched_d.step()
        self._update_ema()
        logs["lr"] = self.opt_g.param_groups[0]["lr"]
        return logs

    # ------------------------------------------------------------------ validation

    @torch.inference_mode()
    def validate(self) -> dict[str, float]:
        model = self.ema if self.ema is not None else _unwrap(self.g)
        was_training = model.training
        model.eval()
        ps, ss = [], []
        for i, (_name, lr, hr) in enumerate(self.val_pairs):
            x = array_to_tensor(lr)[None].to(self.device)
            sr = tensor_to_array(model(x)[0])
            p, s = score_pair(sr, hr, scale=self.cfg.model.scale, protocol="basicsr")
            ps.append(p)
            ss.append(s)
            if i == 0 and self.writer is not None:
                self.writer.add_image("val/sample", torch.from_numpy(sr.transpose(2, 0, 1)), self.iteration)
        model.train(was_training)
        self.val_metrics = {"psnr_y": float(np.mean(ps)), "ssim_y": float(np.mean(ss))} if ps else {}
        return self.val_metrics

    # ------------------------------------------------------------------ loop

    def _log(self, record: dict[str, Any]) -> None:
        if not self.dist.is_main:
            return
        with open(self.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for k, v in record.items():
                if isinstance(v, float | int) and k not in ("iteration", "time"):
                    self.writer.add_scalar(k, v, record["iteration"])

    def _stop_requested(self, flag: StopFlag) -> bool:
        if not self.dist.enabled:
            return flag.set
        t = torch.tensor([1.0 if flag.set else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def run(self) -> dict[str, Any]:
        cfg, t = self.cfg, self.cfg.train
        self.out.mkdir(parents=True, exist_ok=True)
        if self.dist.is_main:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.out / "tb"))
            (self.out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        per_rank = cfg.data.batch_size // self.dist.world_size
        sampler = SampleSampler(
            global_batch=cfg.data.batch_size, start=self.iteration, end=t.iterations,
            rank=self.dist.rank, world_size=self.dist.world_size,
        )  # fmt: skip
        loader = DataLoader(
            self.dataset, batch_size=per_rank, sampler=sampler, num_workers=cfg.data.num_workers,
            pin_memory=self.device.type == "cuda", persistent_workers=False,
        )  # fmt: skip
        self.g.train()
        tick = report(self.progress if self.dist.is_main else None)
        shown: dict[str, str] = {}
        t0, it0 = time.perf_counter(), self.iteration
        with StopFlag() as stop:
            for lr, hr in loader:
                lr = lr.to(self.device, non_blocking=True)
                hr = hr.to(self.device, non_blocking=True)
                logs = self.train_step(lr, hr)
                self.iteration += 1
                tick(self.iteration, t.iterations, **shown)
                if self.iteration % t.log_every == 0 or self.iteration == t.iterations:
                    if not all(math.isfinite(v) for v in logs.values()):
                        raise SrganError(f"non-finite loss at iteration {self.iteration}: {logs}")
                    rate = (self.iteration - it0) / max(1e-9, time.perf_counter() - t0)
                    shown = {k: f"{v:.4g}" for k, v in logs.items() if k != "lr"}
                    self._log({"iteration": self.iteration, "time": time.time(), "it_per_s": rate, **logs})
                if (
                    self.dist.is_main
                    and self.val_pairs
                    and (self.iteration % cfg.val.every == 0 or self.iteration == t.iterations)
                ):
                    m = self.validate()
                    self._log(
                        {
                            "iteration": self.iteration,
                            "time": time.time(),
                            **{f"val_{k}": v for k, v in m.items()},
                        }
                    )
                    log.info(
                        "iteration %d: validation PSNR-Y %.3f dB, SSIM-Y %.4f",
                        self.iteration,
                        m["psnr_y"],
                        m["ssim_y"],
                    )
                if self.iteration % t.checkpoint_every == 0 or self.iteration == t.iterations:
                    self.save_checkpoint()
                if self._stop_requested(stop):
                    self.save_checkpoint()
                    if self.writer is not None:
                        self.writer.close()
                    raise TrainingInterrupted(
                        f"stopped at iteration {self.iteration}; checkpoint saved in {self.checkpoint_path.parent}, "
                        "continue with --resume"
                    )
        if self.iteration < t.iterations:
            raise SrganError(f"data ran out at iteration {self.iteration}")  # pragma: no cover
        result: dict[str, Any] = {"iteration": self.iteration, "val": self.val_metrics}
        if self.dist.is_main:
            result["weights"] = str(self.export(self.out / "final.safetensors"))
            if self.writer is not None:
                self.writer.close()
        if self.dist.enabled:
            dist.barrier()
        return result

    def export(self, path: Path) -> Path:
        """Write the generator (EMA weights when kept) as .safetensors with training metadata."""
        model = self.ema if self.ema is not None else _unwrap(self.g)
        meta = {
            "scale": self.cfg.model.scale,
            "stage": self.cfg.train.stage,
            "iterations": self.iteration,
            "training_data": [Path(d).name for d in self.cfg.data.train_dirs],
            "training_images": self.n_train_images,
            "validation": {
                "dir": Path(self.cfg.val.dir).name if self.cfg.val.dir else "",
                **self.val_metrics,
            },
            "parameters": sum(p.numel() for p in model.parameters()),
            "weights": "ema" if self.ema is not None else "raw",
            "config": self.cfg.to_dict(),
        }
        save_generator(path, model, meta)
        return path


def train(cfg: Config, output: str | Path, *, resume: bool = False, progress: Progress | None = None,
          overwrite: bool = False, launch: Launch | None = None) -> dict[str, Any]:  # fmt: skip
    """Run a training job; see :class:`Trainer`. An existing run needs ``resume`` or ``overwrite``.

    ``launch`` places this process in a torchrun launch (the CLI reads it from the environment).
    """
    trainer = Trainer(cfg, output, resume=resume, progress=progress, overwrite=overwrite, launch=launch)
    try:
        return trainer.run()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
