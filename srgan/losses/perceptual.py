"""Perceptual loss: L1 distance between feature maps of a frozen ImageNet backbone.

Backbones: ``vgg19`` (torchvision) and ``squeezenet`` (SqueezeNet 1.1, torchvision).
Weights come from, in order: the ``weights_path`` given; torchvision's cache
(``$TORCH_HOME/hub/checkpoints``); torchvision's download when ``allow_download`` is set.
If none works the loss refuses to start with a clear message; it never falls back to
random weights, which would silently train against noise.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from srgan.errors import ModelError
from srgan.weights import backbone_cache_path, find_backbone_weights, load_torch_file

__all__ = ["BACKBONES", "PerceptualLoss", "load_backbone"]

log = logging.getLogger(__name__)

_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)

# SqueezeNet 1.1 ``features`` indices; LPIPS uses the same cut points.
_SQUEEZE_LAYERS = {"relu1": 1, "fire2": 3, "fire3": 4, "fire4": 6, "fire5": 7, "fire6": 9,
                   "fire7": 10, "fire8": 11, "fire9": 12}  # fmt: skip


def _vgg19_layer_names() -> dict[str, int]:
    names: dict[str, int] = {}
    block, conv = 1, 1
    for i, m in enumerate(torchvision.models.vgg19().features):
        if isinstance(m, nn.Conv2d):
            names[f"conv{block}_{conv}"] = i
        elif isinstance(m, nn.ReLU):
            names[f"relu{block}_{conv}"] = i
            conv += 1
        elif isinstance(m, nn.MaxPool2d):
            names[f"pool{block}"] = i
            block, conv = block + 1, 1
    return names


BACKBONES = {
    "vgg19": ("vgg19", "VGG19_Weights", {"conv5_4": 1.0}),
    "squeezenet": ("squeezenet1_1", "SqueezeNet1_1_Weights", {"fire3": 1.0, "fire5": 1.0, "fire7": 1.0}),
}


def _enum(backbone: str) -> Any:
    if backbone not in BACKBONES:
        raise ModelError(f"unknown perceptual backbone {backbone!r}; available: {', '.join(BACKBONES)}")
    return getattr(torchvision.models, BACKBONES[backbone][1]).IMAGENET1K_V1


def load_backbone(
    backbone: str, weights_path: str | Path | None = None, *, allow_download: bool = False
) -> nn.Sequential:
    """The ImageNet ``features`` module of a torchvision backbone, with real weights or an error."""
    enum = _enum(backbone)
    model = getattr(torchvision.models, BACKBONES[backbone][0])(weights=None)
    path = find_backbone_weights(backbone, weights_path)
    if path is not None:
        state = load_torch_file(path, f"{backbone} weights file")
        try:
            model.load_state_dict(state)
        except Exception as exc:
            raise ModelError(f"{path}: not {backbone} ImageNet weights ({str(exc).splitlines()[0]})") from exc
        log.debug("loaded %s weights from %s", backbone, path)
    elif allow_download:
        try:
            model.load_state_dict(enum.get_state_dict())
        except Exception as exc:
            raise ModelError(
                f"cannot download {backbone} ImageNet weights ({exc}); this machine may be offline. "
                f"Download {enum.url} elsewhere and give its path"
            ) from exc
    else:
        cached = backbone_cache_path(backbone)
        raise ModelError(
            f"no {backbone} ImageNet weights: give their path (or SRGAN_{backbone.upper()}_WEIGHTS), put "
            f"{cached.name} in {cached.parent}, or allow the download on an online machine"
        )
    features: nn.Sequential = model.features.eval()
    for p in features.parameters():
        p.requires_grad_(False)
    return features


class PerceptualLoss(nn.Module):
    """Weighted L1 between backbone features of prediction and target (inputs RGB in [0, 1])."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        *,
        backbone: str = "vgg19",
        layers: dict[str, float] | None = None,
        weight: float = 1.0,
        weights_path: str | Path | None = None,
        allow_download: bool = False,
    ) -> None:
        super().__init__()
        names = _vgg19_layer_names() if backbone == "vgg19" else _SQUEEZE_LAYERS
        self.layers = dict(layers or BACKBONES.get(backbone, ("", "", {}))[2])
        unknown = [n for n in self.layers if n not in names]
        if unknown:
            raise ModelError(f"unknown {backbone} layer(s) {unknown}; available: {', '.join(names)}")
        features = load_backbone(backbone, weights_path, allow_download=allow_download)
        self.index = {n: names[n] for n in self.layers}
        self.features = features[: max(self.index.values()) + 1]
        self.weight = weight
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.features.eval()  # frozen backbone: never update running statistics
        return self

    def _feats(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        wanted = set(self.index.values())
        out = {}
        h = (x - self.mean) / self.std
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in wanted:
                out[i] = h
        return out

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        fp = self._feats(pred)
        with torch.no_grad():
            ft = self._feats(target)
        loss = pred.new_zeros(())
        for name, w in self.layers.items():
            i = self.index[name]
            loss = loss + w * F.l1_loss(fp[i], ft[i])
        return self.weight * loss
