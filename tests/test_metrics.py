"""PSNR/SSIM: torch path vs the float64 reference, and the published bicubic values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from reference.metrics import reference_psnr, reference_ssim, reference_y

from srgan.evaluation import CLASSICAL_METHODS, evaluate, resolve_method
from srgan.imageio import list_images, read_image
from srgan.metrics import protocol_planes, psnr, ssim
from srgan.metrics.protocol import make_lr, prepare_hr, to_uint8


def _degraded(img: np.ndarray, scale: int = 4) -> np.ndarray:
    hr = prepare_hr(img, scale, "basicsr")
    return hr, to_uint8(resolve_method("bicubic", scale).upscale(make_lr(hr, scale, "basicsr")))


@pytest.mark.parametrize("protocol", ["basicsr", "matlab"])
def test_torch_metrics_match_reference(astronaut, camera, protocol):
    for img in (astronaut[:300, :260], camera[:200, :180]):
        hr, sr = _degraded(img)
        a = protocol_planes(sr, protocol=protocol)
        b = protocol_planes(hr, protocol=protocol)
        p = float(psnr(a, b, crop_border=4)[0])
        s = float(ssim(a, b, crop_border=4)[0])
        ra, rb = reference_y(sr, protocol=protocol), reference_y(hr, protocol=protocol)
        assert p == pytest.approx(reference_psnr(ra, rb, 4), abs=1e-9)
        assert s == pytest.approx(reference_ssim(ra, rb, 4), abs=1e-12)


def test_rgb_ssim_is_mean_over_channels(chelsea):
    hr, sr = _degraded(chelsea, 2)
    a = protocol_planes(sr, channel="rgb")
    b = protocol_planes(hr, channel="rgb")
    expected = reference_ssim(sr.astype(np.float64), hr.astype(np.float64), 2)
    assert float(ssim(a, b, crop_border=2)[0]) == pytest.approx(expected, abs=1e-12)


def test_identical_images(astronaut):
    t = protocol_planes(astronaut)
    assert torch.isinf(psnr(t, t)).all()
    assert float(ssim(t, t)[0]) == pytest.approx(1.0, abs=1e-12)


def test_batched_metrics_equal_per_image(astronaut, chelsea):
    hr1, sr1 = _degraded(astronaut[:200, :200])
    hr2, sr2 = _degraded(chelsea[:200, :200])
    a = torch.cat([protocol_planes(sr1), protocol_planes(sr2)])
    b = torch.cat([protocol_planes(hr1), protocol_planes(hr2)])
    p, s = psnr(a, b, crop_border=4), ssim(a, b, crop_border=4)
    assert float(p[1]) == pytest.approx(float(psnr(a[1:], b[1:], crop_border=4)[0]), abs=1e-12)
    assert float(s[0]) == pytest.approx(float(ssim(a[:1], b[:1], crop_border=4)[0]), abs=1e-12)


def test_y_conversion_known_values():
    px = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0]]], dtype=np.uint8)
    y = protocol_planes(px)[0, 0, 0].tolist()
    assert y == pytest.approx([16.0, 235.0, 16 + 65.481])
    assert protocol_planes(px, protocol="matlab")[0, 0, 0].tolist() == [16.0, 235.0, 81.0]


# --------------------------------------------------------------------------- published values

PUBLISHED = [  # bicubic, from ../shared/data/README.md
    ("Set5", 4, 28.42, 0.8104),
    ("Set14", 4, 26.00, 0.7027),
    ("Set5", 2, 33.66, 0.9299),
    ("Set14", 2, 30.24, 0.8688),
]


@pytest.mark.parametrize(("dataset", "scale", "pub_psnr", "pub_ssim"), PUBLISHED)
def test_matlab_protocol_reproduces_published_bicubic(shared_data, dataset, scale, pub_psnr, pub_ssim):
    (res,), failures = evaluate(
        shared_data / dataset,
        [resolve_method("bicubic", scale)],
        scale=scale,
        protocol="matlab",
    )
    assert not failures
    assert res.psnr_y == pytest.approx(pub_psnr, abs=0.02)
    assert res.ssim_y == pytest.approx(pub_ssim, abs=0.001)


@pytest.mark.parametrize("scale", [2, 4])
def test_basicsr_protocol_agrees_with_numpy_reference(shared_data, scale):
    (res,), _ = evaluate(shared_data / "Set14", [resolve_method("bicubic", scale)], scale=scale)
    ours = {s.name: s for s in res.images}
    for f in list_images(shared_data / "Set14"):
        hr = prepare_hr(read_image(f), scale, "basicsr")
        sr = to_uint8(resolve_method("bicubic", scale).upscale(make_lr(hr, scale, "basicsr")))
        ra, rb = reference_y(sr), reference_y(hr)
        assert ours[f.name].psnr_y == pytest.approx(reference_psnr(ra, rb, scale), abs=1e-4)
        assert ours[f.name].ssim_y == pytest.approx(reference_ssim(ra, rb, scale), abs=1e-6)


def test_protocols_differ_as_documented(shared_data):
    bicubic = [resolve_method("bicubic", 4)]
    (b14,), _ = evaluate(shared_data / "Set14", bicubic, scale=4, protocol="basicsr")
    (m14,), _ = evaluate(shared_data / "Set14", bicubic, scale=4, protocol="matlab")
    assert 0.06 < b14.psnr_y - m14.psnr_y < 0.12  # gray bridge.png: studio-range Y vs its own levels
    bridge_b = next(s for s in b14.images if s.name == "bridge.png")
    bridge_m = next(s for s in m14.images if s.name == "bridge.png")
    assert bridge_b.psnr_y - bridge_m.psnr_y > 1.0


def test_classical_methods_rank_sensibly(shared_data):
    methods = [resolve_method(m, 4) for m in CLASSICAL_METHODS]
    results, _ = evaluate(shared_data / "Set5", methods, scale=4)
    by = {r.method: r.psnr_y for r in results}
    assert by["nearest"] < by["bicubic"] < by["lanczos"] + 1.0
