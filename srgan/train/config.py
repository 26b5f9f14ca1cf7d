"""Training configuration: TOML files (the shipped recipes are in ``srgan/configs/``) mapped onto typed dataclasses.

Unknown keys, wrong types and impossible values are refused with one clear line
(:class:`~srgan.errors.ConfigError`) before any training starts. ``--set key=value``
overrides use dotted keys (``train.lr=1e-4``); values are parsed as TOML literals.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from srgan.archs.generator import SRResNetConfig
from srgan.data import select_images
from srgan.data.degrade import DegradationConfig, Stage
from srgan.errors import ConfigError, DataError

__all__ = ["Config", "load_config"]


@dataclass
class ModelConfig:
    """``[model]``: ``arch`` and the generator's hyperparameters, whose names, types and defaults are
    :class:`~srgan.archs.generator.SRResNetConfig`'s (written once, there)."""

    arch: str = "srresnet"
    generator: SRResNetConfig = field(default_factory=SRResNetConfig)

    @property
    def scale(self) -> int:
        return self.generator.scale

    def hparams(self) -> dict[str, Any]:
        return self.generator.to_dict()

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch, **self.hparams()}

    def apply(self, values: dict[str, Any]) -> None:
        """Set keys of the ``[model]`` table (type-checked; the generator validates its values)."""
        hints = typing.get_type_hints(SRResNetConfig)
        changes: dict[str, Any] = {}
        for key, value in values.items():
            if key == "arch":
                self.arch = _check_type(value, str, "model.arch")
            elif key in hints:
                changes[key] = _check_type(value, hints[key], f"model.{key}")
            else:
                raise ConfigError(f"unknown config key model.{key} (known in [model]: arch, {', '.join(hints)})")
        try:
            self.generator = dataclasses.replace(self.generator, **changes)
        except ValueError as exc:
            raise ConfigError(f"model.{exc}") from None


@dataclass
class DataConfig:
    train_dirs: list[str] = field(default_factory=list)
    patch_size: int = 128  # HR side
    batch_size: int = 16  # global, split across processes
    degradation: str = "bicubic"  # or "realesrgan": Real-ESRGAN's second-order model (srgan.data.degrade)
    # realesrgan only: the probability of the second degradation pass (Real-ESRGAN: 1; lower mixes in milder,
    # first-order samples)
    second_order_prob: float = 1.0
    # realesrgan only: fields of srgan.data.degrade.Stage that replace Real-ESRGAN's ranges in the first and the
    # second pass, e.g. [data.first_pass] noise_range = [1.0, 15.0]
    first_pass: dict[str, Any] = field(default_factory=dict)
    second_pass: dict[str, Any] = field(default_factory=dict)
    num_workers: int = 0
    augment: bool = True
    small_images: str = "error"  # images smaller than the patch: "error" or "skip" (with a warning)
    # images of train_dirs held out of training, e.g. a validation set chosen on: "FOLDER" or "FOLDER[::K]" (every
    # K-th image in path order, as benchmarks' BSD200[::10]); each must name at least one training image
    exclude: list[str] = field(default_factory=list)

    def excluded_paths(self) -> set[Path]:
        """The resolved paths ``exclude`` holds out of training; each spec must name at least one training image."""
        if not self.exclude:
            return set()
        training = {f.resolve() for d in self.train_dirs for f in select_images(d)}
        out: set[Path] = set()
        for spec in self.exclude:
            try:
                named = {f.resolve() for f in select_images(spec)}
            except DataError as exc:
                raise ConfigError(f"data.exclude: {exc}") from None
            if not named & training:
                raise ConfigError(f"data.exclude: none of the {len(named)} images of {spec} is in data.train_dirs")
            out |= named
        return out

    def degradation_config(self) -> DegradationConfig | None:
        """The degradation model the data section asks for; None for plain bicubic LR."""
        if self.degradation != "realesrgan":
            if self.second_order_prob != 1 or self.first_pass or self.second_pass:
                raise ConfigError(
                    "data.second_order_prob, data.first_pass and data.second_pass apply to "
                    'data.degradation = "realesrgan" only'
                )
            return None
        base = DegradationConfig()
        return dataclasses.replace(
            base,
            first=_stage(base.first, self.first_pass, "data.first_pass"),
            second=_stage(base.second, self.second_pass, "data.second_pass"),
            second_prob=self.second_order_prob,
        )


@dataclass
class ValConfig:
    dir: str = ""
    every: int = 1000
    max_images: int = 0


@dataclass
class LossConfig:
    pixel: str = "l1"
    pixel_weight: float = 1.0
    perceptual: str = ""  # "", "vgg19" or "squeezenet"
    perceptual_weight: float = 1.0
    perceptual_layers: dict[str, float] = field(default_factory=dict)
    perceptual_weights_path: str = ""
    allow_download: bool = False
    adversarial: str = "vanilla"
    adversarial_weight: float = 5e-3
    grid_weight: float = 0.0  # > 0: penalise the sub-pixel grid (checkerboard) of the output, see losses.grid
    # > 0: LDL's artifact loss (losses.artifact): L1 where the output's error is locally irregular and above the
    # EMA generator's (needs train.ema_decay > 0; LDL weights it 1.0)
    artifact_weight: float = 0.0
    # > 0: L1 between Gaussian-blurred (lowpass_sigma px) output and target (losses.lowpass): holds the low frequencies
    # to the target without pulling on texture (frequency separation)
    lowpass_weight: float = 0.0
    lowpass_sigma: float = 2.0
    # > 0: the perceptual loss sees output and target through one window at a random offset in [0, shift] px each
    # step, so its backbone's stride lattice holds no fixed phase against the generator's grid (as disc.shift)
    perceptual_shift: int = 0


@dataclass
class DiscConfig:
    arch: str = "patchgan"
    num_feat: int = 64
    num_layers: int = 3
    spectral_norm: bool = True
    antialias: bool = False  # blur-pool instead of strided convs (patchgan, unet): no periodic gradient
    shift: int = 0  # > 0: D sees its input cropped at a random offset in [0, shift] px each step (patchgan)
    lr: float = 1e-4


@dataclass
class TrainConfig:
    stage: str = "psnr"  # "psnr" (pixel loss only) or "gan"
    iterations: int = 10000
    lr: float = 2e-4
    optimizer: str = "adam"  # or "adamw"
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])
    weight_decay: float = 0.0
    scheduler: str = "cosine"  # "cosine", "multistep" or "constant"
    warmup: int = 0
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.5
    min_lr: float = 1e-7
    ema_decay: float = 0.999  # 0 disables the EMA generator
    amp: str = "none"  # "none", "bf16", "fp16": CUDA only
    grad_clip: float = 0.0
    seed: int = 0
    checkpoint_every: int = 500
    log_every: int = 50
    init_from: str = ""  # starting weights (shipped name, .safetensors, checkpoint); required by the gan stage
    # false: load only the tensors of init_from whose name and shape fit (BasicSR's strict_load_g), e.g. a
    # trained body under a new upsampler; the others keep their initialisation and are logged
    init_strict: bool = True
    threads: int = 0  # torch CPU threads; 0 = torch's default
    device: str = "auto"


# Keys whose value must be one of a fixed set.
_CHOICES: dict[str, tuple[object, ...]] = {
    "data.small_images": ("error", "skip"),
    "data.degradation": ("bicubic", "realesrgan"),
    "train.stage": ("psnr", "gan"),
    "train.optimizer": ("adam", "adamw"),
    "train.scheduler": ("cosine", "multistep", "constant"),
    "train.amp": ("none", "bf16", "fp16"),
    "loss.pixel": ("l1", "l2", "mse", "charbonnier"),
    "loss.perceptual": ("", "vgg19", "squeezenet"),
    "loss.adversarial": ("vanilla", "lsgan", "hinge", "ragan"),
    "disc.arch": ("patchgan", "vgg", "unet"),
}


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    val: ValConfig = field(default_factory=ValConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    disc: DiscConfig = field(default_factory=DiscConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["model"] = self.model.to_dict()
        return d

    def validate(self) -> None:
        m, d, t = self.model, self.data, self.train
        for key, allowed in _CHOICES.items():
            section, name = key.split(".")
            value = getattr(getattr(self, section), name)
            if value not in allowed:
                raise ConfigError(f"{key} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
        checks = [
            (bool(d.train_dirs), "data.train_dirs is empty: give at least one folder of HR images"),
            (d.patch_size > 0 and d.patch_size % m.scale == 0,
             f"data.patch_size {d.patch_size} must be a positive multiple of model.scale {m.scale}"),
            (d.batch_size > 0, "data.batch_size must be positive"),
            (0 <= d.second_order_prob <= 1, f"data.second_order_prob must be in [0, 1], got {d.second_order_prob}"),
            (t.iterations > 0, "train.iterations must be positive"),
            (t.lr > 0, "train.lr must be positive"),
            (len(t.betas) == 2, "train.betas needs two values"),
            (0 <= t.ema_decay < 1, "train.ema_decay must be in [0, 1)"),
            (t.checkpoint_every > 0 and t.log_every > 0, "train.checkpoint_every and train.log_every must be positive"),
            (self.val.every > 0, "val.every must be positive"),
            (not (self.disc.antialias and self.disc.arch == "vgg"), "disc.antialias applies to patchgan and unet only"),
            (0 <= self.disc.shift < d.patch_size // 2 and not (self.disc.shift and self.disc.arch != "patchgan"),
             f"disc.shift must be in [0, {d.patch_size // 2}) and applies to the patchgan only"),
            (0 <= self.loss.perceptual_shift < d.patch_size // 2,
             f"loss.perceptual_shift must be in [0, {d.patch_size // 2})"),
            (self.loss.artifact_weight >= 0 and self.loss.lowpass_weight >= 0,
             "loss.artifact_weight and loss.lowpass_weight must be >= 0"),
            (0 < self.loss.lowpass_sigma < d.patch_size / 6,
             f"loss.lowpass_sigma must be in (0, {d.patch_size / 6:g}): its kernel spans 6 sigma of the patch"),
            (not (self.loss.artifact_weight and not t.ema_decay),
             "loss.artifact_weight needs the EMA generator as its reference: set train.ema_decay > 0"),
        ]  # fmt: skip
        for ok, msg in checks:
            if not ok:
                raise ConfigError(msg)
        d.degradation_config()
        for folder in d.train_dirs:
            if not Path(folder).is_dir():
                raise ConfigError(f"data.train_dirs: folder {folder} does not exist")
        if self.val.dir and not Path(self.val.dir).is_dir():
            raise ConfigError(f"val.dir: folder {self.val.dir} does not exist")


def lr_lambda(t: TrainConfig) -> Callable[[int], float]:
    """Multiplier of the base LR at a step: linear warm-up, then cosine, multistep or constant."""

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


def _stage(base: Stage, values: dict[str, Any], key: str) -> Stage:
    """``base`` with the fields in ``values`` replaced, type-checked as the rest of the config is."""
    changes: dict[str, Any] = {}
    known = [f.name for f in dataclasses.fields(Stage)]
    for name, value in values.items():
        if name not in known:
            raise ConfigError(f"unknown config key {key}.{name} (known: {', '.join(known)})")
        default = getattr(base, name)
        if isinstance(default, tuple):  # a TOML array of the field's element type (ints widen to floats)
            changes[name] = tuple(_check_type(value, types.GenericAlias(list, (type(default[0]),)), f"{key}.{name}"))
        else:
            changes[name] = _check_type(value, float, f"{key}.{name}")
    try:
        return dataclasses.replace(base, **changes)
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None


def _check_type(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool):
        if type(value) is not tp:
            raise ConfigError(f"{key}: expected {tp.__name__}, got {type(value).__name__} {value!r}")
        return value
    if origin is list:
        (inner,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__} {value!r}")
        return [_check_type(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        _, inner = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table, got {type(value).__name__} {value!r}")
        return {str(k): _check_type(v, inner, f"{key}.{k}") for k, v in value.items()}
    if isinstance(tp, types.UnionType):
        raise ConfigError(f"{key}: unsupported field type")  # not used by the config
    return value


def _apply(section: Any, values: dict[str, Any], prefix: str) -> None:
    hints = typing.get_type_hints(type(section))
    for key, value in values.items():
        if key not in hints:
            known = ", ".join(hints)
            raise ConfigError(f"unknown config key {prefix}{key} (known in [{prefix.rstrip('.')}]: {known})")
        setattr(section, key, _check_type(value, hints[key], prefix + key))


def _parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key=value")
    key, raw = item.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word is a string
    return key.strip().split("."), value


def load_config(path: str | Path | None, overrides: list[str] | None = None, *, base_dir: Path | None = None) -> Config:
    """Read a TOML config (or defaults), apply ``section.key=value`` overrides, validate.

    Relative folder paths in the file are taken relative to the current directory.
    """
    raw: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            raw = tomllib.loads(p.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {p} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: invalid TOML ({exc})") from exc
    for item in overrides or []:
        keys, value = _parse_override(item)
        node = raw
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {k} is not a section")
        node[keys[-1]] = value
    cfg = Config()
    sections = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
    for name, values in raw.items():
        if name not in sections:
            raise ConfigError(f"unknown config section [{name}] (known: {', '.join(sections)})")
        if not isinstance(values, dict):
            raise ConfigError(f"[{name}] must be a table of keys")
        if name == "model":
            cfg.model.apply(values)
        else:
            _apply(sections[name], values, f"{name}.")
    cfg.validate()
    return cfg
