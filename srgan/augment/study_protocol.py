"""The downstream study's protocol and its validation split (see :mod:`srgan.augment.study`).

The split is carved from the real training images, stratified by class and drawn once from
``Protocol.split_seed``, so every seed and arm validates on the same images and a GAN whose samples
are studied can be trained without them (:func:`validation_names`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from srgan.data.labelled import ImageSet
from srgan.errors import ConfigError

__all__ = ["Protocol", "first_per_class", "split_for_run", "split_validation", "validation_names"]


#: rules for the epoch a run keeps (see ``Protocol.selection``)
SELECTIONS = ("accuracy+loss", "accuracy+last", "accuracy")


@dataclass(frozen=True)
class Protocol:
    epochs: int = 60
    batch: int = 128
    lr: float = 0.1
    weight_decay: float = 5e-4
    val_fraction: float = 0.1
    flip: bool = True
    budget: float | None = None  # seconds per run; epochs stop early (and are reported) when it runs out
    # which epoch's weights are kept: the best validation accuracy, ties broken by the lower validation loss
    # ("accuracy+loss"), by the later epoch ("accuracy+last": on a split every epoch gets right, the end of the
    # cosine schedule, as published CIFAR tables report), or the first epoch with the best accuracy ("accuracy";
    # a small split that reaches 100 % early, as MNIST-small's 50 images do, then keeps an undertrained epoch)
    selection: str = "accuracy+loss"
    # the validation split is drawn once from this seed, the same for every run and for the GAN's hold-out;
    # None: each run's seed draws its own split (the first study's protocol; the GAN then saw them)
    split_seed: int | None = 0
    # train in channels-last memory layout: the same arithmetic in another order, about 1.2x faster on a CPU
    # (benchmarks/study_speed.py); off by default so the digests of studies measured before stay valid
    channels_last: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch < 2 or not 0 < self.val_fraction < 0.5:
            raise ConfigError("the study needs epochs >= 1, batch >= 2 and a validation fraction in (0, 0.5)")
        if self.selection not in SELECTIONS:
            raise ConfigError(f"selection must be one of {', '.join(SELECTIONS)}, got {self.selection!r}")


def split_validation(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stratified (train, val) index tensors of the real training images: ``fraction`` of each class to val."""
    gen = torch.Generator().manual_seed(seed)
    train, val = [], []
    for c in labels.unique().tolist():
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        k = max(1, round(len(idx) * fraction))
        val.append(idx[:k])
        train.append(idx[k:])
    return torch.cat(train).sort().values, torch.cat(val).sort().values


def split_for_run(labels: torch.Tensor, proto: Protocol, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """This run's (train, val) split: the protocol's fixed one, or the run seed's when ``split_seed`` is None."""
    return split_validation(labels, proto.val_fraction, seed if proto.split_seed is None else proto.split_seed)


def validation_names(real: ImageSet, proto: Protocol) -> list[str]:
    """Names of the real images the study validates on: a GAN whose synthetic data is studied must not see them."""
    if proto.split_seed is None:
        raise ConfigError("a per-run validation split (split_seed None) has no one set of images to hold out")
    if len(real.names) != len(real.labels):
        raise ConfigError("the real images carry no names to hold out by")
    _, va = split_for_run(real.labels, proto, 0)
    return sorted(real.names[i] for i in va.tolist())


def first_per_class(labels: torch.Tensor, n: int, classes: list[str], what: str) -> torch.Tensor:
    """Indices of the first ``n`` images of each class, in order; a class with fewer is an error, not a smaller set."""
    picked = [(labels == c).nonzero().flatten()[:n] for c in range(len(classes))]
    if short := [classes[c] or "(unlabelled)" for c, idx in enumerate(picked) if len(idx) < n]:
        raise ConfigError(f"{what}: {n} images a class asked for, but class(es) {', '.join(short)} have fewer")
    return torch.cat(picked).sort().values
