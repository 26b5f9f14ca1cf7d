"""The SR trainer: psnr stage (pixel loss) and gan stage (pixel + perceptual + adversarial).

One process or many (``torchrun``: DDP, NCCL on GPUs, gloo on CPU). Rank 0 alone logs,
validates and writes checkpoints. The loop, checkpoints (G, D, EMA, optimizers, schedulers,
grad scaler, RNG states, iteration, config), logs and stop handling are
:class:`~srgan.train.loop.TrainLoop`'s, shared with the augmenter's GAN. Data is indexed by
iteration (see :mod:`srgan.data`), so a resumed run continues with exactly the batches an
uninterrupted one would have seen, with any number of processes.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader

from srgan.archs import build_discriminator, build_generator
from srgan.data import PairedFolder, PatchDataset, SampleSampler, load_hr_images
from srgan.data.tensors import array_to_tensor, tensor_to_array
from srgan.device import Launch, resolve_device
from srgan.errors import ConfigError, Interrupted, ModelError
from srgan.losses import PIXEL_LOSSES, AdversarialLoss, ArtifactLoss, GridLoss, LowPassLoss, PerceptualLoss
from srgan.losses.adversarial import random_shift
from srgan.metrics.protocol import score_pair
from srgan.progress import Progress
from srgan.train.config import Config, lr_lambda
from srgan.train.ema import ema_update
from srgan.train.loop import TrainLoop, read_checkpoint
from srgan.weights import save_generator, shipped_model_path

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


def _unwrap(m: nn.Module) -> nn.Module:
    return m.module if isinstance(m, DDP) else m


def _fitting_tensors(own: dict[str, Tensor], given: dict[str, Tensor], src: Path) -> dict[str, Tensor]:
    """``own`` with every tensor of ``given`` that matches it by name and shape (train.init_strict = false)."""
    fit = {k: v for k, v in given.items() if k in own and own[k].shape == v.shape}
    if not fit:
        raise ModelError(f"train.init_from {src}: no tensor fits the configured generator (names or shapes differ)")
    kept = sorted(k for k in own if k not in fit)
    log.info("init_from %s: %d of %d tensors loaded; kept as initialised: %s", src, len(fit), len(own),
             ", ".join(kept) or "none")  # fmt: skip
    return {**own, **fit}


class Trainer(TrainLoop):
    """Builds models, data and optimizers from a :class:`Config`; :class:`TrainLoop` runs them."""

    run_files = ("final.safetensors", "metrics.jsonl", "config.json")

    def __init__(self, cfg: Config, output: str | Path, *, resume: bool = False, progress: Progress | None = None,
                 overwrite: bool = False, launch: Launch | None = None) -> None:  # fmt: skip
        self.cfg = cfg
        launch = launch or Launch()
        out = Path(output)
        super().__init__(out, out / "checkpoints" / CHECKPOINT_NAME, launch=launch,
                         device=init_distributed(cfg.train.device, launch), progress=progress)  # fmt: skip
        t = cfg.train
        self.total, self.log_every, self.checkpoint_every = t.iterations, t.log_every, t.checkpoint_every
        if t.threads:
            torch.set_num_threads(t.threads)
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
            self.d = DDP(d) if self.launch.enabled else d
        # Further terms on (output, target), each logged under its key.
        self.pair_losses: dict[str, nn.Module] = {}
        if lo.grid_weight > 0:
            self.pair_losses["l_grid"] = GridLoss(period=cfg.model.scale, weight=lo.grid_weight)
        if lo.lowpass_weight > 0:
            self.pair_losses["l_lowpass"] = LowPassLoss(weight=lo.lowpass_weight, sigma=lo.lowpass_sigma)
        self.artifact = ArtifactLoss(weight=lo.artifact_weight) if lo.artifact_weight > 0 else None
        if lo.perceptual:
            self.perceptual = PerceptualLoss(
                backbone=lo.perceptual,
                layers=lo.perceptual_layers or None,
                weight=lo.perceptual_weight,
                weights_path=lo.perceptual_weights_path or None,
                allow_download=lo.allow_download,
            ).to(self.device)
        self.g = DDP(g) if self.launch.enabled else g
        self.opt_g = self._optimizer(self.g.parameters(), t.lr)
        self.sched_g = torch.optim.lr_scheduler.LambdaLR(self.opt_g, lr_lambda(cfg.train))
        if self.d is not None:
            self.opt_d = self._optimizer(self.d.parameters(), cfg.disc.lr)
            self.sched_d = torch.optim.lr_scheduler.LambdaLR(self.opt_d, lr_lambda(cfg.train))
        self.val_metrics: dict[str, float] = {}
        resumed = self.prepare(resume=resume, overwrite=overwrite)
        if not resumed and t.stage == "gan" and not t.init_from:
            raise ConfigError("train.stage=gan needs train.init_from (a psnr-stage checkpoint or .safetensors)")
        if not resumed and t.init_from:  # the gan stage, or a psnr stage fine-tuned from another model
            self._init_from(t.init_from)

        images = load_hr_images(
            cfg.data.train_dirs, scale=cfg.model.scale, min_size=cfg.data.patch_size,
            skip_small=cfg.data.small_images == "skip", exclude=cfg.data.excluded_paths(),
        )  # fmt: skip
        self.n_train_images = len(images)
        degradation = cfg.data.degradation_config()
        self.dataset = PatchDataset(
            images, scale=cfg.model.scale, patch_size=cfg.data.patch_size, seed=t.seed,
            augment=cfg.data.augment, degradation=degradation,
        )  # fmt: skip
        self.val_pairs = (
            PairedFolder(Path(cfg.val.dir), cfg.model.scale, cfg.val.max_images).load()
            if cfg.val.dir and self.launch.is_main
            else []
        )

    # ------------------------------------------------------------------ building

    def _optimizer(self, params: Any, lr: float) -> torch.optim.Optimizer:
        t = self.cfg.train
        cls = torch.optim.AdamW if t.optimizer == "adamw" else torch.optim.Adam
        return cls(params, lr=lr, betas=(t.betas[0], t.betas[1]), weight_decay=t.weight_decay)

    def _build_discriminator(self) -> nn.Module:
        dc = self.cfg.disc
        if dc.arch == "unet":
            return build_discriminator("unet", num_feat=dc.num_feat, spectral_norm=dc.spectral_norm,
                                       antialias=dc.antialias)  # fmt: skip
        if dc.arch == "vgg":
            return build_discriminator(
                "vgg",
                num_feat=dc.num_feat,
                input_size=self.cfg.data.patch_size,
                spectral_norm=dc.spectral_norm,
            )
        return build_discriminator("patchgan", num_feat=dc.num_feat, num_layers=dc.num_layers,
                                   spectral_norm=dc.spectral_norm, antialias=dc.antialias)  # fmt: skip

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
            parts = read_checkpoint(p)["state"]
            state = parts.get("ema") or parts.get("g")
            if not isinstance(state, dict):
                raise ModelError(f"train.init_from {p}: not an srgan training checkpoint (no generator weights)")
        g = _unwrap(self.g)
        if not self.cfg.train.init_strict:
            state = _fitting_tensors(g.state_dict(), state, p)
        try:
            g.load_state_dict(state)
        except RuntimeError as exc:
            raise ModelError(f"train.init_from {p}: weights do not fit the configured generator: {exc}") from exc
        if self.ema is not None:
            self.ema.load_state_dict(g.state_dict())
        log.info("generator initialised from %s", p)

    # ------------------------------------------------------------------ state

    def components(self) -> dict[str, Any]:
        parts: dict[str, Any] = {"g": _unwrap(self.g), "opt_g": self.opt_g, "sched_g": self.sched_g,
                                 "scaler": self.scaler}  # fmt: skip
        if self.ema is not None:
            parts["ema"] = self.ema
        if self.d is not None:
            parts.update(d=_unwrap(self.d), opt_d=self.opt_d, sched_d=self.sched_d)
        return parts

    def config_dict(self) -> dict[str, Any]:
        return self.cfg.to_dict()

    def check_resumable(self, saved_config: dict[str, Any], meta: dict[str, Any]) -> None:
        path = self.checkpoint_path
        if saved_config["model"] != self.cfg.to_dict()["model"]:
            raise ConfigError(f"{path}: the checkpoint's [model] section differs from the config; cannot resume")
        if saved_config["train"]["stage"] != self.cfg.train.stage:
            raise ConfigError(f"{path}: checkpoint is from the {saved_config['train']['stage']} stage")

    def meta(self) -> dict[str, Any]:
        return {"val_metrics": dict(self.val_metrics)}

    def restore_meta(self, meta: dict[str, Any]) -> None:
        self.val_metrics = dict(meta.get("val_metrics", {}))

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

    def _window(self, x: torch.Tensor, shift: int, stream: int) -> torch.Tensor:
        """``x`` cropped by ``shift`` px at this iteration's offset for ``stream`` (seeded: resume stays exact)."""
        rng = np.random.default_rng([self.cfg.train.seed, self.iteration, stream])
        return random_shift(x, shift, (int(rng.integers(shift + 1)), int(rng.integers(shift + 1))))

    def train_step(self, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, float]:
        """One iteration: a G step (and a D step in the gan stage)."""
        logs: dict[str, float] = {}
        with self._autocast():
            sr = self.g(lr)
            l_pix = self.pixel(sr.float(), hr)
            loss_g = l_pix
            logs["l_pix"] = float(l_pix.detach())
            for key, term in self.pair_losses.items():
                l_term = term(sr.float(), hr)
                loss_g = loss_g + l_term
                logs[key] = float(l_term.detach())
            if self.artifact is not None:
                assert self.ema is not None  # the config requires it
                with torch.no_grad():
                    sr_ema = self.ema(lr).float()
                l_art = self.artifact(sr.float(), hr, sr_ema)
                loss_g = loss_g + l_art
                logs["l_artifact"] = float(l_art.detach())
            if self.perceptual is not None:
                sp = self.cfg.loss.perceptual_shift  # both through one window: the pair stays aligned
                pair = self._window(torch.stack([sr.float(), hr]), sp, 1).unbind(0) if sp else (sr.float(), hr)
                l_per = self.perceptual(*pair)
                loss_g = loss_g + l_per
                logs["l_percep"] = float(l_per.detach())
            if self.d is not None:
                assert self.adversarial is not None
                # The G step needs D's gradient w.r.t. its input only: use the bare module,
                # with D's parameters frozen, so DDP does not wait for D gradients here.
                d_raw = _unwrap(self.d)
                for p in d_raw.parameters():
                    p.requires_grad_(False)
                logits = d_raw(self._window(torch.cat([hr, sr]), self.cfg.disc.shift, 0)).float()
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
                logits = self.d(self._window(torch.cat([hr, sr.detach()]), self.cfg.disc.shift, 0)).float()
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

    def batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        cfg = self.cfg
        sampler = SampleSampler(
            global_batch=cfg.data.batch_size, start=self.iteration, end=self.total,
            rank=self.launch.rank, world_size=self.launch.world_size,
        )  # fmt: skip
        loader = DataLoader(
            self.dataset, batch_size=cfg.data.batch_size // self.launch.world_size, sampler=sampler,
            num_workers=cfg.data.num_workers, pin_memory=self.device.type == "cuda", persistent_workers=False,
        )  # fmt: skip
        self.g.train()
        for lr, hr in loader:
            yield lr.to(self.device, non_blocking=True), hr.to(self.device, non_blocking=True)

    def step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, float]:
        return self.train_step(*batch)

    def after_step(self) -> None:
        cfg = self.cfg
        if self.val_pairs and (self.iteration % cfg.val.every == 0 or self.iteration == self.total):
            m = self.validate()
            self.log({"iteration": self.iteration, "time": time.time(), **{f"val_{k}": v for k, v in m.items()}})
            log.info("iteration %d: validation PSNR-Y %.3f dB, SSIM-Y %.4f", self.iteration, m["psnr_y"], m["ssim_y"])

    def finish(self) -> dict[str, Any]:
        result: dict[str, Any] = {"iteration": self.iteration, "val": self.val_metrics}
        if self.launch.is_main:
            result["weights"] = str(self.export(self.out / "final.safetensors"))
        if self.launch.enabled:
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
