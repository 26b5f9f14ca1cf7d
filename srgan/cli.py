"""Command-line interface: parses arguments, calls the library, maps errors to exit codes.

Every expected failure is a :class:`~srgan.errors.SrganError` and becomes one line on
stderr with a non-zero exit code. Unexpected exceptions also become one line unless
``SRGAN_DEBUG=1`` is set, which shows the full traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from srgan import __version__
from srgan.errors import ConfigError, PartialFailure, SrganError

log = logging.getLogger("srgan")
TRUNCATION_HELP = "redraw noise entries beyond +-T (BigGAN's truncation; e.g. 1.0): fewer odd samples, less variety"

Handler = Callable[[argparse.Namespace], int]


def _resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: CUDA is not available on this machine")
    return name


def _existing_file(path: str | None) -> str | None:
    """``path`` if it names an existing file (a model given by path, not by name), else None."""
    return path if path and Path(path).is_file() else None


def _write_text(text: str, output: str | None) -> None:
    if output:
        from srgan.fsutil import atomic_write_bytes

        atomic_write_bytes(output, text.encode())
        log.info("wrote %s", output)
    else:
        sys.stdout.write(text)
        if not text.endswith("\n"):
            sys.stdout.write("\n")


# --------------------------------------------------------------------------- evaluate


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="PSNR/SSIM on benchmark folders with the published protocol",
        description="Score upscaling methods on HR image folders: modcrop, MATLAB bicubic LR, upscale, "
        "Y-PSNR/SSIM with `scale` border pixels cropped.",
    )
    p.add_argument("--data", nargs="+", required=True, metavar="DIR", help="HR image folders (one table each)")
    p.add_argument("--scale", type=int, required=True, choices=(2, 3, 4))
    p.add_argument(
        "--method",
        nargs="+",
        default=["bicubic"],
        metavar="NAME",
        help="bicubic, lanczos, nearest, or a model name/path",
    )
    p.add_argument(
        "--protocol",
        choices=("basicsr", "matlab"),
        default="basicsr",
        help="basicsr: gray read as RGB, Y in float (default); matlab: Y rounded, gray scored as is",
    )
    p.add_argument(
        "--lr-dir",
        nargs="+",
        metavar="DIR",
        help="read LR inputs (same file stem) instead of making them; one per --data folder",
    )
    p.add_argument("--format", choices=("md", "csv", "json"), default="md")
    p.add_argument("--output", metavar="FILE", help="write the table here instead of stdout")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_cmd_evaluate)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from srgan.evaluate import evaluate, format_csv, format_markdown, resolve_method

    if args.lr_dir and len(args.lr_dir) != len(args.data):
        raise ConfigError(f"--lr-dir needs one folder per --data folder ({len(args.data)}), got {len(args.lr_dir)}")
    if args.output:
        from srgan.fsutil import is_within

        for folder in [*args.data, *(args.lr_dir or [])]:
            if is_within(args.output, folder):
                raise ConfigError(f"--output {args.output}: must not be written inside the image folder {folder}")
    device = _resolve_device(args.device)
    methods = [resolve_method(name, args.scale, device) for name in args.method]
    results = []
    n_failed = 0
    for i, data in enumerate(args.data):
        lr_dir = args.lr_dir[i] if args.lr_dir else None
        res, failures = evaluate(
            data,
            methods,
            scale=args.scale,
            protocol=args.protocol,
            lr_dir=lr_dir,
            device=device,
            progress=not args.no_progress,
        )
        for f in failures:
            log.error("%s", f.message)
        n_failed += len(failures)
        results.extend(res)
    if args.format == "json":
        text = json.dumps([r.to_dict() for r in results], indent=2)
    elif args.format == "csv":
        text = format_csv(results)
    else:
        text = format_markdown(results)
    _write_text(text, args.output)
    if n_failed:
        raise PartialFailure(f"{n_failed} image(s) could not be scored and were left out; the rest were scored")
    return 0


# --------------------------------------------------------------------------- train


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a generator (psnr stage) or fine-tune it as a GAN (gan stage)",
        description="Train from a TOML config. Under `torchrun --nproc_per_node N -m srgan train ...` "
        "it runs DDP (NCCL on GPUs, gloo on CPU).",
    )
    p.add_argument("config", help="TOML config file, or a shipped recipe: srresnet-x4, srresnet-x2, srgan-x4")
    p.add_argument("--output", required=True, metavar="DIR", help="run folder: checkpoints, logs, final weights")
    p.add_argument("--resume", action="store_true", help="continue from DIR/checkpoints/latest.pt if present")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="start again in a folder that holds a run (its checkpoint, metrics, logs and weights are replaced)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.iterations=2000 (repeatable)",
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_train)


def _cmd_train(args: argparse.Namespace) -> int:
    from srgan.train import load_config, train
    from srgan.weights import config_path

    cfg = load_config(config_path(args.config), args.set)
    result = train(cfg, args.output, resume=args.resume, progress=not args.no_progress, overwrite=args.overwrite)
    if "weights" in result:
        val = result.get("val") or {}
        extra = f"; validation PSNR-Y {val['psnr_y']:.3f} dB" if "psnr_y" in val else ""
        log.info("finished at iteration %d; weights in %s%s", result["iteration"], result["weights"], extra)
    return 0


# --------------------------------------------------------------------------- upscale


def _add_upscale(sub: argparse._SubParsersAction) -> None:
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
    p.set_defaults(func=_cmd_upscale)


def _cmd_upscale(args: argparse.Namespace) -> int:
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
    jobs = rank_share(all_jobs)
    device = args.device
    if int(os.environ.get("WORLD_SIZE", 1)) > 1 and device in ("auto", "cuda"):
        import torch

        if torch.cuda.is_available():
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    upscaler = Upscaler(args.model or DEFAULT_MODEL, device=device, precision=args.precision, tile=tile,
                        tile_pad=args.tile_pad, alpha=args.alpha)  # fmt: skip
    report = run_batch(upscaler, jobs, outscale=args.outscale, width=args.width, height=args.height,
                       quality=args.quality, skip_existing=args.skip_existing,
                       progress=not args.no_progress, max_pixels=limit)  # fmt: skip
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


def _add_models(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the shipped models")
    p.set_defaults(func=_cmd_models)


def _cmd_models(_args: argparse.Namespace) -> int:
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


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a model to ONNX (dynamic height and width)")
    p.add_argument("--model", required=True, help="shipped model name or weights file")
    p.add_argument("--onnx", required=True, metavar="FILE", help="where to write the .onnx file")
    p.add_argument(
        "--check-image",
        metavar="IMAGE",
        help="image to compare ONNX Runtime with torch on (default: scikit-image's astronaut photo)",
    )
    p.set_defaults(func=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from srgan.imageio import read_image
    from srgan.infer.export import export_onnx, onnx_parity

    if Path(args.model).is_file() and Path(args.onnx).resolve() == Path(args.model).resolve():
        raise ConfigError(f"--onnx {args.onnx}: that is the model file itself; choose another name")

    path = export_onnx(args.model, args.onnx)
    if args.check_image:
        img = read_image(args.check_image)
    else:
        import skimage.data

        img = skimage.data.astronaut()[128:256, 160:320]
    if img.dtype != np.uint8:
        img = np.round(img / 257.0).astype(np.uint8)
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    diff = onnx_parity(args.model, path, img)
    log.info("wrote %s; max |ONNX - torch| on a %dx%d image: %.2e", path, img.shape[1], img.shape[0], diff)
    if diff > 1e-3:
        raise SrganError(f"ONNX output differs from torch by {diff:.3g} (more than 1e-3)")
    return 0


# --------------------------------------------------------------------------- augment


def _add_augment(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "augment",
        help="grow an image dataset (classical augmentation or a class-conditional GAN)",
        description="srgan augment SRC OUT --engine classical|gan ...; also `srgan augment generate "
        "CHECKPOINT OUT --per-class N` and `srgan augment report REAL_DIR SYNTH_DIR [--test DIR]`.",
    )
    p.add_argument("src", help="image folder: flat, or one sub-folder per class (never modified)")
    p.add_argument("out", help="output folder (mirrors SRC's classes)")
    p.add_argument("--engine", choices=("classical", "gan"), default="classical")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace the contents of a non-empty OUT")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--no-flip",
        action="store_true",
        help="never mirror images (presets, GAN training, report classifiers): for digits, text, logos",
    )
    c = p.add_argument_group("classical engine")
    pipe = c.add_mutually_exclusive_group()
    pipe.add_argument("--preset", choices=("light", "medium", "heavy", "sr-degrade"), default=None)
    pipe.add_argument("--pipeline", metavar="FILE", help="albumentations pipeline saved by A.save (YAML or JSON)")
    c.add_argument("--per-image", type=int, default=1, help="augmented copies per source image")
    c.add_argument("--include-originals", action="store_true", help="copy the originals alongside")
    g = p.add_argument_group("gan engine")
    g.add_argument("--size", type=int, default=32, choices=(32, 64, 128), help="GAN image size")
    g.add_argument("--steps", type=int, default=5000)
    g.add_argument("--per-class", type=int, default=100, help="synthetic images written per class")
    g.add_argument("--batch-size", type=int, default=64)
    g.add_argument(
        "--width",
        type=int,
        default=64,
        help="base channel count of G and D (64: DCGAN's; 32 trains about 4x faster on a CPU)",
    )
    g.add_argument("--gan-loss", choices=("hinge", "ns", "wgan-gp"), default="hinge")
    g.add_argument(
        "--mode-seeking",
        type=float,
        default=1.0,
        help="weight of the mode-seeking term that keeps each class varied (0: off)",
    )
    g.add_argument("--resume", action="store_true", help="continue GAN training from OUT/.gan/checkpoint.pt")
    g.add_argument("--upscale", metavar="MODEL", help="pass samples through an srgan upscaler (e.g. srresnet-x4)")
    g.add_argument("--truncation", type=float, metavar="T", help=TRUNCATION_HELP)
    g.add_argument("--report", action="store_true", help="write a report comparing synthetic and real images")
    g.add_argument("--test", metavar="DIR", help="held-out real test folder for the report's downstream study")
    p.set_defaults(func=_cmd_augment)

    gen = sub.add_parser("augment-generate", help=argparse.SUPPRESS)
    gen.prog = "srgan augment generate"
    gen.add_argument("checkpoint")
    gen.add_argument("out")
    gen.add_argument("--per-class", type=int, required=True)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--upscale", metavar="MODEL")
    gen.add_argument("--truncation", type=float, metavar="T", help=TRUNCATION_HELP)
    gen.add_argument("--overwrite", action="store_true")
    gen.add_argument("--no-progress", action="store_true")
    gen.set_defaults(func=_cmd_augment_generate)

    rep = sub.add_parser("augment-report", help=argparse.SUPPRESS)
    rep.prog = "srgan augment report"
    rep.add_argument("real")
    rep.add_argument("synth")
    rep.add_argument("--test", metavar="DIR")
    rep.add_argument("--classical", metavar="DIR", help="classically augmented images, for the downstream study")
    rep.add_argument("--output", metavar="DIR", help="where to write the report (default: SYNTH/report)")
    rep.add_argument("--size", type=int, default=32)
    rep.add_argument("--seeds", type=int, default=3)
    rep.add_argument("--steps", type=int, default=2000, help="classifier optimisation steps per run")
    rep.add_argument("--no-flip", action="store_true", help="classifiers never see mirrored images")
    rep.add_argument(
        "--real-fraction",
        type=float,
        default=0.5,
        help="share of real images in every batch when images are added to the real set",
    )
    rep.set_defaults(func=_cmd_augment_report)


def _cmd_augment(args: argparse.Namespace) -> int:
    from pathlib import Path

    from srgan.augment.classical import build_preset, load_pipeline, prepare_output, run_classical
    from srgan.fsutil import OutputFolder, check_disjoint

    if args.engine == "classical":
        pipeline = (
            load_pipeline(args.pipeline)
            if args.pipeline
            else build_preset(args.preset or "medium", flip=not args.no_flip)
        )
        rep = run_classical(args.src, args.out, pipeline=pipeline, per_image=args.per_image, seed=args.seed,
                            include_originals=args.include_originals, overwrite=args.overwrite,
                            progress=not args.no_progress, pipeline_file=args.pipeline)  # fmt: skip
        log.info("%d augmented image(s) written, %d original(s) copied, %d unreadable; manifest %s",
                 rep.written, rep.originals, len(rep.unreadable), rep.manifest)  # fmt: skip
        if rep.unreadable:
            raise PartialFailure(f"{len(rep.unreadable)} source image(s) could not be read and were skipped")
        return 0
    from srgan.augment.gan import GanConfig, generate, train_gan

    out = Path(args.out)
    check_disjoint(out, folders=[("source folder", args.src), ("test folder", args.test)],
                   files=[("model file", _existing_file(args.upscale))])  # fmt: skip
    owned = OutputFolder(out) if args.resume else prepare_output(out, overwrite=args.overwrite)
    owned.claim(out / ".gan", folder=True)
    cfg = GanConfig(
        size=args.size,
        steps=args.steps,
        batch_size=args.batch_size,
        loss=args.gan_loss,
        mode_seeking=args.mode_seeking,
        flip=not args.no_flip,
        seed=args.seed,
        g_base=args.width,
        d_base=args.width,
    )
    ckpt = train_gan(args.src, out / ".gan", cfg, resume=args.resume, progress=not args.no_progress)
    counts = generate(ckpt, out, per_class=args.per_class, seed=args.seed, upscale=args.upscale,
                      truncation=args.truncation, progress=not args.no_progress)  # fmt: skip
    log.info("wrote %d synthetic image(s) in %d class(es) to %s", sum(counts.values()), len(counts), out)
    if args.report:
        from srgan.augment.report import ReportInputs, make_report

        res = make_report(ReportInputs(Path(args.src), out, Path(args.test) if args.test else None),
                          out / ".gan" / "report", size=args.size, flip=False if args.no_flip else None)  # fmt: skip
        log.info("report in %s: GAN-test accuracy %.1f %%", out / ".gan" / "report", 100 * res["gan_test_accuracy"])
    return 0


def _cmd_augment_generate(args: argparse.Namespace) -> int:
    from srgan.augment.classical import prepare_output
    from srgan.augment.gan import generate
    from srgan.fsutil import check_disjoint

    inputs = [("checkpoint", args.checkpoint), ("model file", _existing_file(args.upscale))]
    check_disjoint(Path(args.out), files=inputs)
    prepare_output(Path(args.out), overwrite=args.overwrite)
    counts = generate(args.checkpoint, args.out, per_class=args.per_class, seed=args.seed, upscale=args.upscale,
                      truncation=args.truncation, progress=not args.no_progress)  # fmt: skip
    log.info("wrote %d synthetic image(s) in %d class(es) to %s", sum(counts.values()), len(counts), args.out)
    return 0


def _cmd_augment_report(args: argparse.Namespace) -> int:
    from srgan.augment.report import ReportInputs, make_report

    inputs = ReportInputs(Path(args.real), Path(args.synth), Path(args.test) if args.test else None,
                          Path(args.classical) if args.classical else None)  # fmt: skip
    out = Path(args.output) if args.output else Path(args.synth) / "report"
    from srgan.fsutil import check_disjoint

    check_disjoint(out, folders=[("real folder", args.real), ("test folder", args.test),
                                 ("classical folder", args.classical)])  # fmt: skip
    if not 0 < args.real_fraction <= 1:
        raise ConfigError(f"--real-fraction must be in (0, 1], got {args.real_fraction}")
    res = make_report(inputs, out, size=args.size, seeds=args.seeds, steps=args.steps,
                      flip=False if args.no_flip else None, real_fraction=args.real_fraction)  # fmt: skip
    log.info("report in %s: GAN-test accuracy %.1f %%", out, 100 * res["gan_test_accuracy"])
    return 0


# --------------------------------------------------------------------------- main

_EXTRA_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="srgan", description="Super-resolution and dataset augmentation.")
    parser.add_argument("--version", action="version", version=f"srgan {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_evaluate(sub)
    _add_train(sub)
    _add_upscale(sub)
    _add_models(sub)
    _add_export(sub)
    _add_augment(sub)
    for add in _EXTRA_COMMANDS:
        add(sub)
    return parser


class _OneLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"srgan: {record.levelname.lower()}: {record.getMessage()}"


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLineFormatter())
    root = logging.getLogger("srgan")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) >= 2 and argv[0] == "augment" and argv[1] in ("generate", "report"):
        argv = [f"augment-{argv[1]}", *argv[2:]]
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    handler: Handler = args.func
    try:
        from srgan.imageio import max_input_pixels, max_output_pixels

        max_input_pixels()  # a bad SRGAN_MAX_PIXELS / SRGAN_MAX_OUTPUT_PIXELS stops here, in one line
        max_output_pixels()
        return handler(args)
    except SrganError as exc:
        if str(exc):  # an empty message: every failure was reported on its own line already
            log.error("%s", exc)
        return exc.exit_code
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:
        if os.environ.get("SRGAN_DEBUG"):
            raise
        first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
        log.error("unexpected %s: %s (set SRGAN_DEBUG=1 for the traceback)", type(exc).__name__, first)
        return 3


def run() -> None:  # pragma: no cover - console entry point wrapper
    """The ``srgan`` command: :func:`main`, then a fast exit.

    Every file srgan writes is complete (synced and renamed) before ``main`` returns, so the
    process ends with ``os._exit`` once the streams are flushed: tearing down torch's native
    libraries at interpreter exit costs a second and about 190 MB of extra peak memory for nothing.
    """
    code = main()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["build_parser", "main"]
