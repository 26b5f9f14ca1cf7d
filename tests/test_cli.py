"""The CLI users expect: Real-ESRGAN's flags, help that teaches, one line of feedback, failing early."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from srgan.archs import SRResNet
from srgan.cli import build_parser, main
from srgan.imageio import read_image, write_image
from srgan.weights import save_generator


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    torch.manual_seed(3)
    path = tmp_path_factory.mktemp("cli") / "m2.safetensors"
    save_generator(path, SRResNet(scale=2, num_feat=8, num_blocks=1).eval(), {"scale": 2})
    return path


@pytest.fixture
def photo(tmp_path, chelsea) -> Path:
    path = tmp_path / "cat.png"
    write_image(path, chelsea[60:124, 150:230])
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


PAIRS = [
    (["-n", "{m}"], ["--model", "{m}"]),
    (["-m", "{m}"], ["--model_path", "{m}"]),
    (["--model", "{m}", "-s", "1.5"], ["--model", "{m}", "--outscale", "1.5"]),
    (["--model", "{m}", "--scale", "1.5"], ["--model", "{m}", "--outscale", "1.5"]),
    (["--model", "{m}", "-t", "32"], ["--model", "{m}", "--tile", "32"]),
    (["--model", "{m}", "-f", "webp"], ["--model", "{m}", "--ext", "webp"]),
    (["--model", "{m}", "--fp32"], ["--model", "{m}", "--precision", "fp32"]),
    (["--model", "{m}", "-t", "32", "--tile_pad", "3"], ["--model", "{m}", "--tile", "32", "--tile-pad", "3"]),
    (["--model", "{m}", "--pre_pad", "4"], ["--model", "{m}", "--pre-pad", "4"]),
    (["--model", "{m}", "-x"], ["--model", "{m}", "--tta"]),
    (["--model", "{m}", "-j", "1:1:2"], ["--model", "{m}", "--threads", "1"]),
    (["--model", "{m}", "--alpha_upsampler", "realesrgan"], ["--model", "{m}", "--alpha", "model"]),
]


@pytest.mark.parametrize(("short", "long"), PAIRS, ids=[" ".join(p[0]) for p in PAIRS])
def test_real_esrgan_flags_match_their_long_form(tmp_path, model, photo, short, long):
    outs = []
    for i, flags in enumerate((short, long)):
        out = tmp_path / f"o{i}"
        argv = ["upscale", "-i", str(photo), "-o", str(out), *[f.format(m=model) for f in flags], "--no-progress"]
        assert main(argv) == 0
        (written,) = list(out.iterdir())
        outs.append(written)
    assert outs[0].name == outs[1].name and _digest(outs[0]) == _digest(outs[1])


def test_positional_and_dash_i_o_agree(tmp_path, model, photo):
    assert main(["upscale", str(photo), str(tmp_path / "a.png"), "--model", str(model)]) == 0
    assert main(["upscale", "-i", str(photo), "-o", str(tmp_path / "b.png"), "--model", str(model)]) == 0
    assert _digest(tmp_path / "a.png") == _digest(tmp_path / "b.png")


def test_an_output_with_an_unknown_extension_is_refused_not_made_a_folder(tmp_path, model, photo, capsys):
    assert main(["upscale", str(photo), str(tmp_path / "out.jfif"), "--model", str(model)]) == 2
    assert ".jfif is not a format srgan writes" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [photo]
    (tmp_path / "results.v2").mkdir()  # an existing folder with a dot is still a folder
    assert main(["upscale", str(photo), str(tmp_path / "results.v2"), "--model", str(model)]) == 0
    assert (tmp_path / "results.v2" / "cat.png").is_file()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_flag_is_device_cuda_n(tmp_path, model, photo):
    assert main(["upscale", str(photo), str(tmp_path / "a.png"), "--model", str(model), "-g", "0"]) == 0
    assert main(["upscale", str(photo), str(tmp_path / "b.png"), "--model", str(model), "--device", "cuda:0"]) == 0
    assert _digest(tmp_path / "a.png") == _digest(tmp_path / "b.png")


COMMANDS = ["upscale", "evaluate", "train", "models", "export", "augment", "augment generate", "augment report"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_help_has_examples_and_defaults(command, capsys):
    with pytest.raises(SystemExit):
        main([*command.split(), "--help"])
    text = capsys.readouterr().out
    assert "examples:\n  srgan " in text and "==SUPPRESS==" not in text
    parser = build_parser().get_default("subparsers")[command.replace(" ", "-")]
    for action in parser._actions:  # every option with a real default shows it, next to its help
        if action.option_strings and action.default not in (None, False, "", "==SUPPRESS==") and action.help:
            assert f"(default: {action.default})" in " ".join(text.split()), action.option_strings


def test_top_level_help_hides_internal_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "augment-report" not in text and "augment-generate" not in text and "==SUPPRESS==" not in text


def test_argument_errors_show_the_commands_usage(capsys, photo):
    with pytest.raises(SystemExit) as info:
        main(["upscale", str(photo), "out.png", "--bogus"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: srgan upscale") and "unrecognized arguments: --bogus" in err


def test_single_file_prints_one_line_and_quiet_prints_nothing(tmp_path, model, photo, capsys):
    assert main(["upscale", str(photo), str(tmp_path / "a.png"), "--model", str(model)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("srgan: info: wrote ") and "(160x128, " in err[0]
    assert main(["upscale", str(photo), str(tmp_path / "b.png"), "--model", str(model), "-q"]) == 0
    out, err2 = capsys.readouterr()
    assert out == "" and err2 == ""
    assert main(["-q", "upscale", str(photo), str(tmp_path / "c.png"), "--model", str(model)]) == 0
    assert capsys.readouterr().err == ""


def test_verbose_after_the_command_lists_every_file(tmp_path, model, chelsea, capsys):
    for i in range(3):
        write_image(tmp_path / "in" / f"{i}.png", chelsea[i * 20 : i * 20 + 40, :40])
    assert main(["upscale", str(tmp_path / "in"), str(tmp_path / "out"), "--model", str(model), "-v"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert sum(ln.startswith("srgan: info: wrote ") for ln in err) == 3
    assert err[-1] == "srgan: info: 3 written, 0 skipped (existing), 0 failed"
    assert read_image(tmp_path / "out" / "0.png").shape == (80, 80, 3)


def test_report_without_backbone_weights_fails_before_training(tmp_path, monkeypatch, chelsea, capsys):
    monkeypatch.delenv("SRGAN_SQUEEZENET_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-cache"))
    for c in ("a", "b"):
        for i in range(4):
            write_image(tmp_path / "src" / c / f"{i}.png", chelsea[i * 8 : i * 8 + 32, :32])
    code = main(["augment", str(tmp_path / "src"), str(tmp_path / "out"), "--engine", "gan", "--steps", "5000",
                 "--report", "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--backbone-weights PATH" in err[0] and "--allow-download" in err[0]
    assert not (tmp_path / "out").exists()  # refused before OUT was made, so before any training


def test_parser_builds_without_torch_heavy_imports():
    """`srgan --help` stays fast: building the parser needs no model code."""
    assert "upscale" in build_parser().format_help()


def test_backbone_file_names_are_torchvision_s():
    import torchvision

    from srgan.weights import BACKBONE_FILES

    urls = {"vgg19": torchvision.models.VGG19_Weights, "squeezenet": torchvision.models.SqueezeNet1_1_Weights}
    for name, enum in urls.items():
        assert enum.IMAGENET1K_V1.url.endswith("/" + BACKBONE_FILES[name])
