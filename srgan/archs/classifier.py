"""The downstream classifier of the augment study: ResNet-20 (He et al. 2016, the CIFAR variant).

Three stages of three basic blocks (16, 32, 64 channels), about 0.27M parameters; it works on
any image of 28 px or more (the head pools globally). It is the standard small network for
32 px data, so a study's real-only baseline can be compared with what the field reports.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ResNet20", "class_probs"]


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        return F.relu(self.bn2(self.conv2(y)) + self.short(x), inplace=True)


class ResNet20(nn.Module):
    """``(B, C, H, W)`` images, normalised to [-1, 1] -> ``(B, num_classes)`` logits."""

    def __init__(self, *, channels: int, num_classes: int, width: int = 16, blocks: int = 3) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        layers: list[nn.Module] = []
        cin = width
        for stage, cout in enumerate((width, 2 * width, 4 * width)):
            for i in range(blocks):
                layers.append(_Block(cin, cout, 2 if stage > 0 and i == 0 else 1))
                cin = cout
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.adaptive_avg_pool2d(self.body(self.stem(x)), 1).flatten(1))


@torch.no_grad()
def class_probs(model: nn.Module, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
    """``model``'s class probabilities for images ``x`` (in eval mode), computed where it lives, returned on the CPU."""
    model.eval()
    dev = next(model.parameters()).device
    return torch.cat([F.softmax(model(x[i : i + batch].to(dev)), 1).cpu() for i in range(0, x.shape[0], batch)])
