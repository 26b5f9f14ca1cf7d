"""The downstream study: does added data (classical or synthetic) help a classifier trained to convergence?

The protocol, in the form a reviewer would accept:

* a standard small classifier (:class:`~srgan.archs.classifier.ResNet20`), SGD with Nesterov
  momentum and a cosine schedule over whole epochs of the *real* training images, with the
  field's standard augmentation (4-px padded random crop, horizontal flip unless ``flip=False``);
* a validation split carved from the real training images (stratified, seeded) picks the epoch;
  the test folder is only ever scored with the chosen weights, never used to choose anything;
* every arm (real, real + classical, real + synthetic, filtered, soft labels, pre-training, ...)
  runs with the same seeds, so seed ``k`` of every arm shares its split, initialisation and batch
  order; the difference to real-only is reported per seed, with its mean and a 95 % t interval;
* ``budget`` (seconds per arm) caps the epochs on a slow machine; the report states what ran.

Synthetic data can be used three ways besides plain mixing (each an :class:`Arm` option):
filtered (kept only when a classifier trained on the real images agrees with its label at
confidence >= ``threshold``), soft-labelled (trained towards that classifier's probabilities
instead of the hard label), or used for pre-training before fine-tuning on the real images.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats

from srgan.archs.classifier import ResNet20
from srgan.data.labelled import ImageSet
from srgan.errors import ConfigError
from srgan.progress import Progress, report

__all__ = [
    "Arm",
    "Protocol",
    "compare",
    "default_arms",
    "filter_by_confidence",
    "run_arm",
    "run_study",
    "split_validation",
    "train",
    "train_teacher",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Protocol:
    epochs: int = 60
    batch: int = 128
    lr: float = 0.1
    weight_decay: float = 5e-4
    val_fraction: float = 0.1
    flip: bool = True
    budget: float | None = None  # seconds per run; epochs stop early (and are reported) when it runs out

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch < 2 or not 0 < self.val_fraction < 0.5:
            raise ConfigError("the study needs epochs >= 1, batch >= 2 and a validation fraction in (0, 0.5)")


@dataclass(frozen=True)
class Arm:
    """What one arm adds to the real images, and how."""

    name: str
    extra: tuple[str, ...] = ()  # names of added sets: "classical", "synthetic"
    real_fraction: float = 0.5  # share of every batch drawn from the real images when sets are added
    threshold: float | None = None  # keep synthetic images the real classifier labels right at >= this
    soft_labels: bool = False  # synthetic targets: the real classifier's probabilities
    pretrain: bool = False  # epochs on the added sets first, then the real-only schedule

    @property
    def key(self) -> str:
        """Short name for choosing arms (``--arms``): real, synthetic, filtered-T, soft, pretrain, classical, combo."""
        if not self.extra:
            return "real"
        if "classical" in self.extra:
            return "combo" if "synthetic" in self.extra else "classical"
        if self.pretrain:
            return "pretrain"
        if self.soft_labels:
            return "soft"
        return "synthetic" if self.threshold is None else f"filtered-{self.threshold:g}"


@dataclass
class Run:
    val_accuracy: float
    test_accuracy: float
    epoch: int  # the epoch chosen on validation
    epochs_run: int
    seconds: float


@dataclass
class ArmResult:
    arm: Arm
    runs: list[Run] = field(default_factory=list)
    n_extra: int = 0

    def test(self) -> np.ndarray:
        return np.array([r.test_accuracy for r in self.runs])


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


def _augment(x: torch.Tensor, flip: bool, gen: torch.Generator) -> torch.Tensor:
    """4-px padded random crop (per image) and random horizontal flips: the standard CIFAR recipe."""
    n, _, h, w = x.shape
    padded = F.pad(x, (4, 4, 4, 4), mode="reflect")
    dy = torch.randint(0, 9, (n,), generator=gen)
    dx = torch.randint(0, 9, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None].expand(n, x.shape[1], h, w + 8)
    out = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :].expand(n, x.shape[1], h, w)
    out = out.gather(3, cols)
    if flip:
        mirror = torch.rand(n, generator=gen) < 0.5
        out = torch.where(mirror[:, None, None, None], out.flip(3), out)
    return out


@torch.no_grad()
def _probs(model: torch.nn.Module, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
    model.eval()
    return torch.cat([F.softmax(model(x[i : i + batch]), 1) for i in range(0, x.shape[0], batch)])


def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((_probs(model, x).argmax(1) == y).float().mean())


def train(real: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor], *, num_classes: int,
          proto: Protocol, seed: int, added: tuple[torch.Tensor, torch.Tensor] | None = None,
          real_fraction: float = 0.5, epochs: int | None = None, init: dict[str, Any] | None = None,
          progress: Progress | None = None) -> tuple[torch.nn.Module, Run]:  # fmt: skip
    """Train a ResNet-20; keep the weights of the epoch with the best validation accuracy.

    An epoch is one pass over the real images. With ``added`` (images and hard labels ``(N,)`` or
    soft targets ``(N, K)``), every batch holds ``real_fraction`` real images and the rest added ones.
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x, y = real
    model = ResNet20(channels=x.shape[1], num_classes=num_classes)
    if init is not None:
        model.load_state_dict(init)
    n_epochs = epochs or proto.epochs
    n_real = proto.batch if added is None else max(1, round(proto.batch * real_fraction))
    steps_per_epoch = max(1, math.ceil(x.shape[0] / n_real))
    opt = torch.optim.SGD(model.parameters(), lr=proto.lr, momentum=0.9, nesterov=True, weight_decay=proto.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=n_epochs * steps_per_epoch)
    tick = report(progress)
    best: tuple[float, int, dict[str, Any]] = (-1.0, 0, {})
    t0 = time.perf_counter()
    epoch = 0
    for epoch in range(1, n_epochs + 1):
        model.train()
        order = torch.randperm(x.shape[0], generator=gen)
        for s in range(steps_per_epoch):
            idx = order[(s * n_real) % x.shape[0] :][:n_real]
            xb, tb = x[idx], F.one_hot(y[idx], num_classes).float()
            if added is not None and n_real < proto.batch:
                jdx = torch.randint(0, added[0].shape[0], (proto.batch - n_real,), generator=gen)
                extra_t = added[1][jdx]
                extra_t = extra_t if extra_t.ndim == 2 else F.one_hot(extra_t, num_classes).float()
                xb, tb = torch.cat([xb, added[0][jdx]]), torch.cat([tb, extra_t])
            loss = torch.sum(-tb * F.log_softmax(model(_augment(xb, proto.flip, gen)), 1), 1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        acc = accuracy(model, *val)
        if acc > best[0]:
            best = (acc, epoch, {k: v.detach().clone() for k, v in model.state_dict().items()})
        tick(epoch, n_epochs, val=f"{acc:.3f}")
        if proto.budget is not None and time.perf_counter() - t0 > proto.budget:
            log.info("budget reached after %d of %d epochs", epoch, n_epochs)
            break
    model.load_state_dict(best[2])
    return model.eval(), Run(best[0], float("nan"), best[1], epoch, time.perf_counter() - t0)


def filter_by_confidence(teacher: torch.nn.Module, synth: tuple[torch.Tensor, torch.Tensor],
                         threshold: float) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """The synthetic images the real-data classifier labels as their class with probability >= ``threshold``."""
    p = _probs(teacher, synth[0])
    keep = p.gather(1, synth[1][:, None]).flatten() >= threshold
    return synth[0][keep], synth[1][keep]


def run_arm(arm: Arm, data: dict[str, ImageSet], test: ImageSet, *, proto: Protocol, seed: int,
            teacher: torch.nn.Module | None = None) -> tuple[Run, int, torch.nn.Module]:  # fmt: skip
    """One seed of one arm: the run (test accuracy at the validation-chosen epoch), the images added, the model.

    ``teacher`` (a classifier trained on the real images with this seed's split) is needed by the
    filtered and soft-label arms.
    """
    real = data["real"]
    tr, va = split_validation(real.labels, proto.val_fraction, seed)
    train_set, val_set = (real.images[tr], real.labels[tr]), (real.images[va], real.labels[va])
    n_cls = len(real.classes)
    added: tuple[torch.Tensor, torch.Tensor] | None = None
    if arm.extra:
        parts = []
        for name in arm.extra:
            s = data[name]
            xs, ys = s.images, s.labels
            if name == "synthetic" and arm.threshold is not None:
                if teacher is None:
                    raise ConfigError(f"arm {arm.name}: filtering needs a classifier trained on the real images")
                xs, ys = filter_by_confidence(teacher, (xs, ys), arm.threshold)
            targets: torch.Tensor = F.one_hot(ys, n_cls).float()
            if name == "synthetic" and arm.soft_labels:
                if teacher is None:
                    raise ConfigError(f"arm {arm.name}: soft labels need a classifier trained on the real images")
                targets = _probs(teacher, xs)
            parts.append((xs, targets))
        added = (torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]))
    n_added = 0 if added is None else int(added[0].shape[0])
    if added is not None and n_added == 0:
        raise ConfigError(f"arm {arm.name}: nothing left to add (is the filter threshold too high?)")
    if arm.pretrain and added is not None:
        pre, _ = train((added[0], added[1].argmax(1)), val_set, num_classes=n_cls, proto=proto, seed=seed)
        model, run = train(train_set, val_set, num_classes=n_cls, proto=proto, seed=seed, init=pre.state_dict())
    else:
        model, run = train(train_set, val_set, num_classes=n_cls, proto=proto, seed=seed, added=added,
                           real_fraction=arm.real_fraction)  # fmt: skip
    run.test_accuracy = accuracy(model, test.images, test.labels)
    return run, n_added, model


def compare(baseline: np.ndarray, other: np.ndarray) -> dict[str, float]:
    """Paired difference (other - baseline) over seeds: mean, std and a 95 % t confidence interval."""
    d = other - baseline
    n = len(d)
    mean = float(d.mean())
    if n < 2:
        return {"mean": mean, "std": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "n": n}
    sd = float(d.std(ddof=1))
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return {"mean": mean, "std": sd, "ci_low": mean - half, "ci_high": mean + half, "n": n}


def default_arms(has_classical: bool, thresholds: tuple[float, ...] = (0.5, 0.9), real_fraction: float = 0.5,
                 keys: tuple[str, ...] | None = None) -> list[Arm]:  # fmt: skip
    """Real first (it is every seed's teacher), then each synthetic recipe, then classical and the combination.

    ``keys``: keep only these arms (see :attr:`Arm.key`); real is always kept.
    """
    arms = [Arm("real"), Arm("real + synthetic", ("synthetic",), real_fraction)]
    arms += [
        Arm(f"real + synthetic, filtered at {t:g}", ("synthetic",), real_fraction, threshold=t) for t in thresholds
    ]
    arms += [Arm("real + synthetic, soft labels", ("synthetic",), real_fraction, soft_labels=True),
             Arm("synthetic pre-training, then real", ("synthetic",), pretrain=True)]  # fmt: skip
    if has_classical:
        arms += [Arm("real + classical", ("classical",), real_fraction),
                 Arm("real + classical + synthetic, filtered", ("classical", "synthetic"), real_fraction,
                     threshold=max(thresholds))]  # fmt: skip
    if keys is not None:
        known = {a.key for a in arms}
        if unknown := sorted(set(keys) - known):
            raise ConfigError(f"unknown arm(s) {', '.join(unknown)}; choose from {', '.join(a.key for a in arms)}")
        arms = [a for a in arms if a.key == "real" or a.key in keys]
    return arms


def run_study(data: dict[str, ImageSet], test: ImageSet, *, proto: Protocol, seeds: int, arms: list[Arm],
              progress: Progress | None = None) -> dict[str, Any]:  # fmt: skip
    """Every arm over ``seeds`` seeds; the synthetic recipe that wins is chosen on validation, never on test."""
    if arms[0].extra:
        raise ConfigError("the first arm must be real-only: it trains each seed's teacher")
    results = {a.name: ArmResult(a) for a in arms}
    tick = report(progress)
    for seed in range(seeds):
        teacher = None
        for i, arm in enumerate(arms):
            tick(seed * len(arms) + i, seeds * len(arms), arm=arm.name, seed=seed)
            run, n_added, model = run_arm(arm, data, test, proto=proto, seed=seed, teacher=teacher)
            if i == 0:
                teacher = model
            results[arm.name].runs.append(run)
            results[arm.name].n_extra = n_added
            log.info("study seed %d %s: val %.4f test %.4f (epoch %d)", seed, arm.name, run.val_accuracy,
                     run.test_accuracy, run.epoch)  # fmt: skip
    tick(seeds * len(arms), seeds * len(arms))
    base = results[arms[0].name].test()
    table: dict[str, Any] = {}
    for name, r in results.items():
        val, test_acc = np.array([x.val_accuracy for x in r.runs]), r.test()
        table[name] = {
            "test_mean": float(test_acc.mean()), "test_std": float(test_acc.std(ddof=1)) if seeds > 1 else 0.0,
            "val_mean": float(val.mean()), "vs_real": compare(base, test_acc), "n_added": r.n_extra,
            "epochs_chosen": [x.epoch for x in r.runs], "epochs_run": [x.epochs_run for x in r.runs],
            "seconds": float(sum(x.seconds for x in r.runs)), "runs": test_acc.tolist(),
        }  # fmt: skip
    synthetic = [a.name for a in arms if "synthetic" in a.extra and "classical" not in a.extra]
    chosen = max(synthetic, key=lambda n: table[n]["val_mean"]) if synthetic else None
    out: dict[str, Any] = {"arms": table, "seeds": seeds, "protocol": proto.__dict__, "chosen_on_validation": chosen}
    classical = "real + classical"
    if classical in table:
        gain = table[classical]["vs_real"]["mean"]
        out["sanity"] = (
            "ok: classical augmentation beats real-only" if gain > 0 else
            "flag: classical augmentation does not beat real-only; on CIFAR-like data that means the classifier "
            "is underfit or the budget too small, so read the synthetic rows with care"
        )  # fmt: skip
    if chosen is not None:
        c = table[chosen]["vs_real"]
        helped = c["ci_low"] > 0 if not math.isnan(c["ci_low"]) else c["mean"] > 0
        out["verdict"] = (f"{chosen} (chosen on validation) changes test accuracy by {100 * c['mean']:+.2f} points "
                          f"(95 % CI {100 * c['ci_low']:+.2f} to {100 * c['ci_high']:+.2f}): "
                          + ("synthetic data helps" if helped else "no gain shown from synthetic data"))  # fmt: skip
    return out


def train_teacher(real: ImageSet, *, proto: Protocol, seed: int = 0) -> torch.nn.Module:
    """A classifier of the real images (epoch chosen on a validation split of them) to filter and soft-label with."""
    tr, va = split_validation(real.labels, proto.val_fraction, seed)
    model, run = train((real.images[tr], real.labels[tr]), (real.images[va], real.labels[va]),
                       num_classes=len(real.classes), proto=proto, seed=seed)  # fmt: skip
    log.info("teacher classifier: %.1f %% on its validation split (epoch %d)", 100 * run.val_accuracy, run.epoch)
    return model
