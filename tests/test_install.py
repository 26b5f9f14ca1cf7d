"""The install users get: a wheel built from the tree, installed outside the checkout, does the main job."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO

from srgan.imageio import read_image, write_image

SHIPPED = ("srresnet-x4", "srresnet-x2", "srgan-x4", "realsr-x4", "realsrgan-x4", "realsrgan-x4-wdn")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """Build the wheel from a copy of the tracked package files and install it (--no-deps) into a folder."""
    root = tmp_path_factory.mktemp("install")
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "srgan", src / "srgan", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    wheels = root / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(src)],
                           capture_output=True, text=True, timeout=600)  # fmt: skip
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheels.glob("srgan-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for model in SHIPPED:
        assert f"srgan/shipped/{model}.safetensors" in names, f"the wheel lacks {model}"
        assert f"srgan/configs/{model}.toml" in names
    assert "srgan/shipped/README.md" in names  # the model card
    site = root / "site"
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)]
    inst = subprocess.run(pip, capture_output=True, text=True, timeout=300)
    assert inst.returncode == 0, inst.stderr[-2000:]
    return site


def _run(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SRGAN_WEIGHTS_DIR"}
    env.update(PYTHONPATH=str(site), OMP_NUM_THREADS="2")
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_installed_wheel_upscales_outside_the_checkout(installed, tmp_path, chelsea):
    work = tmp_path / "elsewhere"
    write_image(work / "cat.png", chelsea[100:164, 150:230])
    where = _run(installed, work, "-c", "import srgan; print(srgan.__file__)")
    assert where.stdout.strip().startswith(str(installed)), where.stdout + where.stderr
    models = _run(installed, work, "-m", "srgan", "models")
    assert models.returncode == 0, models.stderr
    assert all(m in models.stdout for m in SHIPPED)
    up = _run(installed, work, "-m", "srgan", "upscale", "cat.png", "cat_x4.png", "--no-progress")
    assert up.returncode == 0, up.stderr
    assert read_image(work / "cat_x4.png").shape == (256, 320, 3)
    write_image(work / "hr" / "cat.png", chelsea[:96, :128])
    ev = _run(installed, work, "-m", "srgan", "evaluate", "--data", "hr", "--scale", "4", "--method", "srresnet-x4",
              "--no-progress")  # fmt: skip
    assert ev.returncode == 0 and "| srresnet-x4 |" in ev.stdout, ev.stderr
    code = (
        "import PIL.Image as I; limit = I.MAX_IMAGE_PIXELS; from srgan import Upscaler; "
        "import srgan.imageio, srgan.cli; assert I.MAX_IMAGE_PIXELS == limit; import numpy as np; "
        "print(Upscaler('srresnet-x2').upscale(np.zeros((8, 8, 3), np.uint8)).shape)"
    )
    api = _run(installed, work, "-c", code)
    assert api.returncode == 0 and api.stdout.strip() == "(16, 16, 3)", api.stderr
