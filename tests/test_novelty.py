"""The copying check: nearest-neighbour distance ratios and the near-copy share."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from srgan.augment.novelty import NearCopyFilter, copy_check, copy_lines, mirrored_pixels, nearest, pixels


def _brute(q: np.ndarray, r: np.ndarray, same: bool) -> np.ndarray:
    d = np.sqrt(((q[:, None, :] - r[None, :, :]) ** 2).sum(-1))
    if same:
        np.fill_diagonal(d, np.inf)
    return np.sort(d, axis=1)


@pytest.mark.parametrize("chunk", [7, 512])
def test_nearest_matches_brute_force_and_leaves_each_row_out_of_its_own(chunk):
    rng = np.random.default_rng(0)
    x, q = rng.normal(size=(50, 6)), rng.normal(size=(23, 6))
    d, i = nearest(q, x, chunk=chunk)
    np.testing.assert_allclose(d, _brute(q, x, False)[:, :2], rtol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(q - x[i[:, 0]], axis=1), d[:, 0], rtol=1e-9)
    d, i = nearest(x, x, leave_one_out=True, chunk=chunk)
    np.testing.assert_allclose(d, _brute(x, x, True)[:, :2], rtol=1e-9)
    assert (d > 0).all() and (i[:, 0] != np.arange(50)).all()


def test_copies_are_flagged_and_fresh_or_average_samples_are_not():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(400, 64))
    copies = real[:60] + rng.normal(scale=0.05, size=(60, 64))
    fresh = rng.normal(size=(300, 64))
    mean = np.tile(real.mean(0), (20, 1))  # the average image: nearer to every real row than they are to each other
    c = copy_check(real, np.concatenate([copies, fresh, mean]), pairs=5)
    assert c["near_copies"] == 60 and c["near_copy_share"] == pytest.approx(60 / 380)
    assert c["real_near_copy_share"] == 0.0
    assert copy_check(real, fresh)["near_copy_share"] == 0.0
    with_test = copy_check(real, fresh, test=copies)  # the test share reads by the same rule as the synthetic one
    assert with_test["test_near_copy_share"] == copy_check(real, copies)["near_copy_share"] == 1.0
    assert with_test["n_test"] == 60
    assert copy_check(real, mean)["median_synthetic"] < copy_check(real, mean)["median_real"]
    assert copy_check(real, mean)["near_copy_share"] == 0.0
    closest = c["closest"]
    assert len(closest) == 5 and all(s < 60 and r == s for s, r, _ in closest)  # each copy next to its source
    assert [p[2] for p in closest] == sorted(p[2] for p in closest)
    dup = copy_check(np.concatenate([real, real[:4]]), fresh)  # duplicates in the real set are near-copies there
    assert dup["real_near_copy_share"] == pytest.approx(8 / 404)
    text = copy_lines({**c, "test_near_copy_share": 0.012, "n_test": 2000})[0]
    assert "60 synthetic images (15.8 %) are near-copies" in text and "1.2 % of the 2000 held-out test images" in text
    assert copy_lines(None) == []


def test_the_filter_flags_by_the_same_rule():
    rng = np.random.default_rng(2)
    real = torch.from_numpy(rng.uniform(-1, 1, size=(40, 3, 4, 4)))
    f = NearCopyFilter.fit(real)
    new = torch.cat([real[:3] + 0.01, torch.from_numpy(rng.uniform(-1, 1, size=(5, 3, 4, 4)))])
    r = f.ratios(new)
    assert (r[:3] < f.ratio).all() and (r[3:] >= f.ratio).all() and ((r >= 0) & (r <= 1)).all()


def test_mirror_image_copies_are_caught_only_when_mirrors_count():
    rng = np.random.default_rng(3)
    imgs = torch.from_numpy(rng.uniform(-1, 1, size=(60, 3, 8, 8)))
    real, mirrored = pixels(imgs), mirrored_pixels(imgs)
    flipped = imgs[:10].flip(3) + 0.01  # mirror images of 10 training images: far from them in plain pixels
    fresh = torch.from_numpy(rng.uniform(-1, 1, size=(30, 3, 8, 8)))
    assert copy_check(real, pixels(flipped))["near_copies"] == 0
    c = copy_check(real, pixels(torch.cat([flipped, fresh])), mirrored=mirrored, test=pixels(fresh))
    assert c["near_copies"] == 10 and c["mirrored"] and c["test_near_copy_share"] == 0.0
    assert [s for s, _, _ in c["closest"][:10]] == [r for _, r, _ in c["closest"][:10]]  # each beside its source
    assert c["real_near_copy_share"] == 0.0  # a real image is not a copy of its own mirror image
    d, i = nearest(pixels(flipped), real, mirrored=mirrored)
    np.testing.assert_allclose(d[:, 0], np.linalg.norm(pixels(flipped) - mirrored[:10], axis=1), rtol=1e-9)
    assert (i[:, 0] == np.arange(10)).all()
    # a symmetric image is its own mirror image: one real image, not two tied ones (so its copies are still caught)
    sym = (imgs + imgs.flip(3)) / 2
    dsym = copy_check(pixels(sym), pixels(sym[:5] + 0.01), mirrored=mirrored_pixels(sym))
    assert dsym["near_copies"] == 5 and dsym["real_near_copy_share"] == 0.0
    f = NearCopyFilter.fit(imgs, mirror=True)
    assert (f.ratios(flipped) < f.ratio).all() and (NearCopyFilter.fit(imgs).ratios(flipped) >= f.ratio).all()
    assert "pixels, mirror images included" in copy_lines(c)[0]
    assert "(pixels)" in copy_lines({**c, "mirrored": False})[0]
    with pytest.raises(ValueError, match="one row per reference row"):
        nearest(real, real, mirrored=mirrored[:5])


def test_bad_arguments_are_refused():
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match="ratio"):
        copy_check(x, x, ratio=1.0)
    with pytest.raises(ValueError, match="same rows"):
        nearest(x[:2], x, leave_one_out=True)
    with pytest.raises(ValueError, match="too few"):
        nearest(x[:2], x[:2], leave_one_out=True)
    with pytest.raises(ValueError, match="at least 2"):
        NearCopyFilter.fit(torch.zeros(1, 3, 4, 4))
