"""Animated GIF, APNG and animated WebP come back animated: frame count, durations, loop kept."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from srgan.cli import main
from srgan.imageio import load_image
from srgan.imageio.animation import frame_count, load_animation

DURATIONS = [80, 120, 100]


@pytest.fixture(scope="module")
def model() -> str:
    return "srresnet-x2"  # the shipped model: frames must come out looking like the input


def _frames(astronaut: np.ndarray, alpha: bool) -> list[Image.Image]:
    out = []
    for i in range(3):  # a real photo panning right, as a GIF of a screen recording would
        a = np.ascontiguousarray(astronaut[40:88, 20 + 12 * i : 84 + 12 * i])
        if alpha:
            a = np.dstack([a, np.where(np.arange(64)[None, :] < 8 * (i + 2), 255, 0).repeat(48, 0).astype(np.uint8)])
        out.append(Image.fromarray(a))
    return out


def _save(frames: list[Image.Image], fmt: str) -> bytes:
    buf = io.BytesIO()
    frames[0].save(buf, format=fmt, save_all=True, append_images=frames[1:], duration=DURATIONS, loop=0)
    return buf.getvalue()


@pytest.mark.parametrize(("fmt", "ext"), [("GIF", "gif"), ("PNG", "png"), ("WEBP", "webp")])
@pytest.mark.parametrize("alpha", [False, True], ids=["opaque", "alpha"])
def test_animation_is_upscaled_frame_by_frame(tmp_path, model, astronaut, fmt, ext, alpha, capsys):
    src = tmp_path / f"pan.{ext}"
    src.write_bytes(_save(_frames(astronaut, alpha), fmt))
    assert frame_count(src) == 3
    assert main(["upscale", str(src), str(tmp_path / "out"), "--model", str(model)]) == 0
    out = tmp_path / "out" / f"pan.{ext}"  # an animated GIF stays a GIF (a still one becomes PNG)
    anim = load_animation(out)
    assert len(anim.frames) == 3 and anim.durations == DURATIONS and anim.loop == 0
    src_anim = load_animation(src)
    assert anim.frames[0].shape[:2] == (96, 128) and anim.frames[0].shape[2] == src_anim.frames[0].shape[2]
    assert fmt == "WEBP" or (anim.frames[0].shape[2] == 4) == alpha  # Pillow decodes this WebP's alpha as RGB
    if fmt != "GIF":  # GIF quantises to 256 colours; the others hold the frames as upscaled
        assert not np.array_equal(anim.frames[0], anim.frames[2])
        assert abs(float(anim.frames[1][..., :3].mean()) - float(src_anim.frames[1][..., :3].mean())) < 3
    assert "3 frames" in capsys.readouterr().err


def test_animation_to_jpeg_is_one_line(tmp_path, model, astronaut, capsys):
    src = tmp_path / "pan.gif"
    src.write_bytes(_save(_frames(astronaut, False), "GIF"))
    assert main(["upscale", str(src), str(tmp_path / "out"), "--model", str(model), "-f", "jpg"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "animation can be written as .gif, .png or .webp" in err[0]


def test_still_readers_say_where_animations_go(tmp_path, astronaut):
    from srgan.errors import UnsupportedImageError

    src = tmp_path / "pan.gif"
    src.write_bytes(_save(_frames(astronaut, False), "GIF"))
    with pytest.raises(UnsupportedImageError, match="srgan upscale takes animations"):
        load_image(src)
