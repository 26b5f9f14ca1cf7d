"""How far added copies sit from the real images, as a classifier trained on the real ones sees them.

The study's sanity line expects classical augmentation to beat real-only on CIFAR-like data. When it does not, the
report says why it may not: the classical copies of the validation images (which no run trains on, and whose
sources no teacher saw) are scored by a real-only classifier next to their sources. A copy that classifier no
longer recognises is an image unlike the test images, and the classical arm gives such copies half of every batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from srgan.archs.classifier import class_probs
from srgan.augment.classical import source_of

if TYPE_CHECKING:
    from srgan.data.labelled import ImageSet

__all__ = ["copy_shift", "shift_line"]


def _correct(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    return int((class_probs(model, x).argmax(1) == y).sum())


def copy_shift(model: torch.nn.Module, real: ImageSet, copies: ImageSet, val: torch.Tensor,
               seed: int) -> dict[str, float | int] | None:  # fmt: skip
    """``model``'s accuracy on the real images at indices ``val`` that have copies, and on those copies.

    Copies are matched to their sources by name (``cat/0001_aug000`` is a copy of ``cat/0001``); every copy of
    a validation image counts. None when no copy has its source among them (or the sets carry no names).
    """
    index = {real.names[i]: i for i in val.tolist()} if len(real.names) == len(real.labels) else {}
    pairs = [(index[name], j) for j, n in enumerate(copies.names) if (name := source_of(n)) in index]
    if not pairs:
        return None
    sources = sorted({i for i, _ in pairs})
    src, cop = torch.tensor(sources), torch.tensor([j for _, j in pairs])
    return {"seed": seed, "sources": len(sources), "copies": len(pairs),
            "source_accuracy": _correct(model, real.images[src], real.labels[src]) / len(sources),
            "copy_accuracy": _correct(model, copies.images[cop], copies.labels[cop]) / len(pairs)}  # fmt: skip


def shift_line(shift: dict[str, float | int]) -> str:
    """The sanity line's clause: how the real-only classifier sees the validation images and their copies."""
    return (f"a real-only classifier (seed {shift['seed']}) recognises {100 * shift['source_accuracy']:.1f} % of "
            f"{shift['sources']} validation images and {100 * shift['copy_accuracy']:.1f} % of their "
            f"{shift['copies']} classical copies, which no run trains on; copies like these fill half of each "
            "classical batch")  # fmt: skip
