"""Architectures: pure nn.Modules and the registries that name them (files live in srgan.weights)."""

from __future__ import annotations

from typing import Any

from torch import nn

from srgan.archs.discriminator import PatchDiscriminator, UNetDiscriminator, VGGDiscriminator
from srgan.archs.generator import SRResNet
from srgan.errors import ConfigError, ModelError

__all__ = [
    "DISCRIMINATORS",
    "GENERATORS",
    "PatchDiscriminator",
    "SRResNet",
    "UNetDiscriminator",
    "VGGDiscriminator",
    "arch_name",
    "build_discriminator",
    "build_generator",
]

GENERATORS: dict[str, type[nn.Module]] = {"srresnet": SRResNet}
DISCRIMINATORS: dict[str, type[nn.Module]] = {
    "patchgan": PatchDiscriminator,
    "vgg": VGGDiscriminator,
    "unet": UNetDiscriminator,
}


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
