"""The study's arms: what each adds to the real images and how, and the default set of them."""

from __future__ import annotations

from dataclasses import dataclass, replace

from srgan.errors import ConfigError

__all__ = ["Arm", "default_arms"]


@dataclass(frozen=True)
class Arm:
    """What one arm adds to the real images, and how."""

    name: str
    extra: tuple[str, ...] = ()  # names of added sets: "classical", "synthetic"
    real_fraction: float = 0.5  # share of every batch drawn from the real images when sets are added
    threshold: float | None = None  # keep synthetic images the real classifier labels right at >= this
    soft_labels: bool = False  # synthetic targets: the real classifier's probabilities
    pretrain: bool = False  # epochs on the added sets first, then the real-only schedule
    tag: str = ""  # appended to the key, e.g. "@0.2" for a variant with another synthetic share
    # real-only control: this many times the protocol's epochs. At 2 it takes as many optimizer steps as an arm
    # whose batches are half added images, so it shows how much of such an arm's gain the extra steps explain
    epoch_scale: int = 1
    per_class: int | None = None  # only the first this many synthetic images of each class (the number's effect)
    # a classical preset drawn anew for every batch: the added images are the real ones through it, where the
    # classical arm adds one fixed copy of each (what ``srgan augment`` writes). Trains on the real images alone,
    # unless ``extra`` names the synthetic set: then ``mixed_share`` of every batch is synthetic images (as they
    # are, not through the preset), taken from the drawn-anew copies' part, so the real images per batch and the
    # steps per epoch stay the online arm's
    online: str | None = None
    mixed_share: float | None = None

    def __post_init__(self) -> None:
        if self.epoch_scale < 1 or (self.epoch_scale > 1 and self.extra):
            raise ConfigError(f"arm {self.name}: epoch_scale is a whole number >= 1, for the real-only control only")
        if self.per_class is not None and (self.per_class < 1 or "synthetic" not in self.extra):
            raise ConfigError(f"arm {self.name}: per_class is a number >= 1 of synthetic images per class")
        if self.online is not None and (
            self.epoch_scale > 1 or self.pretrain or self.extra not in ((), ("synthetic",))
        ):
            raise ConfigError(f"arm {self.name}: an online preset augments the real images; it adds no set but the "
                              "synthetic one")  # fmt: skip
        mixing = self.online is not None and bool(self.extra)
        if mixing != (self.mixed_share is not None) or (
            self.mixed_share is not None and not 0 < self.mixed_share < 1 - self.real_fraction
        ):
            raise ConfigError(
                f"arm {self.name}: an online preset with synthetic images needs their share of each "
                f"batch, between 0 and {1 - self.real_fraction:g} (the part that is not real images)"
            )

    @property
    def key(self) -> str:
        """Short name for choosing arms (``--arms``): real, synthetic, filtered-T, soft, pretrain, classical, combo,
        combo-soft, online-PRESET, online-PRESET+soft@S.

        Variants with another share of added images per batch carry it: ``soft@0.2``; with fewer synthetic images,
        their number per class: ``soft@0.2-n250``.
        """
        if self.online is not None:
            return f"online-{self.online}" + (f"+{self._base()}" if self.extra else "") + self._variant()
        if not self.extra:
            return "real" if self.epoch_scale == 1 else f"real-x{self.epoch_scale}"
        return self._base() + self._variant()

    def _base(self) -> str:
        """The key's recipe name: classical, combo(-soft), pretrain, soft, synthetic or filtered-T."""
        if "classical" in self.extra:
            return ("combo-soft" if self.soft_labels else "combo") if "synthetic" in self.extra else "classical"
        if self.pretrain:
            return "pretrain"
        return "soft" if self.soft_labels else "synthetic" if self.threshold is None else f"filtered-{self.threshold:g}"

    def _variant(self) -> str:
        return self.tag + (f"-n{self.per_class}" if self.per_class else "")

    @property
    def needs_teacher(self) -> bool:
        return self.threshold is not None or self.soft_labels


def default_arms(has_classical: bool, thresholds: tuple[float, ...] = (0.5, 0.9), real_fraction: float = 0.5,
                 keys: tuple[str, ...] | None = None, shares: tuple[float, ...] = (), counts: tuple[int, ...] = (),
                 longer: tuple[int, ...] = (), online: tuple[str, ...] = ()) -> list[Arm]:  # fmt: skip
    """Real first (it is every seed's teacher), then real-only over twice the epochs (``real-x2``: as many steps
    as the arms whose batches are half added images), each synthetic recipe, classical and the combinations
    (classical with the filtered synthetic images, and with the soft-labelled ones).

    ``shares``: also run the plain, the most strictly filtered and the soft-label recipes with these
    shares of synthetic images per batch (keys ``synthetic@0.2``, ...). ``keys``: keep only these
    arms (see :attr:`Arm.key`); real is always kept. ``counts``: also run the plain and soft-label recipes (at
    every share) on only the first N synthetic images of each class (keys ``soft@0.2-n250``, ...). ``longer``:
    also real-only over K times the epochs (keys ``real-xK``), to show whether real-only has stopped gaining.
    ``online``: also real + each of these classical presets drawn anew every batch (keys ``online-medium``, ...),
    as many added images per batch as the classical arm; with ``shares``, also each preset drawn anew with
    soft-labelled synthetic images at each share below ``1 - real_fraction`` in place of as many drawn-anew copies
    (keys ``online-medium+soft@0.2``, ...).
    """
    if any(k < 2 for k in longer):
        raise ConfigError(f"a longer real-only control runs at least 2x the epochs, got {min(longer)}x")
    arms = [Arm("real"), *(Arm(f"real only, {'twice' if k == 2 else f'{k}x'} the epochs", epoch_scale=k)
                           for k in sorted({2, *longer}))]  # fmt: skip
    arms.append(Arm("real + synthetic", ("synthetic",), real_fraction))
    arms += [
        Arm(f"real + synthetic, filtered at {t:g}", ("synthetic",), real_fraction, threshold=t) for t in thresholds
    ]
    arms += [Arm("real + synthetic, soft labels", ("synthetic",), real_fraction, soft_labels=True),
             Arm("synthetic pre-training, then real", ("synthetic",), pretrain=True)]  # fmt: skip
    for share in shares:
        if not 0 < share < 1:
            raise ConfigError(f"a synthetic share must be between 0 and 1, got {share:g}")
        rf, tag, pct = 1 - share, f"@{share:g}", f"{100 * share:.0f} % of each batch"
        t = max(thresholds) if thresholds else None
        arms += [Arm(f"real + synthetic, {pct}", ("synthetic",), rf, tag=tag),
                 Arm(f"real + synthetic, soft labels, {pct}", ("synthetic",), rf, soft_labels=True,
                     tag=tag)]  # fmt: skip
        if t is not None:
            arms.append(Arm(f"real + synthetic, filtered at {t:g}, {pct}", ("synthetic",), rf, threshold=t, tag=tag))
    plain = [a for a in arms if a.extra == ("synthetic",) and a.threshold is None and not a.pretrain]
    arms += [replace(a, name=f"{a.name}, {n} per class", per_class=n) for n in counts for a in plain]
    if has_classical:
        arms.append(Arm("real + classical", ("classical",), real_fraction))
        if thresholds:  # no threshold, no filtered recipe to combine
            arms.append(Arm("real + classical + synthetic, filtered", ("classical", "synthetic"), real_fraction,
                            threshold=max(thresholds)))  # fmt: skip
        arms.append(Arm("real + classical + synthetic, soft labels", ("classical", "synthetic"), real_fraction,
                        soft_labels=True))  # fmt: skip
    for p in online:
        arms.append(Arm(f"real + classical ({p}) drawn anew each batch", (), real_fraction, online=p))
        arms += [Arm(f"real + classical ({p}) drawn anew each batch + synthetic, soft labels, {100 * s:.0f} % of each "
                     "batch", ("synthetic",), real_fraction, soft_labels=True, tag=f"@{s:g}", online=p, mixed_share=s)
                 for s in shares if s < 1 - real_fraction]  # fmt: skip
    if keys is not None:
        known = {a.key for a in arms}
        if unknown := sorted(set(keys) - known):
            raise ConfigError(f"unknown arm(s) {', '.join(unknown)}; choose from {', '.join(a.key for a in arms)}")
        arms = [a for a in arms if a.key == "real" or a.key in keys]
    return arms
