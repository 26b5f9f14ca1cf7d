"""`srgan evaluate` end to end: output formats, LR folders, and bad files in a folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from srgan.cli import main
from srgan.imageio import write_image
from srgan.metrics.protocol import make_lr, prepare_hr


@pytest.fixture
def hr_folder(tmp_path, astronaut, chelsea, coffee, camera) -> Path:
    d = tmp_path / "MiniSet"
    d.mkdir()
    write_image(d / "astronaut.png", astronaut[100:230, 150:290])
    write_image(d / "chelsea.png", chelsea[60:190, 100:237])  # 137 wide: modcrop needed
    write_image(d / "coffee.jpg", coffee[:120, :160])
    write_image(d / "camera.png", camera[200:330, 180:310])  # gray
    return d


def _run_json(capsys, *args: str) -> tuple[int, list[dict], str]:
    code = main(["evaluate", *args, "--format", "json", "--no-progress"])
    out = capsys.readouterr()
    return code, json.loads(out.out) if out.out.strip() else [], out.err


def test_json_report_has_documented_keys(hr_folder, capsys):
    code, rows, _ = _run_json(capsys, "--data", str(hr_folder), "--scale", "2", "--method", "bicubic", "lanczos")
    assert code == 0
    assert [r["method"] for r in rows] == ["bicubic", "lanczos"]
    for r in rows:
        assert {"dataset", "method", "scale", "psnr_y", "ssim_y", "n_images", "seconds", "images"} <= r.keys()
        assert r["dataset"] == "MiniSet" and r["n_images"] == 4 and r["scale"] == 2
        assert {"name", "psnr_y", "ssim_y"} <= r["images"][0].keys()
        assert 20 < r["psnr_y"] < 50 and 0.5 < r["ssim_y"] <= 1


def test_lr_dir_gives_same_scores_as_generated_lr(hr_folder, tmp_path, capsys):
    from srgan.imageio import list_images, read_image

    lr_dir = tmp_path / "LRx3"
    for f in list_images(hr_folder):
        write_image(lr_dir / f"{f.stem}x3.png", make_lr(prepare_hr(read_image(f), 3, "basicsr"), 3, "basicsr"))
    _, made, _ = _run_json(capsys, "--data", str(hr_folder), "--scale", "3")
    _, read, _ = _run_json(capsys, "--data", str(hr_folder), "--scale", "3", "--lr-dir", str(lr_dir))
    assert read[0]["psnr_y"] == pytest.approx(made[0]["psnr_y"], abs=1e-12)


def test_markdown_and_csv_outputs(hr_folder, tmp_path, capsys):
    assert main(["evaluate", "--data", str(hr_folder), "--scale", "4", "--no-progress"]) == 0
    md = capsys.readouterr().out
    assert "| bicubic |" in md and "| astronaut.png |" in md
    out = tmp_path / "r.csv"
    assert (
        main(
            [
                "evaluate",
                "--data",
                str(hr_folder),
                "--scale",
                "4",
                "--format",
                "csv",
                "--output",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    lines = out.read_text().splitlines()
    assert lines[0].startswith("dataset,method,scale")
    assert sum(1 for ln in lines if ",MEAN," in ln) == 1 and len(lines) == 1 + 4 + 1


def test_bad_file_is_reported_and_the_rest_scored(hr_folder, capsys):
    (hr_folder / "broken.png").write_bytes((hr_folder / "astronaut.png").read_bytes()[:500])
    (hr_folder / "notes.png").write_text("not an image")
    code, rows, err = _run_json(capsys, "--data", str(hr_folder), "--scale", "2")
    assert code == 1
    assert rows[0]["n_images"] == 4
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert any("broken.png" in ln for ln in lines) and any("notes.png" in ln for ln in lines)
    assert "Traceback" not in err


def test_usage_errors_are_one_line(tmp_path, capsys):
    assert main(["evaluate", "--data", str(tmp_path / "nope"), "--scale", "4", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such folder" in err[0]
    (tmp_path / "empty").mkdir()
    assert main(["evaluate", "--data", str(tmp_path / "empty"), "--scale", "4"]) == 2
    assert main(["evaluate", "--data", str(tmp_path / "empty"), "--scale", "4", "--method", "nosuch"]) == 2
    assert "unknown method" in capsys.readouterr().err


def test_python_m_srgan_runs_without_traceback(hr_folder):
    (hr_folder / "zero.png").write_bytes(b"")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "srgan",
            "evaluate",
            "--data",
            str(hr_folder),
            "--scale",
            "4",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "zero.png" in proc.stderr and "empty file" in proc.stderr
    assert json.loads(proc.stdout)[0]["n_images"] == 4
    assert np.isfinite(json.loads(proc.stdout)[0]["psnr_y"])


def test_lpips_column_matches_the_metric_and_needs_its_weights(hr_folder, tmp_path, capsys, monkeypatch,
                                                               shared_weights):  # fmt: skip
    from srgan.evaluation import resolve_method
    from srgan.imageio import read_image
    from srgan.metrics.lpips import LPIPS
    from srgan.metrics.protocol import to_uint8

    code, rows, _ = _run_json(capsys, "--data", str(hr_folder), "--scale", "4", "--method", "bicubic", "srresnet-x4",
                              "--lpips", "--backbone-weights", str(shared_weights))  # fmt: skip
    assert code == 0
    bicubic, model = rows
    hr = prepare_hr(read_image(hr_folder / "astronaut.png"), 4, "basicsr")
    sr = to_uint8(resolve_method("bicubic", 4).upscale(make_lr(hr, 4, "basicsr")))
    first = next(i for i in bicubic["images"] if i["name"] == "astronaut.png")
    assert first["extra"]["lpips"] == pytest.approx(LPIPS(shared_weights).score_uint8(sr, hr), abs=1e-6)
    assert bicubic["extra"]["lpips"] == pytest.approx(np.mean([i["extra"]["lpips"] for i in bicubic["images"]]))
    assert 0 < model["extra"]["lpips"] < bicubic["extra"]["lpips"]  # blur is far, perceptually
    assert main(["evaluate", "--data", str(hr_folder), "--scale", "4", "--lpips", "--backbone-weights",
                 str(shared_weights), "--no-progress"]) == 0  # fmt: skip
    md = capsys.readouterr().out
    assert "| method | PSNR-Y (dB) | SSIM-Y | LPIPS | images | seconds |" in md
    assert "| image | bicubic PSNR / SSIM / LPIPS |" in md
    out = tmp_path / "r.csv"
    # the weights from SRGAN_SQUEEZENET_WEIGHTS this time
    assert main(["evaluate", "--data", str(hr_folder), "--scale", "4", "--lpips", "--format", "csv", "--output",
                 str(out), "--no-progress"]) == 0  # fmt: skip
    lines = out.read_text().splitlines()
    assert lines[0] == "dataset,method,scale,protocol,image,psnr_y,ssim_y,lpips,seconds"
    assert all(len(ln.split(",")) == 9 for ln in lines)
    capsys.readouterr()
    # nowhere to find the weights: one line, before any image is scored
    monkeypatch.delenv("SRGAN_SQUEEZENET_WEIGHTS")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-cache"))
    assert main(["evaluate", "--data", str(hr_folder), "--scale", "4", "--lpips", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--lpips needs SqueezeNet 1.1 ImageNet weights" in err[0]
