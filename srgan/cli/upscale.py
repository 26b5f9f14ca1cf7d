"""`srgan upscale`, `srgan models`, `srgan export`."""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from srgan.cli.common import Bar, add_command
from srgan.defaults import DEFAULT_MODEL, REAL_WORLD_MODEL
from srgan.errors import ConfigError, PartialFailure, SrganError

if TYPE_CHECKING:
    import numpy as np

    from srgan.metrics.degradation import Degradation
    from srgan.weights import ModelInfo

log = logging.getLogger("srgan")


# --------------------------------------------------------------------------- upscale


def add_upscale(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub, "upscale", help="upscale images (a file, a folder or a glob)",
        description="Upscale images with a shipped model or a model file. Alpha, gray, 16-bit, ICC profiles and "
        "EXIF are kept; large images are tiled; a bad file never stops a batch.\nReal-ESRGAN's and "
        "realesrgan-ncnn-vulkan's flags work too (-i -o -n -s -t -g -f -j -x, --fp32, --tile_pad, --pre_pad).",
        examples=["srgan upscale photo.jpg photo_x4.png",
                  "srgan upscale -i photos/ -o out/ --recursive --suffix _x4 -f png",
                  "srgan upscale scan.tif scan_x2.tif -n srresnet-x2 -x        # 8-fold TTA: slower, a bit sharper",
                  "srgan upscale big.png big_x4.png -t 256 -g 0 --fp32"],
    )  # fmt: skip
    p.add_argument("input", nargs="?", help="image file, folder, or glob (quote it); or -i")
    p.add_argument("output", nargs="?", help="output file (for one input) or folder; or -o")
    p.add_argument("-i", "--input", dest="input_opt", metavar="INPUT", help="the input, as Real-ESRGAN takes it")
    p.add_argument("-o", "--output", dest="output_opt", metavar="OUTPUT", help="the output, as Real-ESRGAN takes it")
    p.add_argument("-n", "-m", "--model", "--model_name", "--model_path", dest="model", default=DEFAULT_MODEL,
                   help="shipped model name (see `srgan models`) or a weights file (.safetensors, .pth)")  # fmt: skip
    size = p.add_mutually_exclusive_group()
    size.add_argument(
        "-s", "--outscale", "--scale", type=float, help="final scale, e.g. 3 or 1.5 (resized from the model's output)"
    )
    size.add_argument("--width", type=int, help="final width; height follows the aspect unless --height is given")
    p.add_argument("--height", type=int, help="final height; width follows the aspect unless --width is given")
    p.add_argument("-t", "--tile", default="auto", help="auto, 0 (no tiling) or a tile side in input pixels")
    p.add_argument("--tile-pad", "--tile_pad", type=int, default=None, metavar="N",
                   help="tile overlap in input pixels (default: the model's receptive field)")  # fmt: skip
    p.add_argument("--pre-pad", "--pre_pad", type=int, default=0, metavar="N",
                   help="reflect-pad the right and bottom edges by N input pixels, cropped after")  # fmt: skip
    p.add_argument("-dn", "--denoise", "--denoise_strength", dest="denoise", type=float, metavar="S",
                   help="real-world models: 0 keeps noise and detail, 1 cleans hardest (as Real-ESRGAN's)")  # fmt: skip
    p.add_argument(
        "-x", "--tta", action="store_true", help="8-fold flip/rotate self-ensemble: 8x slower, a bit sharper"
    )
    dev = p.add_mutually_exclusive_group()
    dev.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    dev.add_argument("-g", "--gpu", "--gpu-id", type=int, metavar="N", help="GPU number: the same as --device cuda:N")
    prec = p.add_mutually_exclusive_group()
    prec.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16", "bf16"),
                      help="auto: fp32 on CPU, fp16/bf16 on GPUs where the model allows")  # fmt: skip
    prec.add_argument(
        "--fp32", action="store_const", const="fp32", dest="precision", help="the same as --precision fp32"
    )
    p.add_argument(
        "-j", "--threads", metavar="N", help="CPU threads (ncnn's load:proc:save form works: the middle one)"
    )
    p.add_argument("-f", "--ext", "--format", dest="ext", default="auto", metavar="FMT",
                   choices=("auto", "png", "jpg", "webp", "tiff"),
                   help="output format: auto (the input's; GIF input gives PNG), png, jpg, webp, tiff")  # fmt: skip
    p.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality (WebP 100 = lossless)")
    p.add_argument("--recursive", action="store_true", help="descend into sub-folders (mirrored in the output)")
    p.add_argument("--skip-existing", action="store_true", help="keep outputs that already exist")
    p.add_argument("--suffix", default="", help="added to output file names, e.g. _x4")
    p.add_argument("--alpha", "--alpha_upsampler", dest="alpha", default="bicubic", metavar="HOW",
                   choices=("bicubic", "model", "realesrgan"),
                   help="bicubic, or model: through the model (Real-ESRGAN calls it realesrgan)")  # fmt: skip
    p.add_argument("--max-output-pixels", type=int, default=None, metavar="N",
                   help="refuse (before decoding) an input whose output would exceed N pixels "
                   "(default: SRGAN_MAX_OUTPUT_PIXELS or 1073741824, e.g. 32768x32768)")  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no progress bars (they only show on a terminal)")
    p.set_defaults(func=cmd_upscale)


def _threads(value: str | None) -> int | None:
    if value is None:
        return None
    parts = value.split(":")
    try:
        n = int(parts[1] if len(parts) == 3 else parts[0])
    except ValueError:
        raise ConfigError(f"-j/--threads: expected a number of threads (or load:proc:save), got {value!r}") from None
    if n < 1:
        raise ConfigError(f"-j/--threads must be at least 1, got {n}")
    return n


def _in_out(args: argparse.Namespace) -> tuple[str, str]:
    pairs = {"input": (args.input, args.input_opt), "output": (args.output, args.output_opt)}
    got = {}
    for name, (pos, opt) in pairs.items():
        if pos is not None and opt is not None and pos != opt:
            raise ConfigError(f"two {name}s given ({pos} and -{name[0]} {opt}); give one")
        if pos is None and opt is None:
            raise ConfigError(f"no {name}: give it as the {name.upper()} argument or with -{name[0]}")
        got[name] = opt if opt is not None else pos
    return got["input"], got["output"]


#: the --denoise strength the hint suggests with each real-world model (python benchmarks/jpeg_hint.py [--family gan]):
#: realsr-x4 at 0.5 beats the default and itself at full strength in PSNR on JPEGs of quality <= 85 and removes most
#: blocks; realsrgan-x4 at full strength has the lowest LPIPS of the GAN models from quality 90 down and the fewest
#: blocks, while at 0.5 (half its partner realsrgan-x4-wdn) its LPIPS is higher from quality 85 down (equal at 90)
_HINT_STRENGTH = {REAL_WORLD_MODEL: 0.5}


def _real_world_partner(own: ModelInfo, models: list[ModelInfo]) -> str:
    """The shipped real-world model for ``own``'s users: the one whose light-denoise partner it is, else one of the
    same kind (a GAN for a GAN: srgan-x4's users are sent to realsrgan-x4), else the default one."""
    real = [m for m in models if m.real_world]
    for m in real:
        if m.metadata.get("denoise_base") == own.name:
            return m.name
    return next((m.name for m in real if m.gan == own.gan), REAL_WORLD_MODEL)


class _DegradedHint:
    """Notes inputs that look compressed, for one line after the batch pointing at the real-world model."""

    def __init__(self, own: ModelInfo, models: list[ModelInfo]) -> None:
        self.model = own.name
        self.partner = _real_world_partner(own, models)
        self.available = any(m.name == self.partner for m in models)
        self.found: list[tuple[Path, Degradation]] = []

    @classmethod
    def for_model(cls, model: str) -> _DegradedHint | None:
        """The hint for a shipped x4 model (the real-world model's scale) trained on clean input only, else None."""
        from srgan.weights import list_models

        models = list_models()
        own = next((m for m in models if m.name == model), None)
        if own is None or own.scale != 4 or own.real_world:
            return None
        return cls(own, models)

    def __call__(self, path: Path, pixels: np.ndarray) -> None:
        from srgan.metrics.degradation import assess

        if self.available:
            d = assess(pixels, path)
            if d.looks_degraded:
                self.found.append((path, d))

    def suggestion(self) -> str:
        """What the hint proposes: the partner model, with the strength measured best for JPEGs where there is one."""
        strength = _HINT_STRENGTH.get(self.partner)
        if strength is None:
            return f"--model {self.partner} removes them"
        return f"--model {self.partner} --denoise {strength:g} removes them (--denoise 1 for noisy photos)"

    def log(self, total: int) -> None:
        if not self.found:
            return
        path, worst = max(self.found, key=lambda f: f[1].blockiness)  # the plainest example of the batch
        why = worst.describe()
        which = f"{path.name} looks" if total == 1 else f"{len(self.found)} of {total} inputs look"
        detail = why if total == 1 else f"{path.name}: {why}"
        log.info("hint: %s compressed (%s); %s sharpens JPEG blocks, %s", which, detail, self.model,
                 self.suggestion())  # fmt: skip


def cmd_upscale(args: argparse.Namespace) -> int:
    from srgan.device import Launch, resolve_device
    from srgan.fsutil import check_writable
    from srgan.imageio import max_output_pixels
    from srgan.infer import Upscaler
    from srgan.infer.batch import estimate_output_bytes, plan_conflicts, plan_jobs, rank_share, run_batch

    limit = max_output_pixels(args.max_output_pixels)
    if args.outscale is not None and not (math.isfinite(args.outscale) and args.outscale > 0):
        raise ConfigError(f"--outscale must be a finite positive number, got {args.outscale}")
    if args.outscale is not None and args.height:
        raise ConfigError("--outscale and --height cannot be combined")
    for name in ("width", "height"):
        value = getattr(args, name)
        if value is not None and not 0 < value <= limit:
            raise ConfigError(f"--{name} must be between 1 and the output limit of {limit:,} pixels, got {value}")
    if args.width and args.height and args.width * args.height > limit:
        raise ConfigError(f"--width {args.width} --height {args.height} is {args.width * args.height:,} pixels, "
                          f"over the output limit of {limit:,} (--max-output-pixels)")  # fmt: skip
    if not 1 <= args.quality <= 100:
        raise ConfigError("--quality must be between 1 and 100")
    tile: int | str = args.tile
    if tile != "auto":
        try:
            tile = int(tile)
        except ValueError:
            raise ConfigError(f"--tile must be auto, 0 or a number of pixels, got {args.tile!r}") from None
    src, dst = _in_out(args)
    threads = _threads(args.threads)
    if threads:
        import torch

        torch.set_num_threads(threads)
    all_jobs = plan_jobs(src, dst, recursive=args.recursive, ext=args.ext, suffix=args.suffix)
    conflicts = plan_conflicts(all_jobs)
    if len(conflicts) == 1:
        raise ConfigError(f"{conflicts[0]}; nothing was written")
    if conflicts:
        for line in conflicts:
            log.error("%s", line)
        raise ConfigError(f"{len(conflicts)} outputs would overwrite inputs or each other; nothing was written")
    launch = Launch.from_env()
    jobs = rank_share(all_jobs, launch)
    device = str(resolve_device(args.device if args.gpu is None else f"cuda:{args.gpu}", launch))
    upscaler = Upscaler(args.model, device=device, precision=args.precision, tile=tile, tile_pad=args.tile_pad,
                        alpha="model" if args.alpha == "realesrgan" else args.alpha, tta=args.tta,
                        pre_pad=args.pre_pad, denoise=args.denoise)  # fmt: skip
    for folder in sorted({j.dst.parent for j in jobs}):  # before the first image, not after it
        check_writable(folder)
    if jobs:
        need = estimate_output_bytes(jobs, upscaler.scale, outscale=args.outscale, width=args.width,
                                     height=args.height, limit=limit)  # fmt: skip
        check_writable(jobs[0].dst.parent, need)
    bars = not args.no_progress and not args.quiet
    hint = _DegradedHint.for_model(args.model)
    report = run_batch(upscaler, jobs, outscale=args.outscale, width=args.width, height=args.height,
                       quality=args.quality, skip_existing=args.skip_existing,
                       progress=Bar("upscale", "img", enabled=bars and len(jobs) > 1),
                       tile_progress=Bar("tiles", "px", enabled=bars, scale=True),
                       frame_progress=Bar("frames", "frame", enabled=bars),
                       max_pixels=limit, inspect=hint)  # fmt: skip
    for w in report.written if args.verbose or len(jobs) == 1 else []:
        frames = f", {w.frames} frames" if w.frames > 1 else ""
        log.info("wrote %s (%dx%d%s, %.1f s)", w.path, w.width, w.height, frames, w.seconds)
    if hint is not None:
        hint.log(len(jobs))
    if len(jobs) > 1:
        log.info("%d written, %d skipped (existing), %d failed", len(report.done), len(report.skipped),
                 len(report.failed))  # fmt: skip
    if report.failed:
        # The failing file already has its line; a second line is only useful when others were written.
        if len(jobs) > 1:
            raise PartialFailure(f"{len(report.failed)} of {len(jobs)} image(s) failed; the others were written")
        raise PartialFailure("")
    return 0


def add_models(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "models", help="list the shipped models",
                    description="The models srgan ships, with their scale, size and measured PSNR.",
                    examples=["srgan models", "SRGAN_WEIGHTS_DIR=my_models/ srgan models"])  # fmt: skip
    p.set_defaults(func=cmd_models)


def cmd_models(_args: argparse.Namespace) -> int:
    from srgan.infer import DEFAULT_MODEL
    from srgan.weights import list_models, weights_dir

    models = list_models()
    if not models:
        raise SrganError(f"no models found in {weights_dir()} (set SRGAN_WEIGHTS_DIR)")
    rows = [("name", "scale", "parameters", "made for", "Set5 PSNR-Y", "Set14 PSNR-Y", "BSD100 PSNR-Y", "")]
    for m in models:
        rows.append((m.name, f"x{m.scale}", f"{m.parameters:,}", m.made_for, m.metric("Set5"), m.metric("Set14"),
                     m.metric("BSD100"), "(default)" if m.name == DEFAULT_MODEL else ""))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    sys.stdout.write("\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows))
    sys.stdout.write("\n")
    if any(m.real_world for m in models):
        sys.stdout.write(
            "PSNR on clean bicubic inputs (the models for JPEG/noisy photos smooth those on purpose; "
            "their scores on degraded photos: benchmarks/results/realworld.md in the repository)\n"
        )
    return 0


def add_export(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub, "export", help="export a model to ONNX (dynamic height and width)",
        description="Write an ONNX file (input lr (N, 3, H, W) in [0, 1], output sr) and report its "
        "largest difference from torch on a real image (pip install 'srgan[onnx]' first).",
        examples=["srgan export --model srresnet-x4 --onnx srresnet-x4.onnx",
                  "srgan export --model my.safetensors --onnx my.onnx --check-image photo.png"],
    )  # fmt: skip
    p.add_argument("--model", required=True, help="shipped model name or weights file")
    p.add_argument("--onnx", required=True, metavar="FILE", help="where to write the .onnx file")
    p.add_argument(
        "--check-image",
        metavar="IMAGE",
        help="image to compare ONNX Runtime with torch on (default: scikit-image's astronaut photo)",
    )
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from srgan.imageio import read_image, to_8bit
    from srgan.infer.export import export_onnx, onnx_parity

    if Path(args.model).is_file() and Path(args.onnx).resolve() == Path(args.model).resolve():
        raise ConfigError(f"--onnx {args.onnx}: that is the model file itself; choose another name")

    path = export_onnx(args.model, args.onnx)
    if args.check_image:
        img = read_image(args.check_image)
    else:
        import skimage.data

        img = skimage.data.astronaut()[128:256, 160:320]
    img = to_8bit(img)
    if img.shape[2] == 1:
        img = img.repeat(3, axis=2)
    diff = onnx_parity(args.model, path, img)
    log.info("wrote %s; max |ONNX - torch| on a %dx%d image: %.2e", path, img.shape[1], img.shape[0], diff)
    if diff > 1e-3:
        raise SrganError(f"ONNX output differs from torch by {diff:.3g} (more than 1e-3)")
    return 0
