"""Weights on disk: srgan's safetensors format, the shipped models, and safe reading of PyTorch files.

A weights file holds the generator's tensors plus string metadata: ``srgan_arch`` (the
registry name), ``srgan_hparams`` (JSON of the constructor's keyword arguments) and
whatever the trainer adds (scale, training data, iterations, validation metrics).

The shipped models and the training recipes travel inside the package (``srgan/shipped``,
``srgan/configs``) and are found with :mod:`importlib.resources`, so an installed wheel has
them; ``SRGAN_WEIGHTS_DIR`` points the model lookup at another folder.
"""

from __future__ import annotations

import functools
import json
import math
import os
import pickle
import re
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import nn

from srgan.archs import GENERATORS, arch_name
from srgan.archs.generator import SRResNetConfig
from srgan.errors import ConfigError, ModelError
from srgan.fsutil import atomic_write_bytes

__all__ = [
    "BACKBONE_FILES",
    "ModelInfo",
    "backbone_cache_path",
    "config_path",
    "find_backbone_weights",
    "generator_metadata",
    "is_torchscript",
    "list_models",
    "load_generator",
    "load_torch_file",
    "read_metadata",
    "save_generator",
    "shipped_model_path",
    "weights_dir",
]


#: The file names torchvision gives the ImageNet weights srgan's backbones use (in its hub cache).
BACKBONE_FILES = {"vgg19": "vgg19-dcbb9e9d.pth", "squeezenet": "squeezenet1_1-b8a52dc0.pth"}


def backbone_cache_path(backbone: str) -> Path:
    """Where torchvision keeps a backbone's ImageNet weights once downloaded."""
    if backbone not in BACKBONE_FILES:
        raise ModelError(f"unknown backbone {backbone!r}; available: {', '.join(BACKBONE_FILES)}")
    return Path(torch.hub.get_dir()) / "checkpoints" / BACKBONE_FILES[backbone]


def find_backbone_weights(backbone: str, weights_path: str | Path | None = None) -> Path | None:
    """Where a backbone's ImageNet weights are: ``weights_path`` (which must exist), the variable
    ``SRGAN_<NAME>_WEIGHTS``, or torchvision's cache; None if nowhere (only a download could help)."""
    env = os.environ.get(f"SRGAN_{backbone.upper()}_WEIGHTS")
    path = Path(weights_path) if weights_path else Path(env) if env else None
    if path is not None:
        if not path.is_file():
            raise ModelError(f"{backbone} weights not found at {path}")
        return path
    cached = backbone_cache_path(backbone)
    return cached if cached.is_file() else None


def weights_dir() -> Path:
    """Where the shipped models are: ``SRGAN_WEIGHTS_DIR`` if set, else the package's ``shipped`` folder."""
    env = os.environ.get("SRGAN_WEIGHTS_DIR")
    if env:
        return Path(env)
    return Path(str(resources.files("srgan") / "shipped"))


def config_path(name_or_path: str | Path) -> Path:
    """A training recipe: a TOML file path, or the name of one shipped in the package (``srresnet-x4``)."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    shipped = Path(str(resources.files("srgan") / "configs"))
    candidate = shipped / f"{p.stem if p.suffix == '.toml' else p.name}.toml"
    if p.parent == Path(".") and candidate.is_file():
        return candidate
    names = ", ".join(sorted(f.stem for f in shipped.glob("*.toml")))
    raise ConfigError(f"{name_or_path}: no such config file, and not a shipped recipe ({names})")


@dataclass
class ModelInfo:
    """A shipped model as ``srgan models`` lists it."""

    name: str
    path: Path
    scale: int
    parameters: int
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def description(self) -> str:
        return self.metadata.get("description", "")

    @functools.cached_property
    def _config(self) -> dict[str, Any]:
        """The training config from the metadata, parsed once (``real_world``, ``gan`` and ``made_for`` read it)."""
        try:
            cfg: dict[str, Any] = json.loads(self.metadata.get("config", "{}"))
        except json.JSONDecodeError:
            return {}
        return cfg

    def _config_section(self, section: str) -> dict[str, Any]:
        return self._config.get(section) or {}

    @property
    def real_world(self) -> bool:
        """Trained on real-world degradations (JPEG, noise, blur), not clean bicubic LR."""
        return self._config_section("data").get("degradation") == "realesrgan"

    @property
    def gan(self) -> bool:
        """Trained as a GAN (sharper texture), not with a pixel loss only."""
        return self._config_section("train").get("stage") == "gan"

    @property
    def made_for(self) -> str:
        """What the model is for, from its training config: clean or real-world inputs, faithful or GAN texture."""
        inputs = "JPEG/noisy photos" if self.real_world else "clean images"
        return f"{inputs}, {'GAN texture' if self.gan else 'faithful'}"

    def metric(self, key: str) -> str:
        try:
            value = json.loads(self.metadata.get("benchmarks", "{}")).get(key, "")
        except json.JSONDecodeError:
            return ""
        return f"{value:.2f}" if isinstance(value, float) else str(value)


def list_models() -> list[ModelInfo]:
    """The shipped models found in the weights folder, sorted by name."""
    out = []
    root = weights_dir()
    for path in sorted(root.glob("*.safetensors")) if root.is_dir() else []:
        try:
            meta = read_metadata(path)
        except ModelError:
            continue
        if "srgan_arch" not in meta:
            continue
        params = int(meta.get("parameters", "0") or 0)
        out.append(ModelInfo(path.stem, path, int(meta.get("scale", "0") or 0), params, meta))
    return out


def shipped_model_path(name: str) -> Path | None:
    """The file of the shipped model called ``name``, or None."""
    return next((m.path for m in list_models() if m.name == name), None)


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


def generator_metadata(model: nn.Module) -> dict[str, str]:
    """The metadata that tells :func:`load_generator` how to rebuild ``model``."""
    return {"srgan_arch": arch_name(model), "srgan_hparams": json.dumps(model.hparams)}  # type: ignore[attr-defined]


def save_generator(path: str | Path, model: nn.Module, metadata: dict[str, Any] | None = None) -> None:
    """Write a generator as ``.safetensors`` (atomically) with its architecture and metadata."""
    from safetensors.torch import save

    meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()}
    meta |= generator_metadata(model)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(path, save(tensors, metadata=meta))


def read_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata of a ``.safetensors`` file."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except FileNotFoundError:
        raise ModelError(f"{path}: no such weights file") from None
    except Exception as exc:
        raise ModelError(f"{path}: not a readable safetensors file ({exc})") from exc


#: Bounds on the hyperparameters a weights file may ask for, checked before anything is built.
_HPARAM_BOUNDS: dict[str, tuple[int, int]] = {"scale": (2, 4), "in_ch": (1, 4), "out_ch": (1, 4), "num_feat": (1, 512),
                                               "num_blocks": (0, 256), "up_feat": (1, 512)}  # fmt: skip


def _check_hparams(path: str | Path, arch: str, hparams: Any) -> SRResNetConfig:
    if not isinstance(hparams, dict) or not all(isinstance(k, str) for k in hparams):
        raise ModelError(f"{path}: srgan_hparams is not a table of named values")
    for key, (lo, hi) in _HPARAM_BOUNDS.items():
        if key in hparams:
            v = hparams[key]
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ModelError(f"{path}: {arch} {key}={v!r} is out of range (a whole number from {lo} to {hi})")
    try:
        return SRResNetConfig(**hparams)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{path}: bad {arch} hyperparameters in the file ({exc})") from exc


def _describe_mismatch(expected: dict[str, tuple[int, ...]], found: dict[str, tuple[int, ...]]) -> str:
    missing = [k for k in expected if k not in found]
    extra = [k for k in found if k not in expected]
    wrong = [k for k in expected if k in found and expected[k] != found[k]]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing (first {missing[0]})")
    if extra:
        parts.append(f"{len(extra)} unexpected (first {extra[0]})")
    if wrong:
        k = wrong[0]
        parts.append(f"{len(wrong)} of another shape (first {k}: {found[k]} in the file, {expected[k]} expected)")
    return ", ".join(parts)


def load_generator(path: str | Path, *, device: torch.device | str = "cpu") -> tuple[nn.Module, dict[str, str]]:
    """Rebuild a generator saved by :func:`save_generator`; returns ``(model.eval(), metadata)``.

    The hyperparameters in the file are bounded, and the smallest model they describe is
    compared with the number of values the file holds before anything is allocated, so a tiny
    file cannot make srgan build a huge network; the built model's tensor shapes must then
    match the file's exactly.
    """
    from safetensors import safe_open

    meta = read_metadata(path)
    if "srgan_arch" not in meta:
        raise ModelError(f"{path}: no srgan architecture metadata (not saved by srgan?)")
    arch = meta["srgan_arch"]
    if arch not in GENERATORS:
        raise ModelError(f"{path}: unknown generator architecture {arch!r}; available: {', '.join(GENERATORS)}")
    try:
        gen_cfg = _check_hparams(path, arch, json.loads(meta["srgan_hparams"]))
    except (KeyError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: damaged srgan_hparams metadata") from exc
    try:
        with safe_open(str(path), framework="pt") as f:
            found = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118 - not a dict
            stored = sum(math.prod(shape) for shape in found.values())
            least = gen_cfg.min_parameters()
            if least > stored:
                raise ModelError(f"{path}: its metadata describes a {arch} of at least {least:,} weights but the "
                                 f"file holds {stored:,} values; refusing to build it")  # fmt: skip
            model = GENERATORS[arch](gen_cfg)
            expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
            if expected != found:
                why = _describe_mismatch(expected, found)
                raise ModelError(f"{path}: the weights do not fit {arch} {gen_cfg.to_dict()}: {why}")
            model.load_state_dict({k: f.get_tensor(k) for k in expected})
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"{path}: unreadable weights ({type(exc).__name__}: {exc})") from exc
    return model.to(device).eval(), meta
