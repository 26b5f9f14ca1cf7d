"""Real-ESRGAN's second-order degradation model: each stage does what it is configured to, seeded."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from srgan.data import PatchDataset
from srgan.data.degrade import (
    KERNELS,
    DegradationConfig,
    Stage,
    add_noise,
    circular_lowpass_kernel,
    degrade,
    jpeg,
    mixed_kernel,
    random_resize,
)
from srgan.data.tensors import array_to_tensor
from srgan.errors import ConfigError


@pytest.fixture(scope="module")
def photo(chelsea) -> np.ndarray:
    return chelsea[80:208, 120:248].astype(np.float32) / 255.0  # (128, 128, 3) in [0, 1]


def _detail(img: np.ndarray) -> float:
    """High-frequency energy: variance of the Laplacian of the mean plane."""
    import cv2

    return float(cv2.Laplacian(img.mean(axis=2), cv2.CV_32F).var())


@pytest.mark.parametrize("kind", KERNELS)
def test_every_kernel_kind_blurs(kind, photo):
    probs = tuple(1.0 if k == kind else 0.0 for k in KERNELS)
    stage = Stage(kernel_prob=probs, blur_sigma=(2.0, 3.0))
    k = mixed_kernel(21, stage, np.random.default_rng(0))
    assert k.shape == (21, 21) and abs(float(k.sum()) - 1) < 1e-5 and (k >= 0).all()
    if kind.endswith("_iso"):
        np.testing.assert_allclose(k, k.T, atol=1e-6)
    import cv2

    assert _detail(cv2.filter2D(photo, -1, k)) < 0.3 * _detail(photo)


def test_sinc_kernel_rings():
    k = circular_lowpass_kernel(np.pi / 3, 21)
    assert abs(float(k.sum()) - 1) < 1e-5 and k.min() < 0  # negative lobes: ringing and overshoot
    assert k.argmax() == 21 * 10 + 10


@pytest.mark.parametrize(
    ("probs", "rng_range", "grows"), [((1, 0, 0), (1.0, 1.5), True), ((0, 1, 0), (0.3, 1.2), False)]
)
def test_random_resize_goes_the_configured_way(photo, probs, rng_range, grows):
    stage = Stage(resize_prob=probs, resize_range=rng_range)
    for seed in range(5):
        out = random_resize(photo, stage, np.random.default_rng(seed))
        assert (out.shape[0] >= 128) == grows and out.shape[2] == 3


def test_gaussian_noise_has_the_configured_sigma_and_gray_noise_is_shared(photo):
    mid = np.full((128, 128, 3), 0.5, np.float32)
    colour = add_noise(mid, Stage(gaussian_noise_prob=1.0, noise_range=(10, 10), gray_noise_prob=0.0),
                       np.random.default_rng(0))  # fmt: skip
    assert abs(float((colour - mid).std()) * 255 - 10) < 0.5
    gray = add_noise(mid, Stage(gaussian_noise_prob=1.0, noise_range=(10, 10), gray_noise_prob=1.0),
                     np.random.default_rng(0))  # fmt: skip
    assert np.array_equal(gray[:, :, 0], gray[:, :, 1]) and np.array_equal(gray[:, :, 1], gray[:, :, 2])


def test_poisson_noise_grows_with_brightness():
    stage = Stage(gaussian_noise_prob=0.0, poisson_scale_range=(1.0, 1.0), gray_noise_prob=0.0)
    dark, bright = np.full((128, 128, 3), 0.1, np.float32), np.full((128, 128, 3), 0.8, np.float32)
    d = add_noise(dark, stage, np.random.default_rng(0)) - dark
    b = add_noise(bright, stage, np.random.default_rng(0)) - bright
    assert b.std() > 2 * d.std() > 0


def test_jpeg_quality_orders_the_error(photo):
    err = [float(np.abs(jpeg(photo, q) - photo).mean()) for q in (10, 50, 95)]
    assert err[0] > err[1] > err[2] > 0


def test_degrade_is_sized_quantised_and_seeded(photo):
    hr = torch.from_numpy(np.ascontiguousarray(photo.transpose(2, 0, 1)))
    cfg = DegradationConfig()
    a = degrade(hr, 4, cfg, np.random.default_rng(7))
    b = degrade(hr, 4, cfg, np.random.default_rng(7))
    c = degrade(hr, 4, cfg, np.random.default_rng(8))
    assert a.shape == (3, 32, 32) and torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(torch.round(a * 255) / 255, a) and float(a.min()) >= 0 and float(a.max()) <= 1
    clean = torch.nn.functional.interpolate(hr[None], size=(32, 32), mode="area")[0]
    assert float((a - clean).abs().mean()) > 0.005  # it is not a plain downscale


def test_patch_dataset_replays_degraded_samples(images):
    ds = PatchDataset(images, scale=4, patch_size=64, degradation=DegradationConfig())
    lr1, hr1 = ds[3]
    lr2, hr2 = ds[3]
    assert lr1.shape == (3, 16, 16) and torch.equal(lr1, lr2) and torch.equal(hr1, hr2)


@pytest.mark.parametrize(
    "bad",
    [
        dict(blur_prob=2.0),
        dict(kernel_prob=(0.5, 0.5, 0.5, 0.0, 0.0, 0.0)),
        dict(jpeg_range=(90, 30)),
        dict(noise_range=(-1.0, 5.0)),
        dict(resize_prob=(0.5, 0.5)),
    ],
)
def test_ranges_are_validated(bad):
    with pytest.raises(ValueError, match="degradation"):
        Stage(**bad)


def test_degradation_choice_in_configs(tmp_path, images):
    from conftest import REPO

    from srgan.imageio import write_image
    from srgan.train import load_config

    write_image(tmp_path / "a.png", images[0][1])
    tiny = REPO / "tests" / "configs" / "tiny.toml"
    cfg = load_config(tiny, [f'data.train_dirs=["{tmp_path}"]', 'data.degradation="realesrgan"'])
    assert cfg.data.degradation == "realesrgan"
    with pytest.raises(ConfigError, match=r"data\.degradation"):
        load_config(tiny, [f'data.train_dirs=["{tmp_path}"]', 'data.degradation="blurry"'])


def test_second_order_prob_is_the_share_of_samples_that_get_the_second_pass(photo):
    """A second pass that adds strong noise marks the samples it ran on: none at 0, about half at 0.5, all at 1."""
    hr = torch.from_numpy(np.ascontiguousarray(photo.transpose(2, 0, 1)))
    quiet = Stage(blur_prob=0.0, resize_prob=(0.0, 0.0, 1.0), gaussian_noise_prob=1.0, noise_range=(0.0, 0.0),
                  jpeg_range=(95, 95))  # fmt: skip
    loud = dataclasses.replace(quiet, noise_range=(255.0, 255.0), gray_noise_prob=0.0)

    def roughness(second_prob: float) -> np.ndarray:
        cfg = DegradationConfig(first=quiet, second=loud, second_prob=second_prob, final_sinc_prob=0.0)
        out = []
        for seed in range(40):
            lr = degrade(hr, 4, cfg, np.random.default_rng(seed)).numpy()
            out.append(float(np.abs(lr[:, 1:, :] - lr[:, :-1, :]).mean()))
        return np.array(out)

    none, half, every = roughness(0.0), roughness(0.5), roughness(1.0)
    bar = none.max()
    assert (every > bar).all()
    assert 0.25 <= (half > bar).mean() <= 0.75
    with pytest.raises(ValueError, match="second_prob"):
        DegradationConfig(second_prob=1.5)


def test_degradation_keys_reach_the_training_data(tmp_path, images):
    """data.second_order_prob and data.first_pass / second_pass (Stage fields) shape the trainer's degradations."""
    from conftest import REPO

    from srgan.imageio import write_image
    from srgan.train import load_config
    from srgan.train.sr_trainer import Trainer

    write_image(tmp_path / "a.png", images[0][1])
    tiny = REPO / "tests" / "configs" / "tiny.toml"
    data, real = f'data.train_dirs=["{tmp_path}"]', 'data.degradation="realesrgan"'
    cfg = load_config(tiny, [data, real, "data.second_order_prob=0.25", "data.first_pass.noise_range=[1, 15]",
                             "data.second_pass.jpeg_range=[40, 95]", "data.second_pass.blur_prob=0.5"])  # fmt: skip
    deg = Trainer(cfg, tmp_path / "run").dataset.degradation
    assert deg is not None and deg.second_prob == 0.25
    assert deg.first == dataclasses.replace(DegradationConfig().first, noise_range=(1.0, 15.0))
    assert deg.second == dataclasses.replace(DegradationConfig().second, jpeg_range=(40, 95), blur_prob=0.5)
    bad = {
        "data.second_order_prob=2": r"data\.second_order_prob must be in \[0, 1\]",
        "data.first_pass.noise=[1, 5]": r"unknown config key data\.first_pass\.noise \(known: blur_prob",
        "data.first_pass.noise_range=[9, 5]": r"data\.first_pass: degradation noise_range must be an increasing pair",
        "data.second_pass.jpeg_range=[40.5, 90]": r"data\.second_pass\.jpeg_range\[0\]: expected int, got float 40\.5",
        'data.second_pass.blur_sigma="wide"': r"data\.second_pass\.blur_sigma: expected a list, got str 'wide'",
        "data.second_pass.blur_sigma=[true, 2]": r"data\.second_pass\.blur_sigma\[0\]: expected float, got bool",
    }
    for override, message in bad.items():
        with pytest.raises(ConfigError, match=message):
            load_config(tiny, [data, real, override])
    for override in ("data.second_order_prob=0.5", "data.first_pass.noise_range=[1, 5]"):
        with pytest.raises(ConfigError, match=r'apply to data\.degradation = "realesrgan" only'):
            load_config(tiny, [data, override])


def test_array_to_tensor_round_trip(photo):
    u8 = np.round(photo * 255).astype(np.uint8)
    assert torch.equal(array_to_tensor(u8), torch.from_numpy(u8.transpose(2, 0, 1)).float() / 255)
