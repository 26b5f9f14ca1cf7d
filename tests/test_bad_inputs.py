"""Bad inputs and unusual paths: one table of cases, one test body (albumentations style).

Every case builds a small folder of real image crops (plus whatever is bad about it), runs the
CLI the way a user would, and checks the same promises:

* the exit code;
* exactly the expected number of ``srgan: error:`` lines (one per bad file, plus one summary
  line only when a batch had several inputs), and no traceback;
* every file that existed before the run is byte-identical afterwards, unless the case names
  it as an output that may be replaced;
* no partial output and no temporary file left behind;
* the good files of the batch are written and readable.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import io
import json
import os
import pickle
import signal
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from conftest import REPO
from PIL import Image
from safetensors.torch import save_file

from srgan.archs import SRResNet
from srgan.cli import main
from srgan.imageio import read_image, write_image
from srgan.imageio.animation import frame_count, load_animation
from srgan.weights import save_generator

GOOD = skimage.data.astronaut()[96:128, 200:232]  # 32 x 32 RGB crop of a real photo
CAT = skimage.data.chelsea()[60:124, 150:214]  # 64 x 64
TEMP_GLOB = ".*.srgan-*.tmp"


# --------------------------------------------------------------------------- file makers


def _png(a: np.ndarray, **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG", **kw)
    return buf.getvalue()


def _jpg(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _chunk(tag: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", zlib.crc32(tag + payload) & 0xFFFFFFFF)


def _header_only_png(width: int, height: int) -> bytes:
    """A valid PNG header announcing a huge image, with a few bytes of data: a decompression bomb."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 1000))


def _flip_idat_byte(png: bytes) -> bytes:
    data = bytearray(png)
    pos = data.index(b"IDAT") + 4 + 10  # a byte inside the compressed pixels
    data[pos] ^= 0x55
    return bytes(data)


def _animated(fmt: str) -> bytes:
    frames = [Image.fromarray(np.roll(GOOD, 4 * i, axis=1)) for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, format=fmt, save_all=True, append_images=frames[1:], duration=[80, 120, 100], loop=0)
    return buf.getvalue()


def _multipage_tiff() -> bytes:
    buf = io.BytesIO()
    pages = [Image.fromarray(GOOD), Image.fromarray(GOOD[::-1].copy())]
    pages[0].save(buf, format="TIFF", save_all=True, append_images=pages[1:])
    return buf.getvalue()


def _cmyk_jpg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(GOOD).convert("CMYK").save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def _palette_png() -> bytes:
    return _png(np.asarray(Image.fromarray(GOOD).quantize(64).convert("RGB")), optimize=False)


def _encoded(a: np.ndarray, ext: str) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        write_image(Path(d) / f"x{ext}", a)
        return (Path(d) / f"x{ext}").read_bytes()


class _Payload:
    def __reduce__(self):  # what a malicious checkpoint does when unpickled
        return (os.system, ("touch pwned-by-srgan-test",))


def _pickle_bomb() -> bytes:
    buf = io.BytesIO()
    torch.save({"params": {"conv.weight": torch.zeros(1)}, "x": _Payload()}, buf, pickle_module=pickle)
    return buf.getvalue()


def _crafted_safetensors(path: Path, **hparams: object) -> None:
    meta = {"srgan_arch": "srresnet", "srgan_hparams": json.dumps({"scale": 2, **hparams})}
    save_file({"head.weight": torch.zeros(2, 3, 3, 3)}, str(path), metadata=meta)


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Case:
    name: str
    #: Makes the case's files under ``root`` and returns the CLI arguments (``model``: a tiny x2 model).
    build: Callable[[Path, Path], list[str]]
    code: int
    errors: int
    written: tuple[str, ...] = ()  # images that must exist afterwards
    absent: tuple[str, ...] = ()  # paths that must not exist afterwards (globs)
    changed: tuple[str, ...] = ()  # files that existed before and may be replaced or removed (globs)
    says: str = ""  # text stderr must contain
    env: dict[str, str] = field(default_factory=dict)
    fault: str = ""  # an I/O failure injected during the run
    stdout: str = ""  # text stdout must contain


def _put(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def _up(model: Path, *args: str) -> list[str]:
    return ["upscale", *args, "--model", str(model), "--no-progress"]


def batch(bad_name: str, bad: bytes | Callable[[], bytes]) -> Callable[[Path, Path], list[str]]:
    """A folder with one good photo and one bad file, upscaled into ``out``."""

    def build(root: Path, model: Path) -> list[str]:
        _put(root, {"in/good.png": _png(GOOD), f"in/{bad_name}": bad() if callable(bad) else bad})
        return _up(model, str(root / "in"), str(root / "out"))

    return build


def single(name: str, data: bytes | Callable[[], bytes], *extra: str) -> Callable[[Path, Path], list[str]]:
    def build(root: Path, model: Path) -> list[str]:
        _put(root, {name: data() if callable(data) else data})
        return _up(model, str(root / name), str(root / "out"), *extra)

    return build


def good_with(*extra: str) -> Callable[[Path, Path], list[str]]:
    def build(root: Path, model: Path) -> list[str]:
        _put(root, {"in/good.png": _png(GOOD)})
        return _up(model, str(root / "in"), str(root / "out"), *extra)

    return build


def model_file(make: Callable[[Path], None], name: str) -> Callable[[Path, Path], list[str]]:
    def build(root: Path, model: Path) -> list[str]:
        _put(root, {"in/good.png": _png(GOOD)})
        make(root / name)
        return ["upscale", str(root / "in"), str(root / "out"), "--model", str(root / name), "--no-progress"]

    return build


def _write_bytes(data: bytes) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(data)


def inplace_collision(root: Path, model: Path) -> list[str]:
    _put(root, {"d/a.png": _png(GOOD), "d/a.jpg": _jpg(CAT)})
    return _up(model, str(root / "d"), str(root / "d"), "--ext", "png")


def output_collision(root: Path, model: Path) -> list[str]:
    _put(root, {"d/a.png": _png(GOOD), "d/a.jpg": _jpg(CAT)})
    return _up(model, str(root / "d"), str(root / "out"), "--ext", "png")


def onto_itself(root: Path, model: Path) -> list[str]:
    _put(root, {"a.png": _png(GOOD)})
    return _up(model, str(root / "a.png"), str(root / "a.png"))


def rerun_into_subfolder(root: Path, model: Path) -> list[str]:
    """A second `upscale d d/out --recursive`: d/out holds the first run's output, which is no input."""
    _put(root, {"d/a.png": _png(GOOD), "d/out/a.png": _png(CAT)})
    return _up(model, str(root / "d"), str(root / "d" / "out"), "--recursive")


def symlink_loop(root: Path, model: Path) -> list[str]:
    os.symlink(root / "loop.png", root / "loop.png")
    return _up(model, str(root / "loop.png"), str(root / "out.png"))


def too_wide(root: Path, model: Path) -> list[str]:
    strip = np.ascontiguousarray(np.repeat(GOOD[:2], 2, axis=1))  # 64 x 2 panorama strip
    _put(root, {"in/a_square.png": _png(GOOD), "in/b_strip.png": _png(strip)})
    return _up(model, str(root / "in"), str(root / "out"), "--width", "5000", "--max-output-pixels", "1000000")


def evaluate_tiny(root: Path, model: Path) -> list[str]:
    big = skimage.data.astronaut()
    _put(root, {"hr/a.png": _png(big[:48, :48]), "hr/b.png": _png(big[200:260, 300:360]),
                "hr/tiny.png": _png(big[:19, :19])})  # fmt: skip
    return ["evaluate", "--data", str(root / "hr"), "--scale", "4", "--method", "bicubic", "--no-progress"]


def augment_out_holds_src(root: Path, model: Path) -> list[str]:
    _put(root, {"p/src/cls/a.png": _png(GOOD), "p/notes.txt": b"my notes\n", "p/.gan/checkpoint.pt": b"trained GAN"})
    return ["augment", str(root / "p/src"), str(root / "p"), "--preset", "light", "--overwrite", "--no-progress"]


def augment_gan_out_holds_src(root: Path, model: Path) -> list[str]:
    _put(root, {"p/src/cls/a.png": _png(GOOD), "p/notes.txt": b"my notes\n"})
    return ["augment", str(root / "p/src"), str(root / "p"), "--engine", "gan", "--overwrite", "--no-progress"]


def augment_out_is_src(root: Path, model: Path) -> list[str]:
    _put(root, {"src/cls/a.png": _png(GOOD)})
    return ["augment", str(root / "src"), str(root / "src"), "--preset", "light", "--overwrite", "--no-progress"]


def generate_into_own_folder(root: Path, model: Path) -> list[str]:
    _put(root, {"out/.gan/checkpoint.pt": b"a trained GAN", "out/notes.txt": b"keep"})
    ckpt = str(root / "out/.gan/checkpoint.pt")
    return ["augment", "generate", ckpt, str(root / "out"), "--per-class", "2", "--overwrite", "--no-progress"]


def pipeline_inside_out(root: Path, model: Path) -> list[str]:
    import albumentations as A

    _put(root, {"src/cls/a.png": _png(GOOD)})
    (root / "out").mkdir()
    A.save(A.Compose([A.VerticalFlip(p=1.0)]), str(root / "out" / "p.json"), data_format="json")
    return ["augment", str(root / "src"), str(root / "out"), "--pipeline", str(root / "out/p.json"), "--overwrite",
            "--no-progress"]  # fmt: skip


def overwrite_keeps_foreign(root: Path, model: Path) -> list[str]:
    _put(root, {"src/cls/a.png": _png(GOOD), "src/cls/b.png": _png(CAT)})
    args = ["augment", str(root / "src"), str(root / "out"), "--preset", "light", "--per-image", "2", "--no-progress"]
    assert main(args) == 0
    _put(root, {"out/notes.txt": b"my notes\n", "out/cls/mine.png": _png(CAT)})
    return [*args[:-2], "1", "--overwrite", "--no-progress"]


def report_into_real(root: Path, model: Path) -> list[str]:
    _put(root, {"real/cls/a.png": _png(GOOD), "synth/cls/g.png": _png(CAT)})
    return ["augment", "report", str(root / "real"), str(root / "synth"), "--output", str(root / "real/rep")]


def train_existing_run(root: Path, model: Path) -> list[str]:
    _put(root, {"photos/a.png": _png(skimage.data.astronaut()[:96, :96]), "run/checkpoints/latest.pt": b"3 hours",
                "run/metrics.jsonl": b'{"iteration": 5000}\n', "run/final.safetensors": b"weights"})  # fmt: skip
    return ["train", str(REPO / "tests/configs/tiny.toml"), "--output", str(root / "run"), "--no-progress",
            "--set", f'data.train_dirs=["{root / "photos"}"]']  # fmt: skip


# fmt: off
def train_overwrite(root: Path, model: Path) -> list[str]:
    args = train_existing_run(root, model)
    _put(root, {"run/notes.txt": b"my notes on this run\n", "run/tb/events.out": b"old curves"})
    return [*args, "--overwrite", "--set", "train.iterations=2", "--set", "train.checkpoint_every=2"]


def two_photos(root: Path, model: Path) -> list[str]:
    _put(root, {"in/good.png": _png(GOOD), "in/large.png": _png(CAT)})
    return _up(model, str(root / "in"), str(root / "out"))


CASES = [
    # --- files that are not images, or not whole ones: one line each, the good file written
    Case("empty-file", batch("empty.png", b""), 1, 2, ("out/good.png",), says="empty file"),
    Case("text-as-png", batch("notes.png", b"not an image\n" * 20), 1, 2, ("out/good.png",), says="not an image"),
    Case("truncated-png", batch("cut.png", lambda: _png(CAT)[:300]), 1, 2, ("out/good.png",), says="truncated"),
    Case("truncated-jpg", batch("cut.jpg", lambda: _jpg(CAT)[:400]), 1, 2, ("out/good.png",), says="truncated"),
    Case("idat-crc", batch("flip.png", lambda: _flip_idat_byte(_png(CAT))), 1, 2, ("out/good.png",), says="CRC"),
    Case("bomb-header", batch("bomb.png", lambda: _header_only_png(200_000, 200_000)), 1, 2, ("out/good.png",),
         says="exceeds the limit"),
    Case("output-over-limit", batch("huge.png", lambda: _header_only_png(17_000, 17_000)), 1, 2, ("out/good.png",),
         says="over the limit"),
    Case("animation-to-jpeg", single("anim.gif", lambda: _animated("GIF"), "-f", "jpg"), 1, 1,
         absent=("out/*",), says="animation can be written as"),
    Case("symlink-loop", symlink_loop, 2, 1, says="no such file"),
    Case("single-bad-file", single("cut.png", lambda: _png(CAT)[:300]), 1, 1, says="truncated"),
    # --- unusual but good images: written, nothing on stderr but warnings
    Case("cmyk-jpeg", single("cmyk.jpg", _cmyk_jpg), 0, 0, ("out/cmyk.jpg",)),
    Case("palette-png", single("pal.png", _palette_png), 0, 0, ("out/pal.png",)),
    Case("16-bit-png", single("deep.png", lambda: _encoded(GOOD.astype(np.uint16) * 257, ".png")), 0, 0,
         ("out/deep.png",)),
    Case("gray-alpha-png", single("la.png", lambda: _encoded(np.dstack([GOOD[:, :, 0], GOOD[:, :, 1]]), ".png")),
         0, 0, ("out/la.png",)),
    Case("unicode-name", single("фото été.png", lambda: _png(GOOD)), 0, 0, ("out/фото été.png",)),
    Case("still-gif", single("still.gif", lambda: _gif_still()), 0, 0, ("out/still.png",)),
    Case("animated-gif", batch("anim.gif", lambda: _animated("GIF")), 0, 0, ("out/good.png", "out/anim.gif")),
    Case("animated-png", batch("anim.png", lambda: _animated("PNG")), 0, 0, ("out/good.png", "out/anim.png")),
    Case("multipage-tiff", single("pages.tif", _multipage_tiff), 0, 0, ("out/pages.tif",), says="first of its 2"),
    # --- models that must not load, and must not run code
    Case("pickle-pth", model_file(_write_bytes(_pickle_bomb()), "evil.pth"), 2, 1, absent=("**/pwned*",),
         says="refused"),
    Case("pickle-pt", model_file(_write_bytes(_pickle_bomb()), "evil.pt"), 2, 1, absent=("**/pwned*",),
         says="refused"),
    Case("pickle-ckpt", model_file(_write_bytes(_pickle_bomb()), "evil.ckpt"), 2, 1, absent=("**/pwned*",),
         says="refused"),
    Case("garbage-safetensors", model_file(_write_bytes(os.urandom(64)), "junk.safetensors"), 2, 1,
         says="safetensors"),
    Case("huge-num-feat", model_file(lambda p: _crafted_safetensors(p, num_feat=8192), "big.safetensors"), 2, 1,
         says="num_feat=8192"),
    Case("negative-num-feat", model_file(lambda p: _crafted_safetensors(p, num_feat=-5), "neg.safetensors"), 2, 1,
         says="num_feat=-5"),
    Case("scale-zero", model_file(lambda p: _crafted_safetensors(p, scale=0), "zero.safetensors"), 2, 1,
         says="scale=0"),
    Case("weights-misfit", model_file(lambda p: _crafted_safetensors(p, num_feat=1, num_blocks=0), "m.safetensors"),
         2, 1, says="do not fit"),
    # --- options
    Case("outscale-nan", good_with("--outscale", "nan"), 2, 1, absent=("out",), says="finite"),
    Case("outscale-inf", good_with("--outscale", "inf"), 2, 1, absent=("out",), says="finite"),
    Case("outscale-negative", good_with("--outscale", "-2"), 2, 1, absent=("out",), says="finite"),
    Case("width-over-limit", good_with("--width", "200000"), 1, 1, absent=("out/*",), says="over the limit"),
    # an output refused for its size is never written, so the free-space plan does not count it (CI had 59 GB)
    Case("width-over-limit-small-disk", good_with("--width", "200000"), 1, 1, absent=("out/*",), fault="FREE1K",
         says="over the limit"),
    Case("width-per-file", too_wide, 1, 2, ("out/b_strip.png",), absent=("out/a_square.png",), says="over the limit"),
    Case("webp-side-limit", good_with("--ext", "webp", "--outscale", "600"), 1, 1, absent=("out/*",),
         says="WEBP"),
    Case("suffix-escape", good_with("--suffix", "/../../escaped"), 2, 1, absent=("**/*escaped*",),
         says="path separator"),
    Case("max-pixels-zero", good_with(), 2, 1, absent=("out",), env={"SRGAN_MAX_PIXELS": "0"}, says="positive"),
    Case("max-pixels-negative", good_with(), 2, 1, absent=("out",), env={"SRGAN_MAX_PIXELS": "-1"}),
    Case("max-output-pixels-text", good_with(), 2, 1, absent=("out",), env={"SRGAN_MAX_OUTPUT_PIXELS": "lots"}),
    # --- plans that would overwrite inputs or each other: refused before the first write
    Case("inplace-overwrites-other-source", inplace_collision, 2, 3, absent=("d/*.srgan*",), says="the source"),
    Case("two-inputs-one-output", output_collision, 2, 1, absent=("out",), says="also the output of"),
    Case("output-is-input", onto_itself, 2, 1, says="its own source"),
    Case("rerun-into-subfolder", rerun_into_subfolder, 0, 0, ("d/out/a.png",), changed=("d/out/a.png",),
         says="are outputs, not inputs"),
    # --- destinations that fail while writing
    Case("full-disk", good_with(), 1, 1, absent=("out/good.png",), fault="ENOSPC", says="No space left"),
    Case("disk-too-small-for-the-plan", good_with(), 2, 1, absent=("out/*",), fault="FREE1K", says="are free"),
    Case("read-only-destination", good_with(), 1, 1, absent=("out/good.png",), fault="EACCES",
         says="ermission denied"),
    # --- evaluate, augment, train
    Case("evaluate-tiny-image", evaluate_tiny, 1, 2, says="too small to score", stdout="| bicubic |"),
    Case("augment-out-holds-src", augment_out_holds_src, 2, 1, says="must not contain the source folder"),
    Case("augment-gan-out-holds-src", augment_gan_out_holds_src, 2, 1, says="must not contain the source folder"),
    Case("augment-out-is-src", augment_out_is_src, 2, 1, says="must not be the source folder"),
    Case("generate-ckpt-inside-out", generate_into_own_folder, 2, 1, says="must not contain the checkpoint"),
    Case("pipeline-inside-out", pipeline_inside_out, 2, 1, says="must not contain the pipeline file"),
    Case("overwrite-keeps-foreign-files", overwrite_keeps_foreign, 0, 0, ("out/cls/a_aug000.png",),
         absent=("out/cls/a_aug001.png",), changed=("out/cls/*_aug*.png", "out/manifest.jsonl", "out/pipeline.yaml",
                                                    "out/.srgan-outputs")),
    Case("report-into-real-folder", report_into_real, 2, 1, says="must not be the real folder"),
    Case("train-existing-run", train_existing_run, 2, 1, says="--resume"),
    Case("train-overwrite-keeps-foreign-files", train_overwrite, 0, 0, absent=("run/tb/events.out",),
         changed=("run/checkpoints/latest.pt", "run/final.safetensors", "run/metrics.jsonl", "run/tb/*")),
    Case("out-of-memory-on-one-file", two_photos, 1, 2, ("out/good.png",), absent=("out/large.png",),
         fault="MemoryError", says="out of memory"),
]
# fmt: on


def _gif_still() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(GOOD).save(buf, format="GIF")
    return buf.getvalue()


def _snapshot(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file() and not p.is_symlink()}  # fmt: skip


def _matches(rel: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(rel, pat) for pat in patterns)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("bad-inputs-model") / "tiny-x2.safetensors"
    save_generator(path, SRResNet(scale=2, num_feat=8, num_blocks=1).eval(), {"scale": 2})
    return path


def _inject(fault: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import srgan.fsutil

    if fault == "ENOSPC":

        def full(fd: int) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(srgan.fsutil.os, "fsync", full)
    elif fault == "EACCES":

        def denied(*args: object, **kwargs: object) -> tuple[int, str]:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

        monkeypatch.setattr(srgan.fsutil.tempfile, "mkstemp", denied)
    elif fault == "FREE1K":  # the destination's disk has 1 kB left: refused before the first image
        import shutil

        monkeypatch.setattr(srgan.fsutil.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**12, 10**12, 1000))
    elif fault == "MemoryError":  # the allocation of a large image's output fails; smaller ones fit
        from srgan.infer.upscaler import Upscaler

        real = Upscaler.upscale

        def tight(self: Upscaler, image: np.ndarray, **kw: object) -> np.ndarray:
            if image.shape[0] > 32:
                raise MemoryError
            return real(self, image, **kw)

        monkeypatch.setattr(Upscaler, "upscale", tight)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path, tiny_model, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a payload that runs would drop its file here
    root = tmp_path / "case"
    root.mkdir()
    argv = case.build(root, tiny_model)
    capsys.readouterr()
    before = _snapshot(root)
    for k, v in case.env.items():
        monkeypatch.setenv(k, v)
    _inject(case.fault, monkeypatch)
    code = main(argv)
    monkeypatch.undo()
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert code == case.code, err
    assert sum(ln.startswith("srgan: error:") for ln in lines) == case.errors, err
    assert "Traceback" not in err and "unexpected" not in err, err
    assert case.says in err, err
    assert case.stdout in out
    after = _snapshot(root)
    for rel, digest in before.items():
        if not _matches(rel, case.changed):
            assert after.get(rel) == digest, f"{rel} was modified or deleted"
    assert not list(root.rglob(TEMP_GLOB)), "a temporary file was left behind"
    for rel in case.written:
        path = root / rel
        first = read_image(path) if frame_count(path) == 1 else load_animation(path).frames[0]
        assert first.shape[0] > 0, f"{rel} is not a complete image"
    for pattern in case.absent:
        assert not list(root.glob(pattern)) and not list(tmp_path.glob(pattern)), f"{pattern} exists"


# --------------------------------------------------------------------------- signals mid-batch


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGKILL, -9)], ids=["ctrl-c", "kill-9"])
def test_signal_mid_batch_loses_nothing(tmp_path, sig, code):
    torch.manual_seed(0)
    model = tmp_path / "m.safetensors"
    save_generator(model, SRResNet(scale=4, num_feat=16, num_blocks=3).eval(), {"scale": 4})
    src = tmp_path / "in"
    photo = skimage.data.astronaut()
    n = 40  # enough that the batch outlasts the poll below on a loaded machine (10 once all finished first)
    for i in range(n):
        write_image(src / f"img{i}.png", photo[(i % 16) * 20 : (i % 16) * 20 + 200, :200])
    before = _snapshot(src)
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "srgan", "upscale", str(src), str(out), "--model", str(model), "--no-progress"]
    # a terminal's Ctrl-C reaches a process whose SIGINT is at its default; a test run started in the background
    # of a shell without job control (`.ci/run &`) ignores SIGINT, and a child would inherit that and run on
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    deadline = time.monotonic() + 120
    while not (out.exists() and any(out.glob("*.png"))) and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    if sig == signal.SIGINT:
        assert err.strip().splitlines()[-1] == "srgan: error: interrupted"
        assert not list(out.glob(TEMP_GLOB))  # Ctrl-C cleans up its temporary file; kill -9 cannot
    finished = sorted(out.glob("*.png"))
    assert 0 < len(finished) < n, "the batch was not interrupted mid-way"
    for f in finished:
        assert read_image(f).shape == (800, 800, 3)
    assert _snapshot(src) == before
