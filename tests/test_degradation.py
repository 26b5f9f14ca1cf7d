"""The no-reference degradation estimates and the hint `srgan upscale` gives users of the default model."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from srgan.cli import main
from srgan.defaults import DEFAULT_MODEL, REAL_WORLD_MODEL
from srgan.imageio import read_image, write_image
from srgan.metrics.degradation import BLOCKINESS_LIMIT, assess, blockiness, jpeg_quality
from srgan.weights import shipped_model_path


def _jpeg(img: np.ndarray, quality: int) -> io.BytesIO:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return buf


@pytest.mark.parametrize("quality", [20, 50, 75, 90, 95])
def test_jpeg_quality_is_read_back_from_the_tables(astronaut, quality):
    assert jpeg_quality(_jpeg(astronaut[:128, :128], quality)) == quality


def test_jpeg_quality_of_other_files_is_none(tmp_path, astronaut):
    write_image(tmp_path / "a.png", astronaut[:64, :64])
    (tmp_path / "b.jpg").write_bytes(b"not a jpeg")
    assert jpeg_quality(tmp_path / "a.png") is None
    assert jpeg_quality(tmp_path / "b.jpg") is None


def test_blockiness_sees_jpeg_blocks_in_a_png(chelsea):
    lr = cv2.resize(chelsea, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    blocky = np.asarray(Image.open(_jpeg(lr, 15)))
    assert blockiness(lr) < BLOCKINESS_LIMIT < blockiness(blocky)
    clean, compressed = assess(lr), assess(blocky)
    assert not clean.looks_degraded and compressed.looks_degraded
    assert compressed.jpeg_quality is None  # pixels alone: the blocks gave it away
    shifted = blocky[3:, 5:]  # blocks no longer on the 8 px grid from the corner
    assert blockiness(shifted) < blockiness(blocky)


def test_tiny_images_are_not_judged():
    assert blockiness(np.zeros((10, 10, 3), np.uint8)) == 1.0


needs_real_world = pytest.mark.skipif(shipped_model_path(REAL_WORLD_MODEL) is None,
                                      reason=f"{REAL_WORLD_MODEL} is not shipped")  # fmt: skip


@needs_real_world
def test_upscale_hints_at_the_real_world_model_for_a_compressed_jpeg(tmp_path, chelsea, capsys):
    src = tmp_path / "web.jpg"
    src.write_bytes(_jpeg(chelsea[100:164, 150:214], 40).getvalue())
    assert main(["upscale", str(src), str(tmp_path / "out.png")]) == 0
    err = capsys.readouterr().err
    assert "hint: web.jpg looks compressed (JPEG quality ~40, blockiness " in err
    assert f"--model {REAL_WORLD_MODEL} --denoise 0.5 removes them (--denoise 1 for noisy photos)" in err
    assert main(["upscale", str(src), str(tmp_path / "out2.png"), "--model", "srgan-x4"]) == 0
    # the GAN model was trained on clean input too: it turns the blocks into crisp texture. Its user is pointed at
    # the real-world GAN model made from it, at full strength (at 0.5 its LPIPS is worse: benchmarks/jpeg_hint.py)
    assert capsys.readouterr().err.rstrip().endswith("srgan-x4 sharpens JPEG blocks, --model realsrgan-x4 removes them")
    assert main(["upscale", str(src), str(tmp_path / "out5.png"), "--model", "realsrgan-x4"]) == 0
    assert "hint:" not in capsys.readouterr().err
    gan, suggested_gan = (blockiness(read_image(tmp_path / f), block=32) for f in ("out2.png", "out5.png"))
    assert suggested_gan < gan - 0.05, (suggested_gan, gan)
    assert main(["upscale", str(src), str(tmp_path / "out3.png"), "--model", REAL_WORLD_MODEL]) == 0
    assert "hint:" not in capsys.readouterr().err  # the model made for such photos
    # what the hint suggests runs, and the JPEG's 8x8 blocks (a 32 px grid after x4) stand out less than by default
    assert main(["upscale", str(src), str(tmp_path / "out4.png"), "--model", REAL_WORLD_MODEL, "--denoise", "0.5"]) == 0
    assert "hint:" not in capsys.readouterr().err
    default, suggested = (blockiness(read_image(tmp_path / f), block=32) for f in ("out.png", "out4.png"))
    assert suggested < default - 0.05, (suggested, default)


@needs_real_world
def test_no_hint_for_clean_inputs_and_one_line_for_a_batch(tmp_path, chelsea, capsys):
    crop = chelsea[100:164, 150:214]
    write_image(tmp_path / "in" / "a.png", crop)
    write_image(tmp_path / "in" / "b.jpg", crop, quality=97)
    (tmp_path / "in" / "c.jpg").write_bytes(_jpeg(crop, 60).getvalue())
    assert main(["upscale", str(tmp_path / "in" / "a.png"), str(tmp_path / "a.png")]) == 0
    assert "hint:" not in capsys.readouterr().err
    assert main(["upscale", str(tmp_path / "in"), str(tmp_path / "out")]) == 0
    hints = [ln for ln in capsys.readouterr().err.splitlines() if "hint:" in ln]
    assert len(hints) == 1
    assert hints[0].startswith("srgan: info: hint: 1 of 3 inputs look compressed (c.jpg: JPEG quality ~60, ")
    assert hints[0].endswith(
        f"{DEFAULT_MODEL} sharpens JPEG blocks, --model {REAL_WORLD_MODEL} --denoise 0.5 removes them (--denoise 1 "
        "for noisy photos)"
    )
    # the example named is the batch's most blocky input, not the first in name order
    (tmp_path / "in" / "b2.jpg").write_bytes(_jpeg(crop, 85).getvalue())
    (tmp_path / "in" / "c.jpg").write_bytes(_jpeg(crop, 20).getvalue())
    assert main(["upscale", str(tmp_path / "in"), str(tmp_path / "out2")]) == 0
    hints = [ln for ln in capsys.readouterr().err.splitlines() if "hint:" in ln]
    assert hints[0].startswith("srgan: info: hint: 2 of 4 inputs look compressed (c.jpg: JPEG quality ~20, ")
