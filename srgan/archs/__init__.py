"""Architectures (pure nn.Modules) and the safetensors format srgan ships weights in.

A weights file holds the generator's tensors plus string metadata: ``srgan_arch`` (the
registry name), ``srgan_hparams`` (JSON of the constructor's keyword arguments) and
whatever the trainer adds (scale, training data, iterations, validation metrics).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from srgan.archs.discriminator import PatchDiscriminator, VGGDiscriminator
from srgan.archs.generator import SRResNet
from srgan.errors import ConfigError, ModelError

__all__ = [
    "DISCRIMINATORS",
    "GENERATORS",
    "PatchDiscriminator",
    "SRResNet",
    "VGGDiscriminator",
    "build_discriminator",
    "build_generator",
    "load_generator",
    "read_metadata",
    "save_generator",
]

GENERATORS: dict[str, type[nn.Module]] = {"srresnet": SRResNet}
DISCRIMINATORS: dict[str, type[nn.Module]] = {"patchgan": PatchDiscriminator, "vgg": VGGDiscriminator}


def _build(table: dict[str, type[nn.Module]], kind: str, arch: str, hparams: dict[str, Any]) -> nn.Module:
    try:
        cls = table[arch]
    except KeyError:
        raise ConfigError(f"unknown {kind} architecture {arch!r}; available: {', '.join(table)}") from None
    try:
        return cls(**hparams)
    except TypeError as exc:
        raise ConfigError(f"bad hyperparameters for {kind} {arch!r}: {exc}") from exc


def build_generator(arch: str, **hparams: Any) -> nn.Module:
    return _build(GENERATORS, "generator", arch, hparams)


def build_discriminator(arch: str, **hparams: Any) -> nn.Module:
    return _build(DISCRIMINATORS, "discriminator", arch, hparams)


def arch_name(model: nn.Module) -> str:
    for name, cls in GENERATORS.items():
        if type(model) is cls:
            return name
    raise ModelError(f"{type(model).__name__} is not a registered generator")


def save_generator(path: str | Path, model: nn.Module, metadata: dict[str, Any] | None = None) -> None:
    """Write a generator as ``.safetensors`` (atomically) with its architecture and metadata."""
    from safetensors.torch import save

    from srgan.io import atomic_write_bytes

    meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()}
    meta["srgan_arch"] = arch_name(model)
    meta["srgan_hparams"] = json.dumps(model.hparams)  # type: ignore[attr-defined]
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
_HPARAM_BOUNDS: dict[str, tuple[int, int]] = {"scale": (2, 4), "in_ch": (1, 4), "out_ch": (1, 4),
                                               "num_feat": (1, 512), "num_blocks": (0, 256)}  # fmt: skip


def _check_hparams(path: str | Path, arch: str, hparams: Any) -> dict[str, Any]:
    if not isinstance(hparams, dict) or not all(isinstance(k, str) for k in hparams):
        raise ModelError(f"{path}: srgan_hparams is not a table of named values")
    for key, (lo, hi) in _HPARAM_BOUNDS.items():
        if key in hparams:
            v = hparams[key]
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ModelError(f"{path}: {arch} {key}={v!r} is out of range (a whole number from {lo} to {hi})")
    res = hparams.get("res_scale", 1.0)
    if isinstance(res, bool) or not isinstance(res, int | float) or not math.isfinite(res):
        raise ModelError(f"{path}: {arch} res_scale={res!r} is not a finite number")
    return hparams


def _min_parameters(hparams: dict[str, Any]) -> int:
    """A lower bound on the weights of the SRResNet ``hparams`` describe: its 3x3 convolutions at LR."""
    nf, nb = int(hparams.get("num_feat", 48)), int(hparams.get("num_blocks", 12))
    return 9 * nf * (int(hparams.get("in_ch", 3)) + (2 * nb + 1) * nf)


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
        hparams = _check_hparams(path, arch, json.loads(meta["srgan_hparams"]))
    except (KeyError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: damaged srgan_hparams metadata") from exc
    try:
        with safe_open(str(path), framework="pt") as f:
            found = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118 - not a dict
            stored = sum(math.prod(shape) for shape in found.values())
            least = _min_parameters(hparams)
            if least > stored:
                raise ModelError(f"{path}: its metadata describes a {arch} of at least {least:,} weights but the "
                                 f"file holds {stored:,} values; refusing to build it")  # fmt: skip
            try:
                model = GENERATORS[arch](**hparams)
            except (TypeError, ValueError) as exc:
                raise ModelError(f"{path}: bad {arch} hyperparameters in the file ({exc})") from exc
            expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
            if expected != found:
                why = _describe_mismatch(expected, found)
                raise ModelError(f"{path}: the weights do not fit {arch} {hparams}: {why}")
            model.load_state_dict({k: f.get_tensor(k) for k in expected})
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"{path}: unreadable weights ({type(exc).__name__}: {exc})") from exc
    return model.to(device).eval(), meta
