"""Shared fixtures: real photos from scikit-image, and the benchmark data in ../shared/data.

Tests that need ../shared/data get it from the ``shared_data`` fixture. The folder is found
through one setting, the environment variable ``SRGAN_DATA`` (default: ``../shared/data``
beside the repository). When it is absent such tests skip with a reason; with
``SRGAN_REQUIRE_DATA=1`` (set by .ci/run, since CI always has the data) they fail instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import skimage.data

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    return Path(os.environ.get("SRGAN_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = shared_data_dir()
    _require(root / "Set5", "benchmark data")
    return root


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        msg = f"{what} not found at {path} (set SRGAN_DATA to the shared/data folder)"
        if os.environ.get("SRGAN_REQUIRE_DATA") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def squeezenet_path() -> Path:
    return shared_data_dir().parent / "weights" / "squeezenet1_1_imagenet.pth"


@pytest.fixture(scope="session")
def shared_weights() -> Path:
    """SqueezeNet 1.1 ImageNet weights, in shared/weights beside shared/data.

    srgan never looks for them there by itself; tests that need them take this fixture, which
    also names them in ``SRGAN_SQUEEZENET_WEIGHTS`` for the code paths that read the variable.
    """
    path = _require(squeezenet_path(), "SqueezeNet weights")
    os.environ["SRGAN_SQUEEZENET_WEIGHTS"] = str(path)
    return path


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return skimage.data.astronaut()  # (512, 512, 3) uint8


@pytest.fixture(scope="session")
def chelsea() -> np.ndarray:
    return skimage.data.chelsea()  # (300, 451, 3) uint8


@pytest.fixture(scope="session")
def camera() -> np.ndarray:
    return skimage.data.camera()[:, :, None]  # (512, 512, 1) uint8 gray


@pytest.fixture(scope="session")
def logo() -> np.ndarray:
    """(500, 500, 4) uint8 RGBA with a real cut-out alpha.

    scikit-image's logo is stored opaque; its white background becomes transparent here,
    with a soft edge, the way cut-outs look in practice.
    """
    import cv2

    rgba = skimage.data.logo().copy()
    background = (rgba[:, :, :3] > 235).all(axis=2).astype(np.float32)
    alpha = 1.0 - cv2.GaussianBlur(background, (7, 7), 1.5)
    rgba[:, :, 3] = np.round(alpha * 255).astype(np.uint8)
    return rgba


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    return skimage.data.coffee()  # (400, 600, 3) uint8


@pytest.fixture(scope="session")
def astronaut16(astronaut: np.ndarray) -> np.ndarray:
    """A genuine 16-bit image: the photo smoothed in float so the low byte carries detail."""
    import cv2

    f = cv2.GaussianBlur(astronaut.astype(np.float64) * 257.0, (5, 5), 1.2)
    return np.clip(np.round(f), 0, 65535).astype(np.uint16)


@pytest.fixture(scope="session")
def srgb_icc() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.fixture(scope="module")
def images(tmp_path_factory, astronaut, coffee):
    """Two real photo crops loaded as x4 training images (modcropped HR, at least 64 px)."""
    from srgan.data import load_hr_images
    from srgan.imageio import write_image

    d = tmp_path_factory.mktemp("hr")
    write_image(d / "a.png", astronaut[:200, :240])
    write_image(d / "b.png", coffee[:150, :300])
    return load_hr_images([d], scale=4, min_size=64)
