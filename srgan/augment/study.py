"""The downstream study: does added data (classical or synthetic) help a classifier trained to convergence?

The protocol, in the form a reviewer would accept:

* a standard small classifier (:class:`~srgan.archs.classifier.ResNet20`), SGD with Nesterov
  momentum and a cosine schedule over whole epochs of the *real* training images, with the
  field's standard augmentation (4-px padded random crop, horizontal flip unless ``flip=False``);
* a validation split carved from the real training images (stratified, drawn once from
  ``split_seed``) picks the epoch; the same images are held out of the GAN's training
  (:func:`validation_names`), so nothing the study chooses on was seen by the generator; the test
  folder is only ever scored with the chosen weights, never used to choose anything;
* every arm (real, real + classical, real + synthetic, filtered, soft labels, pre-training, ...)
  runs with the same seeds, so seed ``k`` of every arm shares its initialisation and batch order;
  the difference to real-only is reported per seed, with its mean and a 95 % t interval;
* an arm that fills half of each batch with added images takes twice real-only's steps per epoch of the real
  images, so a real-only control over twice the epochs (``real-x2``) shows what the longer schedule alone gives;
* real-only over more epochs (``real-x2``, ``--longer-controls``) shows, on validation, whether the baseline has
  stopped gaining (the report's convergence line);
* ``budget`` (seconds per arm) caps the epochs on a slow machine; the report states what ran.

Synthetic data can be used three ways besides plain mixing (each an :class:`Arm` option):
filtered (kept only when a classifier trained on the real images agrees with its label at
confidence >= ``threshold``), soft-labelled (trained towards that classifier's probabilities
instead of the hard label), or used for pre-training before fine-tuning on the real images. An arm that draws a
classical preset anew for every batch can also take a share of each batch in soft-labelled synthetic images
(``online-medium+soft@0.2``); the report reads it against the same preset alone.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from srgan.archs.classifier import ResNet20, class_probs
from srgan.augment.classical import source_of
from srgan.augment.study_arms import Arm, default_arms
from srgan.augment.study_protocol import Protocol, first_per_class, split_for_run, split_validation, validation_names
from srgan.augment.study_runs import STAGES, ArmResult, Resume, Run
from srgan.augment.study_shift import copy_shift
from srgan.augment.study_summary import compare, summarize
from srgan.data.labelled import ImageSet
from srgan.device import processor
from srgan.errors import ConfigError
from srgan.progress import Progress, report

if TYPE_CHECKING:
    from srgan.augment.study_cache import StudyCache

__all__ = ["STAGES", "Arm", "ArmResult", "Protocol", "Resume", "Run", "classifier_from_state", "compare",
           "default_arms", "filter_by_confidence", "run_arm", "run_study", "split_validation", "summarize", "train",
           "train_teacher", "validation_names"]  # fmt: skip

log = logging.getLogger(__name__)


def _cpu(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v.detach().cpu().clone() for k, v in state.items()}


def _to(t: torch.Tensor, dev: torch.device) -> torch.Tensor:
    """A small CPU tensor onto ``dev`` without making the host wait for the GPU."""
    return t.pin_memory().to(dev, non_blocking=True) if dev.type == "cuda" else t


def _augment(x: torch.Tensor, flip: bool, gen: torch.Generator) -> torch.Tensor:
    """4-px padded random crop (per image) and random horizontal flips: the standard CIFAR recipe."""
    n, _, h, w = x.shape
    dev = x.device
    padded = F.pad(x, (4, 4, 4, 4), mode="reflect")
    dy = _to(torch.randint(0, 9, (n,), generator=gen), dev)  # from the CPU generator: the same on any device
    dx = _to(torch.randint(0, 9, (n,), generator=gen), dev)
    rows = (dy[:, None] + torch.arange(h, device=dev)[None, :])[:, None, :, None].expand(n, x.shape[1], h, w + 8)
    out = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w, device=dev)[None, :])[:, None, None, :].expand(n, x.shape[1], h, w)
    out = out.gather(3, cols)
    if flip:
        mirror = _to(torch.rand(n, generator=gen) < 0.5, dev)
        out = torch.where(mirror[:, None, None, None], out.flip(3), out)
    return out


def _targets(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Soft targets ``(N, K)`` as they are; hard labels ``(N,)`` one-hot."""
    return labels if labels.ndim == 2 else F.one_hot(labels, num_classes).float()


def validation_scores(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Accuracy and mean cross-entropy on a held-out split."""
    p = class_probs(model, x)
    loss = -torch.log(p.gather(1, y[:, None]).clamp_min(1e-12)).mean()
    return float((p.argmax(1) == y).float().mean()), float(loss)


def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((class_probs(model, x).argmax(1) == y).float().mean())


def train(real: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor], *, num_classes: int,
          proto: Protocol, seed: int, added: tuple[torch.Tensor, torch.Tensor] | None = None,
          real_fraction: float = 0.5, epochs: int | None = None, init: dict[str, Any] | None = None,
          progress: Progress | None = None, device: str | torch.device = "cpu", resume: Resume | None = None,
          transform: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
          mixed: tuple[torch.Tensor, torch.Tensor, float] | None = None) -> tuple[torch.nn.Module, Run]:  # fmt: skip
    """Train a ResNet-20; keep the weights of the epoch with the best validation accuracy.

    An epoch is one pass over the real images. With ``added`` (images and hard labels ``(N,)`` or
    soft targets ``(N, K)``), every batch holds ``real_fraction`` real images and the rest added ones, each batch of
    those through ``transform`` (with the run's generator) when given. ``mixed`` (images, labels or targets,
    share) fills that share of every batch from a second set, not through ``transform``, in place of as many
    ``added`` images.
    On ``device`` (e.g. ``"cuda"``) the training images live there; the batch order and augmentation
    come from the same seeded CPU generator as on the CPU, so only the arithmetic differs. With ``resume``, the
    run saves its state between epochs and goes on from a saved one (see :class:`Resume`).
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    dev = torch.device(device)
    x, y = real[0].to(dev), real[1].to(dev)
    if added is not None:
        added = (added[0].to(dev), added[1].to(dev))
    if mixed is not None:
        mixed = (mixed[0].to(dev), mixed[1].to(dev), mixed[2])
    layout = torch.channels_last if proto.channels_last else torch.contiguous_format
    model = ResNet20(channels=x.shape[1], num_classes=num_classes).to(dev, memory_format=layout)  # type: ignore[call-overload]
    if init is not None:
        model.load_state_dict(init)
    n_epochs = epochs or proto.epochs
    n_real = proto.batch if added is None else max(1, round(proto.batch * real_fraction))
    n_mixed = 0 if mixed is None else round(proto.batch * mixed[2])
    if mixed is not None and not 0 < n_mixed < proto.batch - n_real:
        raise ConfigError(f"a mixed-in share of {mixed[2]:g} leaves no room in a batch of {proto.batch} with "
                          f"{n_real} real images")  # fmt: skip
    steps_per_epoch = max(1, math.ceil(x.shape[0] / n_real))
    opt = torch.optim.SGD(model.parameters(), lr=proto.lr, momentum=0.9, nesterov=True, weight_decay=proto.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=n_epochs * steps_per_epoch)
    tick = report(progress)
    best: tuple[float, int, dict[str, Any]] = (-1.0, 0, {})
    best_key = (-1.0, -math.inf)
    shape = {"seed": seed, "epochs": n_epochs, "steps_per_epoch": steps_per_epoch, "n_real": n_real,
             "n_added": 0 if added is None else int(added[0].shape[0]), "device": dev.type}  # fmt: skip
    if mixed is not None:
        shape["n_mixed"] = [n_mixed, int(mixed[0].shape[0])]
    saved = resume.load(shape) if resume is not None else None
    start, spent = 0, 0.0
    if saved is not None:
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["opt"])
        sched.load_state_dict(saved["sched"])
        gen.set_state(saved["gen"])
        torch.set_rng_state(saved["rng"])
        best, best_key = (saved["best_acc"], saved["best_epoch"], saved["best_state"]), tuple(saved["best_key"])
        start, spent = saved["epoch"], saved["seconds"]
        log.info("resumed at epoch %d of %d from %s", start, n_epochs, resume.path if resume else "")
    hw = list(dict.fromkeys([*(saved.get("hardware", ["not recorded"]) if saved else []), processor(dev)]))
    t0 = time.perf_counter() - spent
    last_save = time.perf_counter()
    epoch = start
    for epoch in range(start + 1, n_epochs + 1):
        model.train()
        order = _to(torch.randperm(x.shape[0], generator=gen), dev)
        for s in range(steps_per_epoch):
            idx = order[(s * n_real) % x.shape[0] :][:n_real]
            xb, tb = x[idx], F.one_hot(y[idx], num_classes).float()
            if added is not None and n_real < proto.batch:
                jdx = _to(torch.randint(0, added[0].shape[0], (proto.batch - n_real - n_mixed,), generator=gen), dev)
                extra_x = added[0][jdx] if transform is None else transform(added[0][jdx], gen)
                xb, tb = torch.cat([xb, extra_x]), torch.cat([tb, _targets(added[1][jdx], num_classes)])
                if mixed is not None:
                    kdx = _to(torch.randint(0, mixed[0].shape[0], (n_mixed,), generator=gen), dev)
                    xb, tb = torch.cat([xb, mixed[0][kdx]]), torch.cat([tb, _targets(mixed[1][kdx], num_classes)])
            xb = _augment(xb, proto.flip, gen).contiguous(memory_format=layout)
            loss = torch.sum(-tb * F.log_softmax(model(xb), 1), 1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        acc, val_loss = validation_scores(model, *val)
        tie = {"accuracy+loss": -val_loss, "accuracy+last": float(epoch)}.get(proto.selection, -math.inf)
        key = (acc, tie)
        if key > best_key:
            best_key, best = key, (acc, epoch, {k: v.detach().clone() for k, v in model.state_dict().items()})
        if resume is not None and (epoch == n_epochs or time.perf_counter() - last_save >= resume.every):
            resume.save(shape, {"model": _cpu(model.state_dict()), "opt": opt.state_dict(),
                                "sched": sched.state_dict(), "gen": gen.get_state(), "rng": torch.get_rng_state(),
                                "best_acc": best[0], "best_epoch": best[1], "best_state": _cpu(best[2]),
                                "best_key": list(best_key), "epoch": epoch, "hardware": hw,
                                "seconds": time.perf_counter() - t0})  # fmt: skip
            last_save = time.perf_counter()
        tick(epoch, n_epochs, val=f"{acc:.3f}")
        if proto.budget is not None and time.perf_counter() - t0 > proto.budget:
            log.info("budget reached after %d of %d epochs", epoch, n_epochs)
            break
    model.load_state_dict(best[2])
    return model.eval(), Run(best[0], float("nan"), best[1], epoch, time.perf_counter() - t0, str(dev),
                             torch.get_num_threads(), " + ".join(hw))  # fmt: skip


def classifier_from_state(real: ImageSet, state: dict[str, Any], device: str | torch.device) -> torch.nn.Module:
    """A ResNet-20 for ``real``'s images and classes with saved weights (a cached teacher), in eval mode."""
    model = ResNet20(channels=real.images.shape[1], num_classes=len(real.classes))
    model.load_state_dict(state)
    return model.to(device).eval()


def filter_by_confidence(teacher: torch.nn.Module, synth: tuple[torch.Tensor, torch.Tensor],
                         threshold: float) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """The synthetic images the real-data classifier labels as their class with probability >= ``threshold``."""
    p = class_probs(teacher, synth[0])
    keep = p.gather(1, synth[1][:, None]).flatten() >= threshold
    return synth[0][keep], synth[1][keep]


def run_arm(arm: Arm, data: dict[str, ImageSet], test: ImageSet, *, proto: Protocol, seed: int,
            teacher: torch.nn.Module | None = None, device: str | torch.device = "cpu",
            progress: Progress | None = None,
            resume: Callable[[str], Resume] | None = None) -> tuple[Run, int, torch.nn.Module]:  # fmt: skip
    """One seed of one arm: the run (test accuracy at the validation-chosen epoch), the images added, the model.

    ``teacher`` (a classifier trained on the real images with this seed's split) is needed by the
    filtered and soft-label arms. ``resume`` gives each training stage (``"pretrain"``, ``"train"``) the
    place it keeps its state between epochs; ``progress`` hears of every epoch.
    """
    stage: Callable[[str], Resume | None] = resume or (lambda name: None)
    real = data["real"]
    tr, va = split_for_run(real.labels, proto, seed)
    train_set, val_set = (real.images[tr], real.labels[tr]), (real.images[va], real.labels[va])
    n_cls = len(real.classes)
    added: tuple[torch.Tensor, torch.Tensor] | None = None
    if arm.extra:
        parts = []
        for name in arm.extra:
            s = data[name]
            xs, ys = s.images, s.labels
            if name == "synthetic" and arm.per_class:  # generated images are drawn independently: the first N will do
                keep = first_per_class(ys, arm.per_class, real.classes, f"arm {arm.name}")
                xs, ys = xs[keep], ys[keep]
            if name == "classical" and s.names and real.names:  # copies of validation images would leak them
                held = {real.names[i] for i in va.tolist()}
                keep = torch.tensor([i for i, n in enumerate(s.names) if source_of(n) not in held], dtype=torch.long)
                xs, ys = xs[keep], ys[keep]
            if name == "synthetic" and arm.threshold is not None:
                if teacher is None:
                    raise ConfigError(f"arm {arm.name}: filtering needs a classifier trained on the real images")
                xs, ys = filter_by_confidence(teacher, (xs, ys), arm.threshold)
            targets: torch.Tensor = F.one_hot(ys, n_cls).float()
            if name == "synthetic" and arm.soft_labels:
                if teacher is None:
                    raise ConfigError(f"arm {arm.name}: soft labels need a classifier trained on the real images")
                targets = class_probs(teacher, xs)
            parts.append((xs, targets))
        added = (torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]))
        if added[0].shape[0] == 0:
            raise ConfigError(f"arm {arm.name}: nothing left to add (is the filter threshold too high?)")
    mixed, online = None, None
    if arm.online is not None:  # albumentations, imported only by the arm that needs it
        from srgan.augment.classical import batch_augmenter

        online = batch_augmenter(arm.online, flip=proto.flip)
        if added is not None:  # synthetic images, mixed in beside the real ones drawn anew through the preset
            mixed = (*added, arm.mixed_share or 0.0)
        added = train_set
    n_added = sum(int(t[0].shape[0]) for t in (added, mixed) if t is not None)
    if arm.pretrain and added is not None:
        pre, pre_run = train((added[0], added[1].argmax(1)), val_set, num_classes=n_cls, proto=proto, seed=seed,
                             device=device, progress=progress, resume=stage("pretrain"))  # fmt: skip
        model, run = train(train_set, val_set, num_classes=n_cls, proto=proto, seed=seed, init=pre.state_dict(),
                           device=device, progress=progress, resume=stage("train"))  # fmt: skip
        run.seconds += pre_run.seconds  # the arm's cost is both stages
    else:
        model, run = train(train_set, val_set, num_classes=n_cls, proto=proto, seed=seed, added=added,
                           real_fraction=arm.real_fraction, epochs=proto.epochs * arm.epoch_scale,
                           device=device, progress=progress, resume=stage("train"), transform=online,
                           mixed=mixed)  # fmt: skip
    run.test_accuracy = accuracy(model, test.images, test.labels)
    return run, n_added, model


def _epochs_of(tick: Progress, runs_done: int, runs: int, arm: Arm, seed: int) -> Progress:
    """A run's per-epoch progress, heard by the study's as (runs done, runs in all, which run, its epoch)."""

    def epochs(done: int, total: int, **info: object) -> None:
        tick(runs_done, runs, arm=arm.name, seed=seed, epoch=f"{done}/{total}", **info)

    return epochs


def run_study(data: dict[str, ImageSet], test: ImageSet, *, proto: Protocol, seeds: int | Sequence[int],
              arms: list[Arm], progress: Progress | None = None, device: str | torch.device = "cpu",
              cache: StudyCache | None = None) -> dict[str, Any]:  # fmt: skip
    """Every arm over ``seeds`` (a count or the seeds themselves); the winning synthetic recipe is chosen on
    validation, never on test; where validation ties several, none is chosen and the verdict reports each.

    The real-only arm is the baseline of every paired difference and each seed's teacher (for the
    filtered and soft-label arms). With ``cache``, finished runs are read back instead of rerun and new
    ones are written as they finish, so an interrupted study resumes and seeds can run in parallel; a run
    that was killed goes on from the last epoch it saved there. ``progress`` hears of every run and epoch.
    """
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    real_arm = next((a for a in arms if a.key == "real"), None)
    if real_arm is None:
        raise ConfigError("the study needs the real-only arm: it is the baseline and each seed's teacher")
    rest = [a for a in arms if a is not real_arm]
    results = {a.name: ArmResult(a) for a in [real_arm, *rest]}
    # real first when an arm needs its teacher, else last (a parallel process may have cached it by then)
    arms = [real_arm, *rest] if any(a.needs_teacher for a in rest) else [*rest, real_arm]
    tick = report(progress)
    total, keys, shift = len(seed_list) * len(arms), {a.key for a in arms}, None
    for si, seed in enumerate(seed_list):
        teacher: torch.nn.Module | None = None
        loaded = [cache.load(seed, a) if cache is not None else None for a in arms]
        # the teacher is needed only to train an arm that filters or soft-labels and is not cached yet
        needs_teacher = any(a.needs_teacher and run is None for a, run in zip(arms, loaded, strict=True))
        for i, arm in enumerate(arms):
            tick(si * len(arms) + i, total, arm=arm.name, seed=seed)
            cached = loaded[i]
            if cached is not None and arm is real_arm and cache is not None and needs_teacher:
                state = cache.load_teacher(seed)  # without it the real run is redone, to get the teacher
                teacher = None if state is None else classifier_from_state(data["real"], state, device)
                cached = None if state is None else cached
            if cached is not None:
                run, n_added = cached
            else:
                stage = functools.partial(cache.resume, seed, arm) if cache is not None else None
                run, n_added, model = run_arm(arm, data, test, proto=proto, seed=seed, teacher=teacher, device=device,
                                              progress=_epochs_of(tick, si * len(arms) + i, total, arm, seed),
                                              resume=stage)  # fmt: skip
                if arm is real_arm:
                    teacher = model
                if cache is not None:
                    if arm is real_arm:
                        cache.save_teacher(seed, model)
                    cache.save(seed, arm, run, n_added)
                    cache.clear_partial(seed, arm)
            results[arm.name].runs.append(run)
            results[arm.name].n_extra = n_added
            log.info("study seed %d %s: val %.4f test %.4f (epoch %d)%s", seed, arm.name, run.val_accuracy,
                     run.test_accuracy, run.epoch, " (cached)" if cached else "")  # fmt: skip
        if shift is None and "classical" in keys:  # the first seed with a teacher: how it sees the classical copies
            state = teacher.state_dict() if teacher is not None else cache.load_teacher(seed) if cache else None
            if state is not None:
                real, val = data["real"], split_for_run(data["real"].labels, proto, seed)[1]
                shift = copy_shift(classifier_from_state(real, state, device), real, data["classical"], val, seed)
    tick(total, total)
    return summarize(results, real_arm, proto, len(seed_list), shift)


def train_teacher(real: ImageSet, *, proto: Protocol, seed: int = 0, progress: Progress | None = None,
                  device: str | torch.device = "cpu") -> torch.nn.Module:  # fmt: skip
    """A classifier of the real images (epoch chosen on a validation split of them) to filter and soft-label with."""
    tr, va = split_for_run(real.labels, proto, seed)
    model, run = train((real.images[tr], real.labels[tr]), (real.images[va], real.labels[va]),
                       num_classes=len(real.classes), proto=proto, seed=seed, progress=progress,
                       device=device)  # fmt: skip
    log.info("teacher classifier: %.1f %% on its validation split (epoch %d)", 100 * run.val_accuracy, run.epoch)
    return model
