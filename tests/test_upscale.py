"""`srgan upscale` and the Upscaler: tiling, image kinds, batches, safety, export."""

from __future__ import annotations

import hashlib
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO
from PIL import Image

from srgan.archs import SRResNet
from srgan.cli import main
from srgan.errors import ModelError
from srgan.imageio import ImageMeta, load_image, read_image, write_image
from srgan.infer import Upscaler, load_model
from srgan.weights import save_generator


@pytest.fixture(scope="module")
def model_x4(tmp_path_factory) -> Path:
    """A small x4 srgan model (random weights: the invariants below hold for any weights)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "mini-x4.safetensors"
    save_generator(path, SRResNet(scale=4, num_feat=16, num_blocks=3).eval(), {"scale": 4, "parameters": 1})
    return path


@pytest.fixture(scope="module")
def model_x2(tmp_path_factory) -> Path:
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("weights2") / "mini-x2.safetensors"
    save_generator(path, SRResNet(scale=2, num_feat=16, num_blocks=2).eval(), {"scale": 2})
    return path


@pytest.mark.parametrize("tile", [32, 48, 100])
def test_tiled_equals_untiled(model_x4, astronaut, tile):
    img = astronaut[50:181, 200:297]  # 131 x 97: odd, and not a multiple of any tile
    whole = Upscaler(model_x4, device="cpu", tile=0).upscale(img)
    tiled = Upscaler(model_x4, device="cpu", tile=tile).upscale(img)
    assert tiled.shape == (524, 388, 3)
    assert np.abs(tiled.astype(int) - whole.astype(int)).max() <= 1


@pytest.mark.parametrize("upsampler", ["nearest", "bilinear", "slim"])
def test_tiled_equals_untiled_with_the_resize_conv_upsampler(tmp_path, astronaut, upsampler):
    """The resize-conv upsamplers (srgan-x4's) run full-resolution convs: tiles must still meet exactly."""
    torch.manual_seed(2)
    path = tmp_path / f"mini-{upsampler}-x4.safetensors"
    g = SRResNet(scale=4, num_feat=16, num_blocks=2, upsampler=upsampler, up_feat=8).eval()
    save_generator(path, g, {"scale": 4})
    img = astronaut[50:181, 200:297]
    whole = Upscaler(path, device="cpu", tile=0).upscale(img)
    tiled = Upscaler(path, device="cpu", tile=40).upscale(img)
    assert np.abs(tiled.astype(int) - whole.astype(int)).max() <= 1


def test_channels_last_matches_plain_nchw(model_x4, astronaut):
    """Our generators run in channels_last (the CPU speed-up); the numbers must not change."""
    loaded = load_model(model_x4)
    assert loaded.channels_last and loaded.module.head.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.from_numpy(astronaut[100:164, 120:200].transpose(2, 0, 1).copy()).float()[None] / 255.0
    plain = load_model(model_x4).module.to(memory_format=torch.contiguous_format)
    with torch.inference_mode():
        assert torch.allclose(loaded(x), plain(x), atol=1e-5)


def test_tiled_equals_untiled_16bit_and_alpha(model_x2, astronaut16, logo):
    for img in (astronaut16[:90, :77], logo[100:171, 150:233]):
        whole = Upscaler(model_x2, device="cpu", tile=0, alpha="model").upscale(img)
        tiled = Upscaler(model_x2, device="cpu", tile=32, alpha="model").upscale(img)
        tol = 257 if img.dtype == np.uint16 else 1
        assert np.abs(tiled.astype(int) - whole.astype(int)).max() <= tol


def test_out_of_memory_halves_the_tile(model_x4, chelsea, monkeypatch, caplog):
    up = Upscaler(model_x4, device="cpu", tile=128)
    real = up._run

    def limited(x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] > 80:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 bytes")
        return real(x)

    img = chelsea[:120, :150]
    expected = Upscaler(model_x4, device="cpu", tile=0).upscale(img)
    monkeypatch.setattr(up, "_run", limited)
    got = up.upscale(img)
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1
    assert "retrying with 64px" in caplog.text


def _cli_upscale(*args: str) -> int:
    return main(["upscale", *args, "--no-progress"])


def test_image_kinds_are_kept(tmp_path, model_x2, astronaut, camera, logo, astronaut16, srgb_icc):
    src = tmp_path / "src"
    write_image(src / "rgba.png", logo[:60, :70])
    write_image(src / "gray.png", camera[:50, :40])
    write_image(src / "deep.png", astronaut16[:40, :50], meta=ImageMeta(icc_profile=srgb_icc))
    write_image(src / "deep.tif", astronaut16[:40, :50])
    Image.fromarray(astronaut[:40, :40]).quantize(32).save(src / "palette.png")
    write_image(src / "photo.jpg", astronaut[:48, :64], meta=ImageMeta(icc_profile=srgb_icc))
    assert _cli_upscale(str(src), str(tmp_path / "out"), "--model", str(model_x2)) == 0
    out = {p.name: load_image(p) for p in (tmp_path / "out").iterdir()}
    assert out["rgba.png"].array.shape == (120, 140, 4)
    assert out["gray.png"].array.shape == (100, 80, 1)
    assert out["deep.png"].array.dtype == np.uint16 and out["deep.png"].meta.icc_profile == srgb_icc
    assert out["deep.tif"].array.dtype == np.uint16 and out["deep.tif"].array.shape == (80, 100, 3)
    assert out["palette.png"].array.shape == (80, 80, 3)  # a palette with no transparent entry
    assert out["photo.jpg"].meta.icc_profile == srgb_icc


def test_alpha_is_upscaled_and_reattached(model_x2, logo):
    import cv2

    img = logo[150:230, 150:250]
    out = Upscaler(model_x2, device="cpu", alpha="bicubic").upscale(img)
    np.testing.assert_array_equal(out[:, :, 3], cv2.resize(img[:, :, 3], (200, 160), interpolation=cv2.INTER_CUBIC))
    colour = Upscaler(model_x2, device="cpu").upscale(np.ascontiguousarray(img[:, :, :3]))
    np.testing.assert_array_equal(out[:, :, :3], colour)


def test_output_size_options(tmp_path, model_x4, chelsea):
    write_image(tmp_path / "c.png", chelsea[:50, :80])
    assert _cli_upscale(str(tmp_path / "c.png"), str(tmp_path / "a.png"), "--model", str(model_x4),
                        "--outscale", "3") == 0  # fmt: skip
    assert read_image(tmp_path / "a.png").shape == (150, 240, 3)
    assert _cli_upscale(str(tmp_path / "c.png"), str(tmp_path / "b.png"), "--model", str(model_x4),
                        "--width", "100") == 0  # fmt: skip
    assert read_image(tmp_path / "b.png").shape == (62, 100, 3)  # aspect kept: 50 * 100/80 = 62.5
    assert _cli_upscale(str(tmp_path / "c.png"), str(tmp_path / "d.png"), "--model", str(model_x4),
                        "--width", "90", "--height", "70") == 0  # fmt: skip
    assert read_image(tmp_path / "d.png").shape == (70, 90, 3)


def test_batch_with_a_corrupt_file_writes_the_rest(tmp_path, model_x2, astronaut, chelsea, capsys):
    src = tmp_path / "in"
    write_image(src / "a.png", astronaut[:40, :40])
    write_image(src / "sub" / "b.jpg", chelsea[:40, :40])
    (src / "broken.png").write_bytes((src / "a.png").read_bytes()[:200])
    digests = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in src.rglob("*") if p.is_file()}
    code = _cli_upscale(str(src), str(tmp_path / "out"), "--model", str(model_x2), "--recursive", "--suffix", "_x2")
    err = capsys.readouterr().err
    assert code == 1
    assert sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.*")) == [
        "a_x2.png", "sub/b_x2.jpg"]  # fmt: skip
    assert "broken.png" in err and "Traceback" not in err
    assert "2 written, 0 skipped (existing), 1 failed" in err
    assert digests == {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in digests}  # sources untouched


def test_output_folder_inside_the_input_is_not_read_back(tmp_path, model_x2, astronaut, capsys):
    """`upscale in/ in/out/ --recursive` twice: the second run reads in/ only, not the first run's outputs."""
    src = tmp_path / "in"
    write_image(src / "a.png", astronaut[:24, :24])
    write_image(src / "sub" / "b.png", astronaut[24:48, :24])
    for _ in range(2):
        assert _cli_upscale(str(src), str(src / "out"), "--model", str(model_x2), "--recursive") == 0
    assert "2 file(s) already in the output folder" in capsys.readouterr().err
    assert sorted(str(p.relative_to(src)) for p in src.rglob("*.png")) == [
        "a.png", "out/a.png", "out/sub/b.png", "sub/b.png"]  # fmt: skip
    # IN == OUT with a suffix, and OUT above IN, still read everything in IN
    assert _cli_upscale(str(src / "sub"), str(src / "sub"), "--model", str(model_x2), "--suffix", "_x2") == 0
    assert _cli_upscale(str(src / "sub"), str(src), "--model", str(model_x2), "--suffix", "_y") == 0
    assert (src / "sub" / "b_x2.png").is_file() and (src / "b_y.png").is_file()


def test_skip_existing_and_refuse_overwriting_source(tmp_path, model_x2, astronaut, capsys):
    write_image(tmp_path / "a.png", astronaut[:32, :32])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.png").write_bytes(b"keep me")
    assert _cli_upscale(str(tmp_path / "a.png"), str(tmp_path / "out"), "--model", str(model_x2),
                        "--skip-existing") == 0  # fmt: skip
    assert (tmp_path / "out" / "a.png").read_bytes() == b"keep me"
    before = (tmp_path / "a.png").read_bytes()
    assert _cli_upscale(str(tmp_path / "a.png"), str(tmp_path / "a.png"), "--model", str(model_x2)) == 2
    assert "would overwrite its own source" in capsys.readouterr().err
    assert (tmp_path / "a.png").read_bytes() == before


def test_kill_mid_batch_leaves_no_partial_file(tmp_path, model_x4, astronaut, coffee):
    src = tmp_path / "in"
    for i in range(10):
        write_image(src / f"img{i}.png", (astronaut if i % 2 else coffee)[:200, :200])
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "srgan", "upscale", str(src), str(out), "--model", str(model_x4), "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (out.exists() and any(out.glob("*.png"))) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = sorted(out.glob("*.png"))
    assert 0 < len(finished) < 10, "the batch was not interrupted mid-way"
    for f in finished:  # every visible output is a complete image
        assert read_image(f).shape == (800, 800, 3)
    # A rerun completes the batch and clears any hidden leftover of the killed writer.
    rerun = subprocess.run([*cmd, "--skip-existing"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert len(list(out.glob("*.png"))) == 10
    assert not list(out.glob(".*"))


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned-by-srgan-test",))


def test_malicious_pth_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        torch.save({"params": {"conv.weight": torch.zeros(1)}, "x": _Payload()}, f, pickle_module=pickle)
    with pytest.raises(ModelError, match="refused"):
        load_model(path)
    assert not (tmp_path / "pwned-by-srgan-test").exists()


def test_third_party_model_through_spandrel(tmp_path, astronaut):
    from spandrel.architectures.ESRGAN import ESRGAN

    torch.manual_seed(0)
    net = ESRGAN(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=2)
    torch.save(net.state_dict(), tmp_path / "RealESRGAN_tiny_x2.pth")
    up = Upscaler(tmp_path / "RealESRGAN_tiny_x2.pth", device="cpu", tile=0)
    assert up.scale == 2 and "ESRGAN" in up.model.name
    assert up.upscale(astronaut[:30, :40]).shape == (60, 80, 3)


@pytest.mark.parametrize("upsampler", ["light", "bilinear"])
def test_onnx_export_matches_torch(tmp_path, model_x4, capsys, upsampler):
    """bilinear: ONNX gets the plain resize + conv graph, torch runs it fused; the two must agree."""
    pytest.importorskip("onnxruntime")
    model = model_x4
    if upsampler == "bilinear":
        torch.manual_seed(4)
        model = tmp_path / "mini-bilinear-x4.safetensors"
        g = SRResNet(scale=4, num_feat=16, num_blocks=2, upsampler="bilinear", up_feat=8)
        save_generator(model, g, {"scale": 4})
    assert main(["export", "--model", str(model), "--onnx", str(tmp_path / "m.onnx")]) == 0
    err = capsys.readouterr().err
    assert "max |ONNX - torch|" in err
    diff = float(err.split("image: ")[1].split()[0])
    assert diff < 1e-4


def test_onnx_export_without_the_extra_names_it(tmp_path, model_x4, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxscript" else real(name, *a))
    assert main(["export", "--model", str(model_x4), "--onnx", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'srgan[onnx]'" in err[0] and "onnxscript" in err[0]
    assert not (tmp_path / "m.onnx").exists()


def test_models_lists_shipped_models(tmp_path, model_x4, monkeypatch, capsys):
    monkeypatch.setenv("SRGAN_WEIGHTS_DIR", str(model_x4.parent))
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "mini-x4" in out and "x4" in out
    monkeypatch.setenv("SRGAN_WEIGHTS_DIR", str(tmp_path / "none"))
    assert main(["models"]) == 2


def test_evaluate_accepts_a_model_path(tmp_path, model_x2, astronaut, capsys):
    write_image(tmp_path / "hr" / "a.png", astronaut[:64, :64])
    assert main(["evaluate", "--data", str(tmp_path / "hr"), "--scale", "2", "--method", str(model_x2), "--format",
                 "json", "--no-progress"]) == 0  # fmt: skip
    assert '"method": "' + str(model_x2) in capsys.readouterr().out
    assert main(["evaluate", "--data", str(tmp_path / "hr"), "--scale", "4", "--method", str(model_x2)]) == 2


def test_bad_arguments_are_one_line(tmp_path, model_x2, capsys):
    assert _cli_upscale(str(tmp_path / "nope.png"), str(tmp_path / "o.png"), "--model", str(model_x2)) == 2
    assert _cli_upscale(str(tmp_path), str(tmp_path / "o.png"), "--model", "no-such-model") == 2
    assert _cli_upscale(str(tmp_path), str(tmp_path / "o"), "--device", "cuda:7", "--model", str(model_x2)) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln]
    assert len(err) == 3 and all(ln.startswith("srgan: error:") for ln in err)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_half_precision_on_cuda_matches_fp32(model_x4, astronaut, precision):
    img = astronaut[:96, :96]
    ref = Upscaler(model_x4, device="cuda", precision="fp32").upscale(img)
    half = Upscaler(model_x4, device="cuda", precision=precision).upscale(img)
    assert np.abs(half.astype(int) - ref.astype(int)).mean() < 1.0


def test_torchrun_splits_files_between_processes(tmp_path, model_x2, astronaut):
    torchrun = Path(sys.executable).parent / "torchrun"
    if not torchrun.exists():
        pytest.skip("torchrun not installed")
    for i in range(4):
        write_image(tmp_path / "in" / f"{i}.png", astronaut[i * 30 : i * 30 + 40, :48])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "srgan", "upscale",
                           str(tmp_path / "in"), str(tmp_path / "out"), "--model", str(model_x2), "--no-progress"],
                          capture_output=True, text=True, timeout=300, cwd=REPO, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0.png", "1.png", "2.png", "3.png"]
    assert proc.stderr.count("2 written, 0 skipped (existing), 0 failed") == 2  # two files per process


@pytest.mark.parametrize("name", ["srresnet-x4", "srresnet-x2", "srgan-x4"])
def test_shipped_models_give_what_they_gave_before_the_renovation(name, chelsea):
    """tests/reference/NAME_chelsea.png was written by the code before the package was reorganised
    (commit b4ed033; srgan-x4's rewritten each time it was re-shipped, issue 19): loading, tiling and rounding
    must still give the same image."""
    ref = read_image(REPO / "tests" / "reference" / f"{name}_chelsea.png")
    out = Upscaler(name, device="cpu", tile=0).upscale(chelsea[100:164, 180:244])
    diff = np.abs(out.astype(np.int16) - ref.astype(np.int16))
    assert out.shape == ref.shape
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3  # float rounding at .5 may differ across CPUs
