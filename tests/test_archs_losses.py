"""Architectures and losses: shapes, initialisation, weights files, backbone loading rules."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from srgan.archs import PatchDiscriminator, SRResNet, VGGDiscriminator
from srgan.archs.generator import icnr_
from srgan.errors import ModelError
from srgan.losses import PIXEL_LOSSES, AdversarialLoss, PerceptualLoss, load_backbone, random_shift
from srgan.weights import load_generator, read_metadata, save_generator


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("upsampler", ["pixelshuffle", "light", "nearest"])
def test_generator_upscales_any_size(scale, upsampler):
    g = SRResNet(scale=scale, num_feat=8, num_blocks=2, upsampler=upsampler, batch_norm=upsampler == "pixelshuffle")
    assert g(torch.rand(2, 3, 13, 17)).shape == (2, 3, 13 * scale, 17 * scale)


def test_icnr_starts_as_nearest_upsampling():
    conv = torch.nn.Conv2d(4, 4 * 9, 3, padding=1)
    icnr_(conv.weight, 3)
    torch.nn.init.zeros_(conv.bias)
    x = torch.rand(1, 4, 10, 10)
    y = F.pixel_shuffle(conv(x), 3)  # (1, 4, 30, 30)
    # Each 3x3 output block is constant: the upsampler is nearest-neighbour of a plain conv.
    blocks = y.unfold(2, 3, 3).unfold(3, 3, 3)
    assert torch.allclose(blocks, blocks[..., :1, :1].expand_as(blocks), atol=1e-6)


def _perturbed(g: torch.nn.Module) -> torch.nn.Module:
    """``g`` with every weight and bias redrawn at random (no ICNR: a trained upsampler's phases differ)."""
    torch.manual_seed(0)
    with torch.no_grad():
        for prm in g.parameters():
            prm.normal_(0, 0.2)
    return g.eval()


def test_resize_convolution_cannot_draw_a_grid_on_a_flat_input():
    """Issue 19's cause: a sub-pixel upsampler paints a period-4 pattern on a flat input, resize-conv cannot."""
    flat = torch.full((1, 3, 40, 40), 0.4)
    inner = (slice(None), slice(None), slice(48, 112), slice(48, 112))  # 12 LR pixels from the zero-padded border
    for upsampler, flat_out in (("light", False), ("nearest", True), ("bilinear", True), ("slim", True)):
        g = _perturbed(SRResNet(scale=4, num_feat=8, num_blocks=2, upsampler=upsampler, up_feat=8))
        with torch.no_grad():
            out = g(flat)[inner]
        spread = float(out.amax(dim=(2, 3)).sub(out.amin(dim=(2, 3))).max())
        assert (spread < 1e-5) is flat_out, (upsampler, spread)


def test_img_skip_makes_fresh_pixelshuffle_model_close_to_bilinear(astronaut):
    from srgan.data.tensors import array_to_tensor

    x = array_to_tensor(astronaut[:64, :64])[None]
    g = SRResNet(scale=4, num_feat=16, num_blocks=2, upsampler="pixelshuffle")
    with torch.no_grad():
        out = g(x)
        ref = F.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)
    assert (out - ref).abs().mean() < 0.2


@pytest.mark.parametrize("upsampler", ["light", "pixelshuffle", "nearest", "bilinear", "slim"])
def test_img_skip_adds_exactly_the_bilinear_upscale(astronaut, upsampler):
    from srgan.data.tensors import array_to_tensor

    x = array_to_tensor(astronaut[:64, :64])[None]
    with_skip = SRResNet(scale=4, num_feat=16, num_blocks=2, upsampler=upsampler).eval()
    without = SRResNet(scale=4, num_feat=16, num_blocks=2, upsampler=upsampler, img_skip=False).eval()
    without.load_state_dict(with_skip.state_dict())
    with torch.no_grad():
        residual = with_skip(x) - without(x)
        ref = F.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)
    torch.testing.assert_close(residual, ref, atol=1e-5, rtol=0)


def test_default_size_is_the_measured_one():
    """The constructor and the training config default to the size benchmarks/size_sweep.py chose."""
    from srgan.train.config import ModelConfig

    hp = SRResNet().hparams
    cfg = ModelConfig().hparams()
    assert (hp["num_feat"], hp["num_blocks"], hp["upsampler"]) == (48, 12, "light")
    assert cfg == hp  # one source: SRResNetConfig


def test_weights_round_trip_with_metadata(tmp_path):
    g = SRResNet(scale=2, num_feat=8, num_blocks=1).eval()
    save_generator(tmp_path / "g.safetensors", g, {"iterations": 7, "note": "hi"})
    meta = read_metadata(tmp_path / "g.safetensors")
    assert meta["srgan_arch"] == "srresnet" and meta["iterations"] == "7" and meta["note"] == "hi"
    g2, _ = load_generator(tmp_path / "g.safetensors")
    x = torch.rand(1, 3, 9, 9)
    with torch.no_grad():
        assert torch.equal(g(x), g2(x))
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelError):
        load_generator(tmp_path / "bad.safetensors")


def test_discriminators():
    d = PatchDiscriminator(num_feat=8)
    assert d(torch.rand(2, 3, 64, 64)).shape[:2] == (2, 1)
    v = VGGDiscriminator(num_feat=8, input_size=64)
    assert v(torch.rand(2, 3, 64, 64)).shape == (2, 1)
    with pytest.raises(ValueError):
        v(torch.rand(1, 3, 32, 32))


@pytest.mark.parametrize("name", sorted(PIXEL_LOSSES))
def test_pixel_losses_zero_on_equal_and_weighted(name):
    x, y = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    loss = PIXEL_LOSSES[name](weight=2.0)
    assert float(loss(x, x)) <= 2e-3 + 1e-6  # Charbonnier: weight * eps at zero
    assert float(loss(x, y)) == pytest.approx(2 * float(PIXEL_LOSSES[name](weight=1.0)(x, y)))


@pytest.mark.parametrize("kind", ["vanilla", "lsgan", "hinge", "ragan"])
def test_adversarial_losses_reward_the_right_side(kind):
    adv = AdversarialLoss(kind=kind, weight=1.0)
    good_d = adv.discriminator(torch.full((4, 1), 3.0), torch.full((4, 1), -3.0) + torch.randn(4, 1) * 0.1)
    bad_d = adv.discriminator(torch.full((4, 1), -3.0), torch.full((4, 1), 3.0) + torch.randn(4, 1) * 0.1)
    assert good_d < bad_d
    real = torch.full((4, 1), 1.0)
    assert adv.generator(torch.full((4, 1), 3.0), real) < adv.generator(torch.full((4, 1), -3.0), real)


def test_vgg19_without_weights_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty torchvision cache
    with pytest.raises(ModelError, match="no vgg19 ImageNet weights"):
        PerceptualLoss(backbone="vgg19")
    with pytest.raises(ModelError, match="not found"):
        load_backbone("vgg19", tmp_path / "missing.pth")
    (tmp_path / "wrong.pth").write_bytes(b"not a state dict")
    with pytest.raises(ModelError, match="not a readable vgg19 weights file"):
        load_backbone("vgg19", tmp_path / "wrong.pth")


def test_squeezenet_perceptual_with_real_weights(shared_weights, astronaut, chelsea):
    from srgan.data.tensors import array_to_tensor

    loss = PerceptualLoss(backbone="squeezenet", weights_path=shared_weights)
    a = array_to_tensor(astronaut[:96, :96])[None]
    b = array_to_tensor(chelsea[:96, :96])[None]
    blurred = F.avg_pool2d(a, 3, 1, 1)
    assert float(loss(a, a)) == 0.0
    assert 0 < float(loss(a, blurred)) < float(loss(a, b))
    assert not any(p.requires_grad for p in loss.parameters())
    # It classifies the cat photo as a cat-like class with the real ImageNet weights.
    import torchvision

    net = torchvision.models.squeezenet1_1()
    net.load_state_dict(torch.load(shared_weights, weights_only=True))
    x = F.interpolate(array_to_tensor(chelsea)[None], size=(224, 224), mode="bilinear", antialias=True)
    x = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(
        1, 3, 1, 1
    )
    assert int(net.eval()(x).argmax()) in range(276, 294)  # the ImageNet cat family (281-285) and kin


def test_lpips_squeeze_offline_orders_degradations(shared_weights, astronaut):
    import cv2

    from srgan.metrics.lpips import LPIPS

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a user asking for LPIPS sees no deprecation noise from lpips/torchvision
        lp = LPIPS(shared_weights)
    hr = astronaut[100:228, 150:278]
    small = cv2.resize(hr, (32, 32), interpolation=cv2.INTER_AREA)
    mild = cv2.resize(cv2.resize(hr, (64, 64), interpolation=cv2.INTER_AREA), (128, 128), interpolation=cv2.INTER_CUBIC)
    harsh = cv2.resize(small, (128, 128), interpolation=cv2.INTER_CUBIC)
    assert lp.score_uint8(hr, hr) == pytest.approx(0.0, abs=1e-6)
    assert 0 < lp.score_uint8(mild, hr) < lp.score_uint8(harsh, hr)


def test_grid_loss_sees_a_period_4_pattern_and_not_content(chelsea):
    from srgan.losses import GridLoss

    hr = torch.from_numpy(chelsea[:128, :128].transpose(2, 0, 1).copy()).float()[None] / 255
    grid = torch.zeros(1, 1, 4, 4)
    grid[..., 0, 0], grid[..., 2, 2] = 0.02, -0.02  # a faint checkerboard, 2 % of the range
    patterned = hr + grid.repeat(1, 3, 32, 32)
    shifted = torch.roll(hr, shifts=(1, 1), dims=(2, 3))  # a wrong but grid-free prediction
    loss = GridLoss(period=4)
    assert float(loss(hr, hr)) == 0.0
    assert float(loss(patterned, hr)) > 10 * float(loss(shifted, hr))
    assert float(GridLoss(period=4, weight=0.5)(patterned, hr)) == pytest.approx(0.5 * float(loss(patterned, hr)))


def test_artifact_loss_weighs_irregular_error_above_the_ema_and_not_smooth_error(chelsea):
    """LDL's map: zero where the output errs less than the EMA or where its error is locally even; no gradient."""
    from srgan.losses import ArtifactLoss, artifact_map
    from srgan.losses.artifact import _local_variance

    hr = torch.from_numpy(chelsea[:64, :64].transpose(2, 0, 1).copy()).float()[None] / 255
    noise = 0.05 * torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    textured = hr + noise  # a false texture: an irregular error
    loss = ArtifactLoss()
    assert float(loss(textured, hr, hr)) > 0  # the EMA is exact here, so every error pixel counts
    assert float(loss(textured, hr, hr + 2 * noise)) == 0.0  # the output errs less than the EMA everywhere
    assert float(loss(hr + 0.05, hr, hr)) == pytest.approx(0.0, abs=1e-9)  # an even offset: no local variance
    res = noise.abs().sum(1, keepdim=True)
    windows = F.pad(res, (3, 3, 3, 3), mode="reflect").unfold(2, 7, 1).unfold(3, 7, 1)
    assert torch.allclose(_local_variance(res, 7), windows.var(dim=(-1, -2)), atol=1e-6)  # the unbiased window var
    expect = res.flatten().var().pow(0.2) * _local_variance(res, 7)
    assert torch.allclose(artifact_map(textured, hr, hr), expect, atol=1e-6)
    sr = textured.clone().requires_grad_(True)
    (loss(sr, hr, hr) * 2).backward()  # the gradient is the map times the error's sign, nothing from the map
    want = 2 * artifact_map(textured, hr, hr) * torch.sign(noise) / noise.numel()
    assert torch.allclose(sr.grad, want.expand_as(sr.grad), atol=1e-9)
    assert float(ArtifactLoss(weight=0.5)(textured, hr, hr)) == pytest.approx(0.5 * float(loss(textured, hr, hr)))
    with pytest.raises(ValueError, match="odd size"):
        ArtifactLoss(window=4)


def test_lowpass_loss_sees_shading_and_not_fine_texture(chelsea):
    """Frequency separation's pixel half: a 4 px texture costs nearly nothing, a gentle shading gradient its full L1."""
    from srgan.losses import LowPassLoss, gaussian_blur

    hr = torch.from_numpy(chelsea[:96, :96].transpose(2, 0, 1).copy()).float()[None] / 255
    yy, xx = torch.meshgrid(torch.arange(96.0), torch.arange(96.0), indexing="ij")
    texture = 0.05 * torch.sign(torch.sin(xx * torch.pi / 2) * torch.sin(yy * torch.pi / 2))  # period 4
    shading = 0.05 * xx / 95  # 0 to 0.05 across the image
    loss = LowPassLoss(sigma=2.0)
    assert float(loss(hr, hr)) == 0.0
    assert float(loss(hr + texture, hr)) < 0.05 * float((texture).abs().mean())
    assert float(loss(hr + shading, hr)) == pytest.approx(float(shading.abs().mean()), rel=0.02)
    blurred = gaussian_blur(hr, 2.0)
    assert blurred.shape == hr.shape and torch.allclose(blurred.mean(), hr.mean(), atol=2e-3)  # a normalised kernel
    flat = torch.full((1, 3, 20, 20), 0.3)
    assert torch.allclose(gaussian_blur(flat, 1.5), flat, atol=1e-6)
    assert float(LowPassLoss(weight=3.0)(hr + shading, hr)) == pytest.approx(3 * float(loss(hr + shading, hr)))
    with pytest.raises(ValueError, match="sigma must be positive"):
        LowPassLoss(sigma=0)


def test_unet_discriminator_gives_a_logit_per_pixel():
    from srgan.archs import UNetDiscriminator

    d = UNetDiscriminator(num_feat=8)
    x = torch.rand(2, 3, 64, 48, requires_grad=True)
    y = d(x)
    assert y.shape == (2, 1, 64, 48)
    y[:, :, 10, 10].sum().backward()  # local feedback: one pixel's logit depends mostly on its neighbourhood
    g = x.grad.abs().sum(dim=(0, 1))
    assert g[10, 10] > 0 and g[60, 40] < g[10, 10]
    assert sum(isinstance(m, torch.nn.Conv2d) and hasattr(m, "weight_orig") for m in d.modules()) == 8  # spectral norm


@pytest.mark.parametrize("arch", ["patchgan", "unet"])
def test_antialiased_discriminator_sends_no_periodic_gradient(arch, chelsea):
    """The cause of srgan-x4's period-4 grid (issue 19): a strided-conv D's input gradient repeats with the
    stride; blur-pool downsampling removes that. Measured on a real photo with seeded random weights."""
    from srgan.archs import build_discriminator
    from srgan.metrics.artifacts import checkerboard_score

    x = torch.from_numpy(chelsea[:128, :128].copy()).permute(2, 0, 1)[None].float() / 255
    scores = {}
    for aa in (False, True):
        torch.manual_seed(0)
        d = build_discriminator(arch, num_feat=16, antialias=aa)
        xx = x.clone().requires_grad_(True)
        d(xx).mean().backward()
        g = xx.grad[0].permute(1, 2, 0).numpy()
        img = np.clip((g - g.mean()) / g.std() * 40 + 128, 0, 255).astype(np.uint8)
        scores[aa] = checkerboard_score(img)
        assert d(x).shape[:2] == (1, 1)
    assert scores[False] > 4 and scores[True] < 2.5, scores
    assert (
        build_discriminator(arch, num_feat=16, antialias=True)(x).shape
        == build_discriminator(arch, num_feat=16)(x).shape
    )


def test_random_shift_crops_at_the_offset_and_refuses_one_outside(chelsea):
    x = torch.from_numpy(chelsea[:64, :64].transpose(2, 0, 1).copy()).float()[None]
    assert random_shift(x, 0, (0, 0)) is x
    y = random_shift(x, 7, (3, 5))
    assert y.shape[-2:] == (57, 57)
    assert torch.equal(y, x[..., 3:60, 5:62])
    assert torch.equal(random_shift(x, 7, (7, 0)), x[..., 7:64, 0:57])
    with pytest.raises(ValueError, match="outside"):
        random_shift(x, 7, (8, 0))


def test_bilinear_resize_conv_leaves_no_block_edges_for_the_convs_to_sharpen():
    """A smooth ramp through the x2 resize: nearest-neighbour copies make 2-px steps, bilinear a ramp."""
    ramp = torch.arange(16.0).repeat(16, 1)[None, None]
    for mode, steps in (("nearest", True), ("bilinear", False)):
        g = SRResNet(scale=4, num_feat=1, num_blocks=0, upsampler=mode, up_feat=1)
        up = g.upsample[0](ramp)[0, 0, 8, 4:28]  # away from the border
        d = up.diff()
        assert bool((d[::2] == 0).all() and (d[1::2] == 1).all()) is steps, mode
        if not steps:
            assert torch.allclose(d, torch.full_like(d, 0.5))


def test_graft_moves_bilinear_weights_to_the_slim_upsampler(tmp_path):
    """tools/graft_weights.py --rename: the slim upsampler holds the bilinear one's tensors under other names."""
    import subprocess
    import sys
    from pathlib import Path

    torch.manual_seed(0)
    bilinear = SRResNet(scale=4, num_feat=8, num_blocks=1, upsampler="bilinear", up_feat=8)
    save_generator(tmp_path / "bilinear.safetensors", bilinear, {})
    config = tmp_path / "slim.toml"
    model = '[model]\nscale = 4\nnum_feat = 8\nnum_blocks = 1\nupsampler = "slim"\nup_feat = 8\n'
    config.write_text(f"{model}[data]\ntrain_dirs = [{str(tmp_path)!r}]\n")
    tool = Path(__file__).resolve().parents[1] / "tools" / "graft_weights.py"
    renames = ["--rename", "upsample.1.=upsample.0.", "--rename", "upsample.4.=upsample.3."]
    done = subprocess.run([sys.executable, str(tool), str(tmp_path / "bilinear.safetensors"), str(config),
                           str(tmp_path / "slim.safetensors"), *renames], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "14 of 14 tensors" in done.stdout
    slim, _ = load_generator(tmp_path / "slim.safetensors")
    assert slim.hparams["upsampler"] == "slim" and isinstance(slim.upsample[2], torch.nn.Upsample)
    for name, tensor in bilinear.state_dict().items():
        renamed = name.replace("upsample.1.", "upsample.0.").replace("upsample.4.", "upsample.3.")
        torch.testing.assert_close(slim.state_dict()[renamed], tensor, rtol=0, atol=0)


def test_lecam_anchors_and_penalty():
    """LeCam: anchors start at the first batch's means, then move by (1 - decay); only a real output above the
    fake anchor or a fake one below the real anchor is penalised, squared."""
    from srgan.losses import LeCamRegularizer

    reg = LeCamRegularizer(decay=0.9)
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-2.0, 0.0])
    # anchors (2, -1): real - a_fake = (2, 4), a_real - fake = (4, 2): (4 + 16) / 2 + (16 + 4) / 2
    assert torch.isclose(reg(real, fake), torch.tensor(20.0))
    torch.testing.assert_close(reg.anchors, torch.tensor([2.0, -1.0]))
    real2 = torch.tensor([-5.0, -5.0], requires_grad=True)  # below the fake anchor: no penalty
    fake2 = torch.tensor([5.0, 5.0], requires_grad=True)  # above the real anchor: no penalty
    assert float(reg(real2, fake2).detach()) == 0.0
    torch.testing.assert_close(reg.anchors, torch.tensor([0.9 * 2 - 0.1 * 5, 0.9 * -1 + 0.1 * 5]))
    state = reg.state_dict()
    assert set(state) == {"anchors", "started"} and bool(state["started"])
    with pytest.raises(ValueError, match="decay"):
        LeCamRegularizer(decay=1.0)


@pytest.mark.parametrize("size", [(4, 4), (5, 9), (37, 22)])
def test_resize_conv_at_low_resolution_equals_resize_then_conv(astronaut, size):
    """srgan.archs.polyphase: bilinear x2 then a 3x3 conv, as one stride-2 transposed conv plus the border ring."""
    from srgan.archs.polyphase import polyphase_kernel, resize_conv_x2
    from srgan.data.tensors import array_to_tensor

    torch.manual_seed(3)
    conv = torch.nn.Conv2d(12, 5, 3, padding=1)
    x = array_to_tensor(astronaut[100 : 100 + size[0], 150 : 150 + size[1]])[None].repeat(2, 4, 1, 1)
    x = x + 0.1 * torch.randn_like(x)  # 12 channels that differ
    with torch.no_grad():
        ref = conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False))
        for memory_format in (torch.contiguous_format, torch.channels_last):
            out = resize_conv_x2(x.contiguous(memory_format=memory_format), conv)
            torch.testing.assert_close(out, ref, atol=2e-6, rtol=0)
        # the ring the transposed conv gets wrong on its own is where the fix-up matters
        raw = F.conv_transpose2d(x, polyphase_kernel(conv.weight), conv.bias, stride=2, padding=2)
    assert (raw - ref)[..., :2, :].abs().max() > 1e-3
    torch.testing.assert_close(raw[..., 2:-2, 2:-2], ref[..., 2:-2, 2:-2], atol=2e-6, rtol=0)


def test_bilinear_generator_runs_its_upsampler_at_low_resolution_in_eval_only(astronaut):
    """The fused path gives the direct path's output (eval); training keeps the direct one (the same graph)."""
    from srgan.data.tensors import array_to_tensor

    g = _perturbed(SRResNet(scale=4, num_feat=8, num_blocks=1, upsampler="bilinear", up_feat=8))
    x = array_to_tensor(astronaut[60:93, 200:241])[None]
    calls = []
    handle = g.upsample[0].register_forward_hook(lambda *_: calls.append(1))  # the direct path's resize
    with torch.no_grad():
        fused = g(x)
        assert calls == []
        g.fused_resize = False
        direct = g(x)
        assert calls == [1]
    torch.testing.assert_close(fused, direct, atol=1e-5, rtol=0)
    g.fused_resize = True
    g.train()(x)
    assert calls == [1, 1]
    handle.remove()
