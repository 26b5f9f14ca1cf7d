"""Architectures (pure nn.Modules) and the safetensors format srgan ships weights in.

A weights file holds the generator's tensors plus string metadata: ``srgan_arch`` (the
registry name), ``srgan_hparams`` (JSON of the constructor's keyword arguments) and
whatever the trainer adds (scale, training data, iterations, validation metrics).
"""

from __future__ import annotations

import json
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


def load_generator(path: str | Path, *, device: torch.device | str = "cpu") -> tuple[nn.Module, dict[str, str]]:
    """Rebuild a generator saved by :func:`save_generator`; returns ``(model.eval(), metadata)``."""
    from safetensors.torch import load_file

    meta = read_metadata(path)
    if "srgan_arch" not in meta:
        raise ModelError(f"{path}: no srgan architecture metadata (not saved by srgan?)")
    try:
        hparams = json.loads(meta["srgan_hparams"])
    except (KeyError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: damaged srgan_hparams metadata") from exc
    model = build_generator(meta["srgan_arch"], **hparams)
    try:
        model.load_state_dict(load_file(str(path), device="cpu"))
    except RuntimeError as exc:
        raise ModelError(f"{path}: weights do not fit {meta['srgan_arch']} {hparams}: {exc}") from exc
    return model.to(device).eval(), meta
