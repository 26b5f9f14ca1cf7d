"""Finding and loading upscaling models: shipped names, srgan weights files, third-party files.

* A shipped model is named (``srresnet-x4``) and lives in the package (see :mod:`srgan.weights`;
  ``SRGAN_WEIGHTS_DIR`` overrides the folder).
* An srgan ``.safetensors`` file (with ``srgan_arch`` metadata) loads without spandrel.
* Anything else (ESRGAN, Real-ESRGAN, SwinIR, ... as ``.pth`` / ``.pt`` / ``.ckpt`` or
  ``.safetensors``) loads through spandrel, whose ``.pth`` reader unpickles only tensors
  and plain containers: a file carrying code is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from srgan.defaults import DEFAULT_MODEL
from srgan.errors import ModelError
from srgan.weights import list_models, load_generator, load_torch_file, read_metadata, weights_dir

__all__ = ["DEFAULT_MODEL", "LoadedModel", "lerp_weights", "load_model"]


@dataclass
class LoadedModel:
    """A model ready to run: ``run(x)`` maps ``(B, C, h, w)`` in [0, 1] to ``(B, C, h*s, w*s)``."""

    name: str
    module: nn.Module
    scale: int
    in_channels: int
    supports_half: bool
    supports_bf16: bool
    #: Receptive-field radius in LR pixels: tiles overlapping by this much give untiled results.
    context: int
    #: Input sides must be multiples of this (spandrel pads for us; 1 for srgan models).
    multiple_of: int = 1
    metadata: dict[str, str] = field(default_factory=dict)
    run: Callable[[torch.Tensor], torch.Tensor] | None = None
    tileable: bool = True
    #: Run in channels_last (NHWC) memory format: oneDNN's fast path for our all-conv generators
    #: (+17 % at 128 px, +69 % at 256 px LR on a 2-core CPU; benchmarks/results/speed_work.md).
    channels_last: bool = False

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.run(x) if self.run is not None else self.module(x)

    @property
    def feature_channels(self) -> int:
        return int(getattr(self.module, "hparams", {}).get("num_feat", 64))


def _srgan_context(module: nn.Module) -> int:
    """Receptive-field radius (LR pixels) of an srgan generator: one per 3x3 conv at LR, plus the skip."""
    convs = sum(1 for m in module.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3))
    return convs + 2


def _resolve_path(name_or_path: str | Path) -> tuple[str, Path]:
    p = Path(name_or_path)
    if p.suffix and p.exists():
        return p.stem, p
    for info in list_models():
        if info.name == str(name_or_path):
            return info.name, info.path
    if p.suffix:
        raise ModelError(f"{p}: no such model file")
    names = ", ".join(i.name for i in list_models()) or f"none found in {weights_dir()}"
    raise ModelError(f"unknown model {name_or_path!r}; shipped models: {names}; or give a path to a weights file")


def load_model(name_or_path: str | Path, *, device: torch.device | str = "cpu", denoise: float | None = None
               ) -> LoadedModel:  # fmt: skip
    """Load a shipped model by name, an srgan weights file, or a third-party model through spandrel.

    ``denoise`` (0 to 1) blends a real-world model's weights with those of its light-denoise partner
    (named by its ``denoise_base`` metadata, the same architecture): 1 is the model as trained (the
    strongest cleaning), 0 the partner (keeps noise and detail), values between trade one for the
    other, as Real-ESRGAN's ``-dn`` does.
    """
    name, path = _resolve_path(name_or_path)
    if denoise is not None:
        return _blended(name, path, float(denoise), device)
    if path.suffix == ".safetensors":
        meta = read_metadata(path)
        if "srgan_arch" in meta:
            module, meta = load_generator(path, device=device)
            module = module.to(memory_format=torch.channels_last)
            hp: dict[str, Any] = getattr(module, "hparams")  # noqa: B009  # set by load_generator
            return LoadedModel(name, module, int(hp["scale"]), int(hp["in_ch"]), True, True,
                               _srgan_context(module), 1, meta, channels_last=True)  # fmt: skip
    return _load_spandrel(name, path, device)


def lerp_weights(model: nn.Module, base: nn.Module, s: float) -> None:
    """In place: every floating-point tensor of ``model`` becomes ``(1 - s) * base + s * model``.

    Network interpolation (ESRGAN's): both modules must share one architecture.
    """
    ref = base.state_dict()
    with torch.no_grad():
        for k, v in model.state_dict().items():
            if v.is_floating_point():
                v.copy_(torch.lerp(ref[k].to(v.dtype), v, s))


def _blended(name: str, path: Path, s: float, device: torch.device | str) -> LoadedModel:
    if not 0.0 <= s <= 1.0:
        raise ModelError(f"denoise strength must be between 0 and 1, got {s}")
    meta = read_metadata(path) if path.suffix == ".safetensors" else {}
    base_name = meta.get("denoise_base")
    if not base_name:
        raise ModelError(f"{name} has no light-denoise partner, so its denoise strength cannot be set "
                         "(the real-world models have one: see `srgan models`)")  # fmt: skip
    strong, weak = load_model(path, device=device), load_model(base_name, device=device)
    if weak.module.hparams != strong.module.hparams:  # type: ignore[attr-defined]
        raise ModelError(f"{name} and its partner {base_name} differ in architecture; they cannot be blended")
    lerp_weights(strong.module, weak.module, s)
    strong.name = f"{name} (denoise {s:g})"
    return strong


def _load_spandrel(name: str, path: Path, device: torch.device | str) -> LoadedModel:
    import pickle

    try:
        from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError
    except ImportError as exc:  # pragma: no cover - spandrel is a dependency
        raise ModelError("third-party models need the spandrel package") from exc
    loader = ModelLoader(device=torch.device(device))
    try:
        if path.suffix.lower() in (".pth", ".pt", ".ckpt"):
            # Our own restricted load: refuses pickled code and TorchScript (spandrel would run a .pt as
            # TorchScript) with one clear line; spandrel then recognises the architecture from the tensors.
            from spandrel import canonicalize_state_dict

            state = load_torch_file(path, "model file")
            if not isinstance(state, dict):
                raise ModelError(f"{path}: holds no state dict (a table of named tensors)")
            desc = loader.load_from_state_dict(canonicalize_state_dict(state))
        else:
            desc = loader.load_from_file(path)
    except ModelError:
        raise
    except pickle.UnpicklingError as exc:
        raise ModelError(f"{path}: refused: the file holds pickled objects other than tensors ({exc})") from exc
    except UnsupportedModelError as exc:
        raise ModelError(f"{path}: not an architecture srgan or spandrel knows") from exc
    except FileNotFoundError:
        raise ModelError(f"{path}: no such model file") from None
    except Exception as exc:
        raise ModelError(f"{path}: cannot load ({type(exc).__name__}: {exc})") from exc
    if not isinstance(desc, ImageModelDescriptor):
        raise ModelError(f"{path}: {desc.architecture.name} is not an image-to-image model")
    desc.eval()
    req = desc.size_requirements
    # The receptive field of an arbitrary architecture is unknown: overlap tiles generously.
    # Models that tile internally (spandrel's INTERNAL) must see the whole image.
    context = 64
    return LoadedModel(
        name=f"{name} ({desc.architecture.name})",
        module=desc.model,
        scale=int(desc.scale),
        in_channels=int(desc.input_channels),
        supports_half=bool(desc.supports_half),
        supports_bf16=bool(desc.supports_bfloat16),
        context=context,
        multiple_of=int(req.multiple_of),
        metadata={"architecture": desc.architecture.name},
        run=desc,
        tileable=desc.tiling.name != "INTERNAL",
    )
