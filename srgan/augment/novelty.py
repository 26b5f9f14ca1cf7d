"""Is the GAN copying its training images? Nearest-neighbour distance ratios in pixel space.

A synthetic image is a near-copy when it lies much closer to its nearest real training image
than to the second nearest: distance ratio ``d1 / d2 < 1/3``, the memorisation criterion of
Yoon et al. (2023) and Gu et al. (2023, "On memorization in diffusion models"), in pixel space
as they apply it to CIFAR-10. A ratio rather than a distance threshold, because in any space a
featureless average-looking image lies closer to every real image than real images lie to
each other, and would pass for a copy of all of them; a copy of one image is near that one only.
Read the share against fresh real images of the same data (a test folder): datasets hold
near-duplicates of their own (about 3 % of CIFAR-10's test images have one in its training set,
Barz & Denzler 2020), so fresh images show a share above zero too.

A GAN trained on mirrored images (``GanConfig.flip``) can draw a mirror image of a training image,
which lies far from the original in pixels. With ``mirrored`` (the real images flipped left to right,
:func:`mirrored_pixels`), each real image's distance is the nearer of it and its mirror image, so
such a copy is caught; the ratio stays one between two different real images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["RATIO", "NearCopyFilter", "copy_check", "copy_lines", "mirrored_pixels", "nearest", "pixels"]

#: d1 / d2 under this: a near-copy of the nearest real image
RATIO = 1 / 3


def pixels(x: torch.Tensor) -> np.ndarray:
    """(N, C, S, S) images -> (N, C*S*S) float64 rows."""
    return x.flatten(1).double().numpy()


def mirrored_pixels(x: torch.Tensor) -> np.ndarray:
    """The rows of :func:`pixels` for the images flipped left to right."""
    return pixels(x.flip(3))


@torch.no_grad()
def nearest(query: np.ndarray, ref: np.ndarray, *, k: int = 2, leave_one_out: bool = False, chunk: int = 512,
            mirrored: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """For each row of ``query``: the Euclidean distances to its ``k`` nearest rows of ``ref`` and their indices.

    ``leave_one_out``: ``query`` is ``ref`` and a row may not be its own neighbour (nor its mirror image).
    ``mirrored``: ``ref``'s images flipped, row for row; a reference image's distance is the nearer of the two.
    """
    if leave_one_out and query.shape != ref.shape:
        raise ValueError("leave_one_out needs query and ref to be the same rows")
    if mirrored is not None and mirrored.shape != ref.shape:
        raise ValueError("mirrored needs one row per reference row")
    if ref.shape[0] < k + leave_one_out:
        raise ValueError(f"{ref.shape[0]} reference rows: too few for {k} nearest neighbours")
    refs = [torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64)) for a in (ref, mirrored) if a is not None]
    dist, idx = [], []
    for i in range(0, query.shape[0], chunk):
        q = torch.from_numpy(np.ascontiguousarray(query[i : i + chunk], dtype=np.float64))
        d = torch.cdist(q, refs[0], compute_mode="use_mm_for_euclid_dist")
        if len(refs) > 1:
            d = torch.minimum(d, torch.cdist(q, refs[1], compute_mode="use_mm_for_euclid_dist"))
        if leave_one_out:
            rows = torch.arange(q.shape[0])
            d[rows, rows + i] = torch.inf
        best = d.topk(k, dim=1, largest=False)
        dist.append(best.values)
        idx.append(best.indices)
    return torch.cat(dist).numpy(), torch.cat(idx).numpy()


def _ratio(d: np.ndarray) -> np.ndarray:
    """d1 / d2 per row; two rows tied at distance 0 (the real set holds duplicates) count as a copy."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(d[:, 1] > 0, d[:, 0] / np.maximum(d[:, 1], 1e-300), 0.0)


def _check_ratio(ratio: float) -> None:
    if not 0 < ratio < 1:
        raise ValueError(f"the ratio must lie in (0, 1), got {ratio}")


def copy_check(real: np.ndarray, synth: np.ndarray, *, test: np.ndarray | None = None, ratio: float = RATIO,
               pairs: int = 8, mirrored: np.ndarray | None = None) -> dict[str, Any]:  # fmt: skip
    """Near-copy statistics of ``synth`` rows against ``real`` rows, as the report gives them.

    Returns the median distances to the nearest real row (synthetic; real, leaving each out), the
    synthetic rows' median ratio ``d1 / d2``,
    the share and count of synthetic rows whose ratio ``d1 / d2`` is under ``ratio`` (and the same
    share among the real rows themselves), and the ``pairs`` lowest-ratio (synthetic index, real
    index, ratio) for a grid. With ``test`` rows (fresh real images), also their near-copy share
    (``test_near_copy_share``, over ``n_test``): what a generator that does not copy would show.
    ``mirrored``: ``real`` flipped, row for row (see :func:`nearest`), so mirror-image copies count.
    """
    _check_ratio(ratio)
    d_real, _ = nearest(real, real, leave_one_out=True, mirrored=mirrored)
    d_syn, j = nearest(synth, real, mirrored=mirrored)
    r = _ratio(d_syn)
    close = r < ratio
    order = np.argsort(r, kind="stable")[:pairs]
    out: dict[str, Any] = {
        "ratio": ratio,
        "mirrored": mirrored is not None,
        "median_synthetic": float(np.median(d_syn[:, 0])),
        "median_real": float(np.median(d_real[:, 0])),
        "median_ratio": float(np.median(r)),
        "near_copies": int(close.sum()),
        "near_copy_share": float(close.mean()),
        "real_near_copy_share": float((_ratio(d_real) < ratio).mean()),
        "closest": [(int(i), int(j[i, 0]), float(r[i])) for i in order],
    }
    if test is not None:
        out["test_near_copy_share"] = float((_ratio(nearest(test, real, mirrored=mirrored)[0]) < ratio).mean())
        out["n_test"] = int(test.shape[0])
    return out


def copy_lines(c: dict[str, Any] | None) -> list[str]:
    """The report's bullet for a :func:`copy_check` result (none without one)."""
    if c is None:
        return []
    ref = (f"; by the same rule {100 * c['test_near_copy_share']:.1f} % of the {c['n_test']} held-out test images "
           "are" if "test_near_copy_share" in c else "")  # fmt: skip
    how = "pixels, mirror images included" if c.get("mirrored") else "pixels"
    return [
        f"- Copying check ({how}): {c['near_copies']} synthetic images ({100 * c['near_copy_share']:.1f} %) are "
        f"near-copies of a training image, nearer to it than {c['ratio']:.2g}x their distance to the second nearest "
        f"(Yoon et al. 2023){ref}, and {100 * c['real_near_copy_share']:.1f} % of the training images are of "
        f"another. Median distance to the nearest training image: {c['median_synthetic']:.2f} for the synthetic "
        f"images, {c['median_real']:.2f} for the real ones. The closest pairs, synthetic above real: "
        "`nearest_pairs.png`."
    ]


@dataclass(frozen=True)
class NearCopyFilter:
    """Tells which new images are near-copies of a real one, by :func:`copy_check`'s rule."""

    real: np.ndarray  # the real images as :func:`pixels` rows
    ratio: float = RATIO
    mirrored: np.ndarray | None = None  # the real images flipped (:func:`mirrored_pixels`): mirror copies count

    @classmethod
    def fit(cls, real: torch.Tensor, ratio: float = RATIO, *, mirror: bool = False) -> NearCopyFilter:
        """``mirror``: a mirror image of a real image is a copy too (for a GAN trained on flipped images)."""
        _check_ratio(ratio)
        if real.shape[0] < 2:
            raise ValueError("the near-copy filter needs at least 2 real images")
        return cls(pixels(real), ratio, mirrored_pixels(real) if mirror else None)

    def ratios(self, x: torch.Tensor) -> np.ndarray:
        """Each image's ``d1 / d2`` to the real images, in [0, 1]; under ``ratio``: a near-copy."""
        return _ratio(nearest(pixels(x), self.real, mirrored=self.mirrored)[0])
