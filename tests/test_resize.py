"""MATLAB-compatible bicubic resize against an independent float64 reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import srgan.resize as rs
from srgan.resize import imresize, imresize_uint8, output_size


def _keys(x: float) -> float:
    ax = abs(x)
    if ax <= 1:
        return 1.5 * ax**3 - 2.5 * ax**2 + 1
    if ax <= 2:
        return -0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2
    return 0.0


def _matrix(n_in: int, n_out: int, scale: float) -> np.ndarray:
    """Dense (n_out, n_in) resampling matrix built pixel by pixel, as MATLAB's imresize defines it."""
    m = np.zeros((n_out, n_in))
    width = 4.0 / scale if scale < 1 else 4.0
    for i in range(1, n_out + 1):
        u = i / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        taps = []
        for k in range(math.ceil(width) + 2):
            j = left + k
            w = scale * _keys(scale * (u - j)) if scale < 1 else _keys(u - j)
            taps.append((j, w))
        total = sum(w for _, w in taps)
        for j, w in taps:
            # Symmetric padding: reflect about the border including the edge pixel.
            jj = j - 1
            while jj < 0 or jj >= n_in:
                jj = -jj - 1 if jj < 0 else 2 * n_in - jj - 1
            m[i - 1, jj] += w / total
    return m


def reference_imresize(img: np.ndarray, scale: float, *, round_each_pass: bool = False) -> np.ndarray:
    """float64 (H, W, C) -> (ceil(H*s), ceil(W*s), C); rows first, then columns."""
    h, w = img.shape[:2]
    oh, ow = math.ceil(h * scale - 1e-9), math.ceil(w * scale - 1e-9)
    out = np.einsum("oh,hwc->owc", _matrix(h, oh, scale), img)
    if round_each_pass:
        out = np.floor(np.clip(out, 0, 255) + 0.5)
    out = np.einsum("pw,owc->opc", _matrix(w, ow, scale), out)
    if round_each_pass:
        out = np.floor(np.clip(out, 0, 255) + 0.5)
    return out


SCALES = [1 / 2, 1 / 3, 1 / 4, 2, 3, 4]


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("kind", ["rgb", "gray"])
def test_matches_reference_on_real_images(astronaut, camera, scale, kind):
    # Odd sizes on purpose: 97 x 61 crops of real photos (upscales use a smaller crop).
    img = astronaut[180:277, 200:261] if kind == "rgb" else camera[100:197, 300:361]
    if scale > 1:
        img = img[:41, :27]
    x = img.astype(np.float64) / 255.0
    ref = reference_imresize(x, scale)
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        t = torch.from_numpy(x.transpose(2, 0, 1)).to(dtype)
        got = imresize(t, scale).double().numpy().transpose(1, 2, 0)
        assert got.shape == ref.shape
        assert np.abs(got - ref).max() < tol, (dtype, np.abs(got - ref).max())


@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 1 / 4, 2, 4])
def test_uint8_rounds_each_pass_like_matlab(chelsea, scale):
    img = chelsea[50:125, 100:183] if scale < 1 else chelsea[50:75, 100:131]
    ref = reference_imresize(img.astype(np.float64), scale, round_each_pass=True).astype(np.uint8)
    np.testing.assert_array_equal(imresize_uint8(img, scale), ref)


def test_batched_equals_one_by_one(astronaut, chelsea):
    a = torch.from_numpy(astronaut[:120, :90].transpose(2, 0, 1) / 255.0)
    b = torch.from_numpy(chelsea[:120, :90].transpose(2, 0, 1) / 255.0)
    batch = imresize(torch.stack([a, b]), 1 / 3)
    torch.testing.assert_close(batch[0], imresize(a, 1 / 3), rtol=0, atol=1e-12)
    torch.testing.assert_close(batch[1], imresize(b, 1 / 3), rtol=0, atol=1e-12)


def test_chunked_gather_equals_single_pass(astronaut, monkeypatch):
    x = torch.from_numpy(astronaut[:100, :100].transpose(2, 0, 1) / 255.0)
    whole = imresize(x, 1 / 4)
    monkeypatch.setattr(rs, "_CHUNK_ELEMENTS", 500)  # forces many small chunks
    torch.testing.assert_close(imresize(x, 1 / 4), whole, rtol=0, atol=1e-12)


def test_output_size_is_ceil():
    assert output_size(7, 1 / 4) == 2
    assert output_size(8, 1 / 4) == 2
    assert output_size(9, 1 / 3) == 3
    assert output_size(3, 3) == 9
    assert tuple(imresize(torch.zeros(1, 7, 9, dtype=torch.float64), 1 / 2).shape) == (1, 4, 5)


def test_constant_image_stays_constant():
    x = torch.full((3, 33, 47), 0.37, dtype=torch.float64)
    for s in (1 / 4, 1 / 3, 2, 3):
        torch.testing.assert_close(imresize(x, s), torch.full_like(imresize(x, s), 0.37))


def test_explicit_size_and_errors():
    x = torch.rand(1, 3, 40, 60, dtype=torch.float64)
    assert tuple(imresize(x, size=(20, 90)).shape) == (1, 3, 20, 90)
    with pytest.raises(ValueError):
        imresize(x, 2, size=(1, 1))
    with pytest.raises(TypeError):
        imresize(torch.zeros(4, 4, dtype=torch.uint8), 2)
