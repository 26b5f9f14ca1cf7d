"""`srgan upscale`, `srgan models`, `srgan export`."""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

from srgan.cli.common import Bar
from srgan.errors import ConfigError, PartialFailure, SrganError

log = logging.getLogger("srgan")


# --------------------------------------------------------------------------- upscale


def add_upscale(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "upscale",
        help="upscale images (a file, a folder or a glob)",
        description="Upscale images with a shipped model or a model file. Alpha, gray, 16-bit, ICC "
        "profiles and EXIF are kept; large images are tiled; a bad file never stops a batch.",
    )
    p.add_argument("input", help="image file, folder, or glob (quote it)")
    p.add_argument("output", help="output file (for one input) or folder")
    p.add_argument("--model", default=None, help="shipped model name (see `srgan models`) or a weights file")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--outscale", type=float, help="final scale, e.g. 3 or 1.5 (resized from the model's output)")
    size.add_argument("--width", type=int, help="final width; height follows the aspect unless --height is given")
    p.add_argument("--height", type=int, help="final height; width follows the aspect unless --width is given")
    p.add_argument("--tile", default="auto", help="auto, 0 (no tiling) or a tile side in input pixels")
    p.add_argument("--tile-pad", type=int, default=None, help="tile overlap in input pixels (default: the model's)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16", "bf16"))
    p.add_argument(
        "--ext",
        default="auto",
        choices=("auto", "png", "jpg", "webp", "tiff"),
        help="output format (auto: the input's)",
    )
    p.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality (WebP 100 = lossless)")
    p.add_argument("--recursive", action="store_true", help="descend into sub-folders (mirrored in the output)")
    p.add_argument("--skip-existing", action="store_true", help="keep outputs that already exist")
    p.add_argument("--suffix", default="", help="added to output file names, e.g. _x4")
    p.add_argument("--alpha", default="bicubic", choices=("bicubic", "model"), help="how to upscale alpha")
    p.add_argument(
        "--max-output-pixels",
        type=int,
        default=None,
        metavar="N",
        help="refuse (before decoding) an input whose output would exceed N pixels "
        "(default: SRGAN_MAX_OUTPUT_PIXELS or 1073741824, e.g. 32768x32768)",
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_upscale)


def cmd_upscale(args: argparse.Namespace) -> int:
    from srgan.device import Launch, resolve_device
    from srgan.imageio import max_output_pixels
    from srgan.infer import DEFAULT_MODEL, Upscaler
    from srgan.infer.batch import plan_conflicts, plan_jobs, rank_share, run_batch

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
    all_jobs = plan_jobs(args.input, args.output, recursive=args.recursive, ext=args.ext, suffix=args.suffix)
    conflicts = plan_conflicts(all_jobs)
    if len(conflicts) == 1:
        raise ConfigError(f"{conflicts[0]}; nothing was written")
    if conflicts:
        for line in conflicts:
            log.error("%s", line)
        raise ConfigError(f"{len(conflicts)} outputs would overwrite inputs or each other; nothing was written")
    launch = Launch.from_env()
    jobs = rank_share(all_jobs, launch)
    device = str(resolve_device(args.device, launch))
    upscaler = Upscaler(args.model or DEFAULT_MODEL, device=device, precision=args.precision, tile=tile,
                        tile_pad=args.tile_pad, alpha=args.alpha)  # fmt: skip
    report = run_batch(upscaler, jobs, outscale=args.outscale, width=args.width, height=args.height,
                       quality=args.quality, skip_existing=args.skip_existing,
                       progress=Bar("upscale", "img", enabled=not args.no_progress and len(jobs) > 1),
                       max_pixels=limit)  # fmt: skip
    if len(jobs) > 1:
        log.info(
            "%d written, %d skipped (existing), %d failed", len(report.done), len(report.skipped), len(report.failed)
        )
    if report.failed:
        # The failing file already has its line; a second line is only useful when others were written.
        if len(jobs) > 1:
            raise PartialFailure(f"{len(report.failed)} of {len(jobs)} image(s) failed; the others were written")
        raise PartialFailure("")
    return 0


def add_models(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the shipped models")
    p.set_defaults(func=cmd_models)


def cmd_models(_args: argparse.Namespace) -> int:
    from srgan.infer import DEFAULT_MODEL
    from srgan.weights import list_models, weights_dir

    models = list_models()
    if not models:
        raise SrganError(f"no models found in {weights_dir()} (set SRGAN_WEIGHTS_DIR)")
    rows = [("name", "scale", "parameters", "Set5 PSNR-Y", "Set14 PSNR-Y", "BSD100 PSNR-Y", "")]
    for m in models:
        rows.append((m.name, f"x{m.scale}", f"{m.parameters:,}", m.metric("Set5"), m.metric("Set14"),
                     m.metric("BSD100"), "(default)" if m.name == DEFAULT_MODEL else ""))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    sys.stdout.write("\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows))
    sys.stdout.write("\n")
    return 0


def add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a model to ONNX (dynamic height and width)")
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
