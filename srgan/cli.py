"""Command-line interface: parses arguments, calls the library, maps errors to exit codes.

Every expected failure is a :class:`~srgan.errors.SrganError` and becomes one line on
stderr with a non-zero exit code. Unexpected exceptions also become one line unless
``SRGAN_DEBUG=1`` is set, which shows the full traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence

from srgan import __version__
from srgan.errors import ConfigError, PartialFailure, SrganError

log = logging.getLogger("srgan")

Handler = Callable[[argparse.Namespace], int]


def _resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: CUDA is not available on this machine")
    return name


def _write_text(text: str, output: str | None) -> None:
    if output:
        from srgan.io import atomic_write_bytes

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
        raise PartialFailure(f"{n_failed} image(s) could not be read and were skipped; the rest were scored")
    return 0


# --------------------------------------------------------------------------- train


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a generator (psnr stage) or fine-tune it as a GAN (gan stage)",
        description="Train from a TOML config. Under `torchrun --nproc_per_node N -m srgan train ...` "
        "it runs DDP (NCCL on GPUs, gloo on CPU).",
    )
    p.add_argument("config", help="TOML config file (see configs/)")
    p.add_argument("--output", required=True, metavar="DIR", help="run folder: checkpoints, logs, final weights")
    p.add_argument("--resume", action="store_true", help="continue from DIR/checkpoints/latest.pt if present")
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

    cfg = load_config(args.config, args.set)
    result = train(cfg, args.output, resume=args.resume, progress=not args.no_progress)
    if "weights" in result:
        val = result.get("val") or {}
        extra = f"; validation PSNR-Y {val['psnr_y']:.3f} dB" if "psnr_y" in val else ""
        log.info("finished at iteration %d; weights in %s%s", result["iteration"], result["weights"], extra)
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
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    handler: Handler = args.func
    try:
        return handler(args)
    except SrganError as exc:
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
        log.error("unexpected %s: %s (set SRGAN_DEBUG=1 for the traceback)", type(exc).__name__, exc)
        return 3


def run() -> None:  # pragma: no cover - console entry point wrapper
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["build_parser", "main"]
