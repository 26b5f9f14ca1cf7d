"""Image I/O: lossless round trips, metadata, orientation, and refusal of bad files."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from srgan.errors import (
    CorruptImageError,
    ImageReadError,
    ImageTooLargeError,
    ImageWriteError,
    NotAnImageError,
    UnsupportedImageError,
)
from srgan.imageio import ImageMeta, load_image, read_image, write_image


def _layouts(rgb: np.ndarray, gray: np.ndarray, rgba: np.ndarray) -> dict[str, np.ndarray]:
    la = np.concatenate([gray, rgba[: gray.shape[0], : gray.shape[1], 3:]], axis=2)
    return {"gray": gray, "gray+alpha": la, "rgb": rgb, "rgba": rgba}


@pytest.mark.parametrize("ext", [".png", ".tif"])
@pytest.mark.parametrize("depth", [8, 16])
@pytest.mark.parametrize("layout", ["gray", "gray+alpha", "rgb", "rgba"])
def test_round_trip_is_lossless(tmp_path, astronaut, camera, logo, ext, depth, layout):
    arrays = _layouts(astronaut[:200, :300], camera[:200, :300], logo[:200, :300])
    a = arrays[layout]
    if depth == 16:
        # Real 16-bit content: 8-bit values spread over 16 bits plus a varying low byte.
        a = (a.astype(np.uint16) * 257) ^ (np.arange(a.size, dtype=np.uint16).reshape(a.shape) % 251)
    path = tmp_path / f"img{ext}"
    write_image(path, a)
    back = load_image(path)
    if layout == "gray+alpha" and ext == ".png" and depth == 16:
        # OpenCV has no 16-bit gray+alpha PNG writer; srgan stores it as RGBA with equal colours.
        assert back.array.shape[2] == 4
        np.testing.assert_array_equal(back.array[:, :, 0], a[:, :, 0])
        np.testing.assert_array_equal(back.array[:, :, 3], a[:, :, 1])
        return
    assert back.array.dtype == a.dtype
    assert back.meta.bit_depth == depth
    np.testing.assert_array_equal(back.array, a)


def test_16bit_kept_when_values_are_small(tmp_path, astronaut):
    """Depth comes from the header, never from the pixel values."""
    a = astronaut[:64, :64].astype(np.uint16)  # all values <= 255, still a 16-bit image
    for ext in (".png", ".tif"):
        write_image(tmp_path / f"small{ext}", a)
        back = read_image(tmp_path / f"small{ext}")
        assert back.dtype == np.uint16
        np.testing.assert_array_equal(back, a)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".webp", ".tif"])
def test_icc_profile_is_carried(tmp_path, astronaut, srgb_icc, ext):
    meta = ImageMeta(icc_profile=srgb_icc)
    write_image(tmp_path / f"icc{ext}", astronaut[:96, :96], meta=meta)
    assert load_image(tmp_path / f"icc{ext}").meta.icc_profile == srgb_icc


def test_icc_profile_is_carried_in_16bit_png(tmp_path, astronaut16, srgb_icc):
    write_image(tmp_path / "icc16.png", astronaut16[:80, :80], meta=ImageMeta(icc_profile=srgb_icc))
    back = load_image(tmp_path / "icc16.png")
    assert back.array.dtype == np.uint16
    assert back.meta.icc_profile == srgb_icc
    # Pillow must still accept the file we assembled chunk by chunk.
    with Image.open(tmp_path / "icc16.png") as im:
        im.verify()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_applied_like_pillow(tmp_path, chelsea, orientation):
    src = Image.fromarray(chelsea[:120, :200])
    exif = src.getexif()
    exif[0x0112] = orientation
    exif[0x010F] = "srgan-test-camera"  # Make
    path = tmp_path / f"o{orientation}.jpg"
    src.save(path, quality=95, exif=exif.tobytes())
    got = load_image(path)
    with Image.open(path) as im:
        expected = np.asarray(ImageOps.exif_transpose(im))
    np.testing.assert_array_equal(got.array, expected)
    # EXIF survives with the orientation reset, so viewers do not rotate twice.
    out = tmp_path / f"out{orientation}.jpg"
    write_image(out, got.array, meta=got.meta)
    with Image.open(out) as im:
        assert im.getexif().get(0x0112, 1) == 1
        assert im.getexif().get(0x010F) == "srgan-test-camera"


@pytest.mark.parametrize("ext", [".png", ".gif"])
def test_palette_reads_as_rgb_or_rgba_as_its_transparency_says(tmp_path, astronaut, ext):
    pal = Image.fromarray(astronaut[:100, :100]).quantize(64)
    pal.save(tmp_path / f"pal{ext}")
    got = load_image(tmp_path / f"pal{ext}")
    assert got.meta.source_mode == "P"
    np.testing.assert_array_equal(got.array, np.asarray(pal.convert("RGB")))  # no alpha channel to carry
    pal.save(tmp_path / f"clear{ext}", transparency=int(np.asarray(pal)[0, 0]))
    got = load_image(tmp_path / f"clear{ext}")
    assert got.array.shape == (100, 100, 4) and got.array[0, 0, 3] == 0
    np.testing.assert_array_equal(got.array, np.asarray(Image.open(tmp_path / f"clear{ext}").convert("RGBA")))


def test_cmyk_jpeg_reads_as_rgb(tmp_path, coffee):
    Image.fromarray(coffee[:100, :150]).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    got = load_image(tmp_path / "cmyk.jpg")
    assert got.meta.source_mode == "CMYK"
    assert got.array.shape == (100, 150, 3)
    # CMYK JPEG is lossy; the colours must still be those of the photo.
    assert np.abs(got.array.astype(int) - coffee[:100, :150].astype(int)).mean() < 6


@pytest.mark.parametrize("depth", [8, 16])
@pytest.mark.parametrize("compression", ["lzw", "packbits", "zlib+predictor", "tiled-zstd"])
def test_compressed_tiff_from_photo_tools_reads_exactly(tmp_path, astronaut, compression, depth):
    """LZW (Photoshop's and OpenCV's default), PackBits, Deflate with a predictor, tiles: all lossless."""
    import tifffile

    a = astronaut[:100, :150]
    if depth == 16:
        a = (a.astype(np.uint16) * 257) ^ (np.arange(a.size, dtype=np.uint16).reshape(a.shape) % 251)
    opts: dict[str, object] = {"compression": compression.split("+")[0].removeprefix("tiled-")}
    if compression.endswith("predictor"):
        opts["predictor"] = True
    if compression.startswith("tiled"):
        opts["tile"] = (32, 48)
    tifffile.imwrite(tmp_path / "c.tif", a, photometric="rgb", **opts)
    got = load_image(tmp_path / "c.tif")
    assert got.meta.bit_depth == depth
    np.testing.assert_array_equal(got.array, a)


def test_lzw_tiff_written_by_pillow_reads_exactly(tmp_path, astronaut):
    Image.fromarray(astronaut[:100, :150]).save(tmp_path / "p.tif", compression="tiff_lzw")
    np.testing.assert_array_equal(read_image(tmp_path / "p.tif"), astronaut[:100, :150])


def test_16bit_cmyk_tiff_reads_as_16bit_rgb_like_pillow_converts_8bit_cmyk(tmp_path, coffee):
    """Pillow would read a 16-bit CMYK TIFF as 8-bit inks (wrong colours); srgan keeps the depth."""
    import tifffile

    cmyk = Image.fromarray(coffee[:100, :150]).convert("CMYK")
    inks = np.asarray(cmyk).astype(np.uint16) * 257
    alpha = coffee[:100, :150, :1].astype(np.uint16) * 257
    tifffile.imwrite(tmp_path / "c.tif", inks, photometric="separated")
    tifffile.imwrite(
        tmp_path / "ca.tif", np.concatenate([inks, alpha], 2), photometric="separated", extrasamples=["unassalpha"]
    )
    want = np.asarray(cmyk.convert("RGB")).astype(np.uint16) * 257
    got = load_image(tmp_path / "c.tif")
    assert got.meta.bit_depth == 16 and got.meta.icc_profile is None
    np.testing.assert_array_equal(got.array, want)
    np.testing.assert_array_equal(read_image(tmp_path / "ca.tif"), np.concatenate([want, alpha], 2))


@pytest.mark.parametrize("depth", [8, 16])
@pytest.mark.parametrize("layout", ["gray", "rgb"])
def test_png_colour_key_becomes_alpha(tmp_path, astronaut, depth, layout):
    """A tRNS colour key (old web graphics, pixel art) marks one colour transparent: it must not be lost."""
    a = astronaut[:60, :80] if layout == "rgb" else astronaut[:60, :80, :1]
    a = a.astype(np.uint16) * 257 if depth == 16 else a.copy()
    a[:10] = 0  # the keyed colour: a transparent band
    write_image(tmp_path / "plain.png", a)
    data = (tmp_path / "plain.png").read_bytes()
    key = struct.pack(">HHH" if layout == "rgb" else ">H", *([0] * a.shape[2]))
    trns = struct.pack(">I", len(key)) + b"tRNS" + key + struct.pack(">I", zlib.crc32(b"tRNS" + key))
    (tmp_path / "keyed.png").write_bytes(data[:33] + trns + data[33:])  # right after IHDR
    got = read_image(tmp_path / "keyed.png")
    opaque = np.iinfo(a.dtype).max
    want_alpha = np.where((a == 0).all(axis=2), 0, opaque)
    assert got.dtype == a.dtype and got.shape[2] == a.shape[2] + 1
    np.testing.assert_array_equal(got[:, :, :-1], a)
    np.testing.assert_array_equal(got[:, :, -1], want_alpha)
    assert (got[:10, :, -1] == 0).all() and (got[10:, :, -1] == opaque).mean() > 0.99


def test_heic_and_avif_are_named_not_called_non_images(tmp_path, astronaut, caplog):
    from srgan.imageio import list_images

    # the first bytes of an iPhone photo and of an AVIF: an ISO base media ``ftyp`` box and its brand
    (tmp_path / "IMG_0001.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64))
    (tmp_path / "pic.avif").write_bytes(b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + bytes(64))
    for name, kind in (("IMG_0001.HEIC", "HEIC"), ("pic.avif", "AVIF")):
        with pytest.raises(UnsupportedImageError, match=f"{kind} images are not supported; convert"):
            read_image(tmp_path / name)
    write_image(tmp_path / "ok.png", astronaut[:8, :8])
    with caplog.at_level("WARNING"):
        assert list_images(tmp_path) == [tmp_path / "ok.png"]
    assert "2 HEIC/HEIF/AVIF file(s) left out" in caplog.text


@pytest.mark.parametrize("depth", [1, 8, 16])
def test_min_is_white_tiff_reads_inverted_at_every_depth(tmp_path, camera, depth):
    import tifffile

    gray = camera[:64, :96, 0]
    stored = {1: gray > 127, 8: 255 - gray, 16: (255 - gray).astype(np.uint16) * 257}[depth]
    tifffile.imwrite(tmp_path / "w.tif", stored, photometric="miniswhite")
    want = {1: np.where(gray > 127, 0, 255).astype(np.uint8), 8: gray, 16: gray.astype(np.uint16) * 257}[depth]
    np.testing.assert_array_equal(read_image(tmp_path / "w.tif")[:, :, 0], want)


@pytest.mark.parametrize(("dtype", "name"), [(np.float32, "32-bit floating-point"), (np.uint32, "32-bit unsigned")])
def test_tiff_samples_wider_than_16_bits_are_refused_by_name(tmp_path, astronaut, dtype, name):
    import tifffile

    tifffile.imwrite(tmp_path / "w.tif", astronaut[:32, :32].astype(dtype), photometric="rgb")
    with pytest.raises(UnsupportedImageError, match=name):
        read_image(tmp_path / "w.tif")


@pytest.mark.parametrize("ext", [".jpg", ".webp", ".bmp"])
def test_8bit_formats_read_back(tmp_path, astronaut, ext):
    a = astronaut[:128, :160]
    write_image(tmp_path / f"x{ext}", a, quality=95)
    back = read_image(tmp_path / f"x{ext}")
    assert back.shape == a.shape and back.dtype == np.uint8
    tol = 0 if ext == ".bmp" else 8
    assert np.abs(back.astype(int) - a.astype(int)).mean() <= tol


def test_webp_quality_100_is_lossless_with_alpha(tmp_path, logo):
    a = logo[:250, :250]
    assert (a[:, :, 3] < 255).any()
    write_image(tmp_path / "l.webp", a, quality=100)
    np.testing.assert_array_equal(read_image(tmp_path / "l.webp"), a)


def test_jpeg_refuses_alpha(tmp_path, logo):
    with pytest.raises(ImageWriteError, match="alpha"):
        write_image(tmp_path / "a.jpg", logo[:50, :50])
    assert not (tmp_path / "a.jpg").exists()


def test_unknown_extension_refused(tmp_path, astronaut):
    with pytest.raises(ImageWriteError, match="extension"):
        write_image(tmp_path / "a.xyz", astronaut[:8, :8])


# --------------------------------------------------------------------------- bad inputs


def _png_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def _bomb_png(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    idat = zlib.compress(b"\x00" * 1000)
    idat_chunk = struct.pack(">I", len(idat)) + b"IDAT" + idat + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    return b"\x89PNG\r\n\x1a\n" + chunk + idat_chunk


def bad_corpus(root: Path, good: np.ndarray) -> dict[str, tuple[Path, type[Exception]]]:
    """Write one file of each kind of bad input; return name -> (path, expected error)."""
    png = _png_bytes(good)
    jpg = io.BytesIO()
    Image.fromarray(good).save(jpg, format="JPEG", quality=90)
    jpg_b = jpg.getvalue()
    corrupt = bytearray(png)
    mid = len(corrupt) // 2
    corrupt[mid : mid + 200] = bytes(range(200))
    files = {
        "empty.png": (b"", NotAnImageError),
        "text.png": (b"this is not an image, just text named like one\n" * 5, NotAnImageError),
        "truncated.png": (png[: len(png) // 2], CorruptImageError),
        "truncated.jpg": (jpg_b[: len(jpg_b) // 2], CorruptImageError),
        "corrupt.png": (bytes(corrupt), CorruptImageError),
        "bomb.png": (_bomb_png(200_000, 200_000), ImageTooLargeError),
    }
    out = {}
    for name, (data, err) in files.items():
        p = root / name
        p.write_bytes(data)
        out[name] = (p, err)
    out["missing.png"] = (root / "does-not-exist.png", ImageReadError)
    (root / "folder.png").mkdir()
    out["folder.png"] = (root / "folder.png", ImageReadError)
    return out


@pytest.mark.parametrize(
    "name",
    [
        "empty.png",
        "text.png",
        "truncated.png",
        "truncated.jpg",
        "corrupt.png",
        "bomb.png",
        "missing.png",
        "folder.png",
    ],
)
def test_bad_inputs_raise_typed_errors(tmp_path, chelsea, name):
    path, err = bad_corpus(tmp_path, chelsea[:128, :128])[name]
    with pytest.raises(err) as info:
        read_image(path)
    assert str(path.name) in str(info.value)
    assert "\n" not in str(info.value)


def test_truncated_16bit_png_and_tiff_refused(tmp_path, astronaut16):
    for ext in (".png", ".tif"):
        write_image(tmp_path / f"g{ext}", astronaut16[:200, :200])
        data = (tmp_path / f"g{ext}").read_bytes()
        (tmp_path / f"t{ext}").write_bytes(data[: len(data) // 3])
        with pytest.raises(CorruptImageError):
            read_image(tmp_path / f"t{ext}")


def test_pixel_limit_is_configurable(tmp_path, astronaut):
    write_image(tmp_path / "a.png", astronaut)
    with pytest.raises(ImageTooLargeError):
        read_image(tmp_path / "a.png", max_pixels=512 * 511)
    assert read_image(tmp_path / "a.png", max_pixels=512 * 512).shape == (512, 512, 3)


# --------------------------------------------------------------------------- atomic writes


def test_failed_write_keeps_previous_file_and_leaves_no_temp(tmp_path, astronaut, monkeypatch):
    target = tmp_path / "keep.png"
    write_image(target, astronaut[:32, :32])
    before = target.read_bytes()

    def boom(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("srgan.fsutil.os.replace", boom)
    with pytest.raises(ImageWriteError, match="No space"):
        write_image(target, astronaut[:64, :64])
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]


@pytest.mark.parametrize("depth", [8, 16])
def test_streamed_png_for_large_images_round_trips(tmp_path, astronaut, logo, camera, srgb_icc, monkeypatch, depth):
    """Huge images are encoded straight to the file; force that path on real images."""
    monkeypatch.setattr("srgan.imageio.write.STREAM_THRESHOLD", 0)
    for name, a in {"rgb": astronaut[:150, :170], "rgba": logo[:90, :80], "gray": camera[:70, :90]}.items():
        if depth == 16:
            a = a.astype(np.uint16) * 257 + 3
        write_image(tmp_path / f"{name}.png", a, meta=ImageMeta(icc_profile=srgb_icc))
        back = load_image(tmp_path / f"{name}.png")
        np.testing.assert_array_equal(back.array, a)
        assert back.meta.icc_profile == srgb_icc
        with Image.open(tmp_path / f"{name}.png") as im:
            im.verify()  # checks every chunk CRC
    write_image(tmp_path / "big.tif", astronaut16_like := (astronaut[:64, :64].astype(np.uint16) * 257))
    np.testing.assert_array_equal(read_image(tmp_path / "big.tif"), astronaut16_like)


def test_written_files_get_normal_permissions(tmp_path, astronaut):
    import os
    import stat

    old = os.umask(0o022)
    try:
        write_image(tmp_path / "a.png", astronaut[:16, :16])
        assert stat.S_IMODE((tmp_path / "a.png").stat().st_mode) == 0o644
        os.chmod(tmp_path / "a.png", 0o640)
        write_image(tmp_path / "a.png", astronaut[:20, :20])  # replacing keeps the file's mode
        assert stat.S_IMODE((tmp_path / "a.png").stat().st_mode) == 0o640
    finally:
        os.umask(old)
