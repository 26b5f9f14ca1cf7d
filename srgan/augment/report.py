"""Does synthetic data help? GAN-test accuracy, feature FID/KID, and a downstream study.

* GAN-test: a classifier trained on the real images labels the synthetic ones; its accuracy
  says how recognisable each generated class is.
* FID / KID between real and synthetic images on ImageNet SqueezeNet 1.1 features (global
  average of the last feature map, 512-d, inputs resized to 224). These are *not* comparable
  with published FID/KID, which use Inception-v3 features.
* Downstream: the same small CNN trained on real only, real + classical, real + GAN and all
  three, with the same number of optimisation steps, scored on a held-out real test folder;
  mean and spread over seeds.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg
from torch import nn

from srgan.augment.novelty import copy_check, copy_lines, mirrored_pixels, pixels
from srgan.augment.study import Protocol, default_arms, run_study, validation_names
from srgan.augment.study_cache import StudyCache
from srgan.augment.study_summary import study_lines
from srgan.data.labelled import ImageSet, load_images
from srgan.errors import DataError
from srgan.fsutil import atomic_write_bytes
from srgan.imageio import write_image
from srgan.losses.perceptual import load_backbone
from srgan.progress import Progress

__all__ = [
    "SmallCNN",
    "StudyOptions",
    "fid",
    "grid",
    "kid",
    "make_report",
    "squeezenet_features",
    "study_only",
    "train_classifier",
]

log = logging.getLogger(__name__)


class SmallCNN(nn.Module):
    """A compact classifier for 28-32 px images: about 70k parameters, ~8 MFLOP per image.

    Small on purpose: the downstream study trains it many times on a 2-core CPU, and what
    matters is the difference between training sets, not the absolute accuracy.
    """

    def __init__(self, *, channels: int, num_classes: int) -> None:
        super().__init__()

        def block(i: int, o: int) -> list[nn.Module]:
            return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]

        self.net = nn.Sequential(
            *block(channels, 16), nn.MaxPool2d(2),
            *block(16, 32), *block(32, 32), nn.MaxPool2d(2),
            *block(32, 64), *block(64, 64), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Dropout(0.1), nn.Linear(64, num_classes),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def train_classifier(x: torch.Tensor, y: torch.Tensor, *, num_classes: int, steps: int, seed: int,
                     batch: int = 64, flip: bool = False, extra: tuple[torch.Tensor, torch.Tensor] | None = None,
                     real_fraction: float = 0.5) -> SmallCNN:  # fmt: skip
    """Adam with a one-cycle schedule, random 2-px shifts (and horizontal flips when ``flip``).

    With ``extra`` (augmented or synthetic images and labels), every batch holds ``real_fraction``
    real images and the rest drawn from ``extra``, so added data cannot drown out the real set
    however many images it has.
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = SmallCNN(channels=x.shape[1], num_classes=num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    model.train()
    s = x.shape[-1]
    n_real = batch if extra is None else max(1, round(batch * real_fraction))
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (n_real,), generator=gen)
        xb, yb = x[idx], y[idx]
        if extra is not None and n_real < batch:
            jdx = torch.randint(0, extra[0].shape[0], (batch - n_real,), generator=gen)
            xb, yb = torch.cat([xb, extra[0][jdx]]), torch.cat([yb, extra[1][jdx]])
        xb = F.pad(xb, (2, 2, 2, 2), mode="replicate")
        dy, dx = torch.randint(0, 5, (2,), generator=gen).tolist()
        xb = xb[:, :, dy : dy + s, dx : dx + s]
        if flip and torch.rand(1, generator=gen).item() < 0.5:
            xb = xb.flip(3)
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return model.eval()


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
    return torch.cat([model(x[i : i + batch]).argmax(1) for i in range(0, x.shape[0], batch)])


@torch.no_grad()
def squeezenet_features(x: torch.Tensor, weights: str | Path | None = None, batch: int = 100, *,
                        allow_download: bool = False, device: str = "cpu") -> np.ndarray:  # fmt: skip
    """(N, C, S, S) in [-1, 1] -> (N, 512) float64 SqueezeNet 1.1 features (ImageNet weights)."""
    net = load_backbone("squeezenet", weights, allow_download=allow_download).to(device)
    mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1)
    feats = []
    for i in range(0, x.shape[0], batch):
        xb = (x[i : i + batch].to(device) + 1) / 2
        if xb.shape[1] == 1:
            xb = xb.expand(-1, 3, -1, -1)
        xb = F.interpolate(xb, size=(224, 224), mode="bilinear", align_corners=False)
        feats.append(net((xb - mean) / std).mean(dim=(2, 3)).double().cpu())
    return torch.cat(feats).numpy()


def fid(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # dead features, or fewer images than 512, make it singular: expected
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():
            off = np.eye(s1.shape[0]) * 1e-6
            covmean = linalg.sqrtm((s1 + off) @ (s2 + off))
    covmean = np.real(covmean)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def kid(
    a: np.ndarray, b: np.ndarray, *, subsets: int = 20, subset_size: int = 500, seed: int = 0
) -> tuple[float, float]:
    """Kernel Inception Distance (unbiased MMD^2, cubic polynomial kernel): mean and std over subsets."""
    rng = np.random.default_rng(seed)
    m = min(subset_size, a.shape[0], b.shape[0])
    d = a.shape[1]
    vals = []
    for _ in range(subsets):
        x = a[rng.choice(a.shape[0], m, replace=False)]
        y = b[rng.choice(b.shape[0], m, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        mmd = ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (m * (m - 1)) - 2 * kxy.mean()
        vals.append(mmd)
    return float(np.mean(vals)), float(np.std(vals))


def _align(synth: ImageSet, real: ImageSet) -> ImageSet:
    """Map synthetic labels onto the real class order (and channels); refuse unknown classes."""
    unknown = set(synth.classes) - set(real.classes)
    if unknown:
        raise DataError(f"synthetic classes {sorted(unknown)} are not in the real dataset")
    remap = torch.tensor([real.classes.index(c) for c in synth.classes])
    x = synth.images
    if x.shape[1] != real.images.shape[1]:
        x = x.mean(1, keepdim=True) if real.images.shape[1] == 1 else x.expand(-1, 3, -1, -1)
    return ImageSet(x, remap[synth.labels], real.classes, names=synth.names)


@dataclass
class ReportInputs:
    real: Path
    synth: Path
    test: Path | None = None
    classical: Path | None = None
    gan: Path | None = None  # the checkpoint of the GAN that made ``synth``: did it see the validation images?


@dataclass(frozen=True)
class StudyOptions:
    """How the downstream study runs: its protocol, the arms, and where (``device``)."""

    protocol: Protocol
    flip: bool
    thresholds: tuple[float, ...] = (0.5, 0.9)
    real_fraction: float = 0.5
    arms: tuple[str, ...] | None = None
    shares: tuple[float, ...] = ()
    device: str = "cpu"
    cache: str | None = None  # where finished runs are kept (default: the report folder's study_cache)
    counts: tuple[int, ...] = ()  # also the plain and soft-label recipes on the first N synthetic images a class
    longer: tuple[int, ...] = ()  # also real-only over K times the epochs: has real-only stopped gaining?
    online: tuple[str, ...] = ()  # also real + these classical presets drawn anew each batch


def _study_sets(inputs: ReportInputs, size: int, real: ImageSet, synth: ImageSet) -> dict[str, ImageSet]:
    data = {"real": real, "synthetic": synth}
    if inputs.classical is not None:
        data["classical"] = _align(load_images(inputs.classical, size), real)
    return data


def _run_study(data: dict[str, ImageSet], test: ImageSet, opts: StudyOptions, *, seeds: int | Sequence[int],
               out: Path, progress: Progress | None = None) -> dict[str, Any]:  # fmt: skip
    proto = replace(opts.protocol, flip=opts.flip)
    chosen = default_arms("classical" in data, opts.thresholds, opts.real_fraction, opts.arms, opts.shares,
                          opts.counts, opts.longer, opts.online)  # fmt: skip
    cache = StudyCache.of(opts.cache or out / "study_cache", data, test, proto)
    return run_study(data, test, proto=proto, seeds=seeds, arms=chosen, progress=progress, device=opts.device,
                     cache=cache)  # fmt: skip


def study_only(inputs: ReportInputs, out: str | Path, opts: StudyOptions, *, size: int = 32,
               seeds: int | Sequence[int] = 3, progress: Progress | None = None) -> dict[str, Any]:  # fmt: skip
    """Only the downstream study (no GAN-test, no FID), its runs kept in ``opts.cache`` or ``out``/study_cache.

    Run it once per seed in parallel processes (``seeds=[k]``); :func:`make_report` on the same
    ``out`` then reads those runs back instead of training them again.
    """
    if inputs.test is None:
        raise DataError("the downstream study needs a test folder")
    real = load_images(inputs.real, size)
    data = _study_sets(inputs, size, real, _align(load_images(inputs.synth, size), real))
    test = _align(load_images(inputs.test, size), real)
    return _run_study(data, test, opts, seeds=seeds, progress=progress, out=Path(out))


def gan_hold_out(checkpoint: Path | None, real: ImageSet, proto: Protocol) -> str:
    """Whether the GAN behind the synthetic images saw the study's validation images, as a sentence."""
    from srgan.train.loop import read_checkpoint

    if checkpoint is None or not checkpoint.is_file():
        return "no GAN checkpoint was given, so whether the GAN saw the validation images is not known"
    if proto.split_seed is None:
        return "each seed draws its own validation split (the first study's protocol): no GAN was trained without them"
    held = read_checkpoint(checkpoint, "GAN checkpoint")["meta"].get("held_out", [])
    val = validation_names(real, proto)
    if not set(val) - set(held):
        return f"the GAN never saw the {len(val)} validation images (held out of its training)"
    return (f"the GAN was trained on {len(set(val) - set(held))} of the {len(val)} validation images, so choices "
            "made on validation may favour synthetic recipes")  # fmt: skip


def make_report(inputs: ReportInputs, out: str | Path, *, size: int = 32, seeds: int = 3, steps: int = 2000,
                batch: int = 64, weights: str | Path | None = None, flip: bool | None = None,
                real_fraction: float = 0.5, allow_download: bool = False, study: Protocol | None = None,
                thresholds: tuple[float, ...] = (0.5, 0.9), arms: tuple[str, ...] | None = None,
                shares: tuple[float, ...] = (), device: str = "cpu", study_cache: str | None = None,
                counts: tuple[int, ...] = (), longer: tuple[int, ...] = (), online: tuple[str, ...] = (),
                progress: Progress | None = None) -> dict[str, Any]:  # fmt: skip
    """Compute every score and write ``report.md``, ``report.json`` and per-class sample grids into ``out``.

    ``flip``: whether the classifiers see horizontal flips (default: for colour images only;
    digits and text change meaning when mirrored). ``real_fraction``: share of real images in
    every batch of the downstream runs that add images to the real set.
    """
    out_dir = Path(out)
    real = load_images(inputs.real, size)
    synth = _align(load_images(inputs.synth, size), real)
    n_cls = len(real.classes)
    flip = real.images.shape[1] == 3 if flip is None else flip
    result: dict[str, Any] = {"real": str(inputs.real), "synthetic": str(inputs.synth), "classes": real.classes,
                              "n_real": int(real.images.shape[0]), "n_synthetic": int(synth.images.shape[0]),
                              "classifier_steps": steps, "seeds": seeds, "image_size": size, "flip": flip,
                              "real_fraction": real_fraction}  # fmt: skip
    # GAN-test: recognisability of each synthetic class.
    clf = train_classifier(real.images, real.labels, num_classes=n_cls, steps=steps, seed=0, flip=flip, batch=batch)
    pred = predict(clf, synth.images)
    per_class = {c: float((pred[synth.labels == i] == i).float().mean()) for i, c in enumerate(real.classes)
                 if (synth.labels == i).any()}  # fmt: skip
    result["gan_test_accuracy"] = float((pred == synth.labels).float().mean())
    result["gan_test_per_class"] = per_class
    test = None if inputs.test is None else _align(load_images(inputs.test, size), real)
    if test is not None:  # the reference GAN-test is read against (Shmelkov et al., 2018)
        result["gan_test_classifier_real_accuracy"] = float((predict(clf, test.images) == test.labels).float().mean())
    # Feature distances.
    fr = squeezenet_features(real.images, weights, allow_download=allow_download, device=device)
    fs = squeezenet_features(synth.images, weights, allow_download=allow_download, device=device)
    result["fid_squeezenet"] = fid(fr, fs)
    kmean, kstd = kid(fr, fs)
    result["kid_squeezenet"] = {"mean": kmean, "std": kstd}
    result["copying"] = copy_check(pixels(real.images), pixels(synth.images),  # mirror copies count when flips do
                                   test=None if test is None else pixels(test.images),
                                   mirrored=mirrored_pixels(real.images) if flip else None)  # fmt: skip
    # Downstream value: the study protocol (augment.study), or the quick fixed-step one.
    if test is not None and study is not None:
        opts = StudyOptions(study, flip, thresholds, real_fraction, arms, shares, device, study_cache, counts, longer,
                            online)  # fmt: skip
        result["study"] = _run_study(_study_sets(inputs, size, real, synth), test, opts, seeds=seeds,
                                     progress=progress, out=out_dir)  # fmt: skip
        result["n_test"] = int(test.images.shape[0])
        result["verdict"] = result["study"].get("verdict", "no synthetic recipe was run")
        result["gan_hold_out"] = gan_hold_out(inputs.gan, real, study)
    elif test is not None:
        sets: dict[str, list[ImageSet]] = {"real": [real], "real + GAN": [real, synth]}
        if inputs.classical is not None:
            classical = _align(load_images(inputs.classical, size), real)
            sets["real + classical"] = [real, classical]
            sets["real + classical + GAN"] = [real, classical, synth]
        table: dict[str, dict[str, Any]] = {}
        for name, parts in sets.items():
            extra = None
            if len(parts) > 1:
                extra = (torch.cat([p.images for p in parts[1:]]), torch.cat([p.labels for p in parts[1:]]))
            accs = []
            for s in range(seeds):
                model = train_classifier(real.images, real.labels, num_classes=n_cls, steps=steps, seed=100 + s,
                                         flip=flip, batch=batch, extra=extra, real_fraction=real_fraction)  # fmt: skip
                accs.append(float((predict(model, test.images) == test.labels).float().mean()))
            n_train = sum(int(p.labels.shape[0]) for p in parts)
            table[name] = {"mean": float(np.mean(accs)), "std": float(np.std(accs)), "runs": accs, "n_train": n_train}
            log.info("downstream %s: %.4f +- %.4f", name, np.mean(accs), np.std(accs))
        result["downstream"] = table
        result["n_test"] = int(test.images.shape[0])
        base = table["real"]["mean"]
        best = max(table, key=lambda k: table[k]["mean"])
        gain = table[best]["mean"] - base
        spread = max(table[best]["std"], table["real"]["std"])
        result["verdict"] = (
            f"{best} beats real only by {100 * gain:.2f} points" if best != "real" and gain > spread
            else "no measurable gain over training on the real images alone"
        )  # fmt: skip
    _write_report(result, synth, real, out_dir)
    return result


def grid(xs: torch.Tensor, nrow: int) -> np.ndarray:
    """Images in [-1, 1] as one uint8 grid (HWC), white between them."""
    from torchvision.utils import make_grid

    g = make_grid(xs, nrow=nrow, padding=2, pad_value=1.0, normalize=True, value_range=(-1, 1))
    return (g * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()[:, :, : xs.shape[1]]


def _write_report(result: dict[str, Any], synth: ImageSet, real: ImageSet, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for i, c in enumerate(result["classes"]):
        xs = synth.images[synth.labels == i][:32]
        if xs.shape[0] > 0:
            write_image(out_dir / f"samples_{c or 'all'}.png", grid(xs, 8))
    if pairs := result.get("copying", {}).get("closest"):  # each synthetic sample above its nearest real image
        s_idx, r_idx = [p[0] for p in pairs], [p[1] for p in pairs]
        write_image(out_dir / "nearest_pairs.png", grid(torch.cat([synth.images[s_idx], real.images[r_idx]]),
                                                         len(pairs)))  # fmt: skip
    atomic_write_bytes(out_dir / "report.json", json.dumps(result, indent=2).encode())
    lines = [
        "# Synthetic data report",
        "",
        f"Real: `{result['real']}` ({result['n_real']} images), synthetic: `{result['synthetic']}` "
        f"({result['n_synthetic']} images), {len(result['classes'])} classes, compared at {result['image_size']} px.",
        "",
        "- GAN-test accuracy (classifier trained on real, applied to synthetic): "
        f"**{100 * result['gan_test_accuracy']:.1f} %**"
        + (
            f" (the same classifier on the held-out real test images: {100 * ref:.1f} %)"
            if (ref := result.get("gan_test_classifier_real_accuracy")) is not None
            else ""
        ),
        f"- FID (SqueezeNet 1.1 features): {result['fid_squeezenet']:.3f}; KID: {result['kid_squeezenet']['mean']:.4f}"
        f" ± {result['kid_squeezenet']['std']:.4f}. Not comparable with Inception-v3 FID/KID in the literature.",
        *copy_lines(result.get("copying")),
        "",
        "| class | GAN-test accuracy |",
        "|---|---:|",
        *[f"| {c} | {100 * a:.1f} % |" for c, a in result["gan_test_per_class"].items()],
    ]
    if "downstream" in result:
        lines += [
            "",
            f"## Downstream: small CNN, {result['classifier_steps']} steps each, {result['seeds']} seeds, "
            f"test set {result['n_test']} real images",
            "",
            f"Runs that add images draw {100 * result['real_fraction']:.0f} % of every batch from the real set and "
            "the rest from the added images; horizontal flips "
            + ("on" if result["flip"] else "off")
            + ", 2-px shifts.",
            "",
            "| training data | images | test accuracy (mean ± std) |",
            "|---|---:|---:|",
            *[
                f"| {k} | {v['n_train']} | {100 * v['mean']:.2f} ± {100 * v['std']:.2f} % |"
                for k, v in result["downstream"].items()
            ],
            "",
            f"Verdict: {result['verdict']}.",
        ]
    if "study" in result:
        lines += study_lines(result)
    atomic_write_bytes(out_dir / "report.md", ("\n".join(lines) + "\n").encode())
