"""Command-line interface: parses arguments, calls the library, maps errors to exit codes.

One module per command (``upscale`` with ``models`` and ``export``, ``evaluate``, ``train``,
``augment``); this one builds the parser, sets up logging and runs a command. The CLI owns every
flag name, progress bar, message that mentions an option, device choice and the torchrun
environment; the library below it owns none of these.

Every expected failure is a :class:`~srgan.errors.SrganError` and becomes one line on
stderr with a non-zero exit code. Unexpected exceptions also become one line unless
``SRGAN_DEBUG=1`` is set, which shows the full traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Sequence

from srgan import __version__
from srgan.cli import augment, evaluate, train, upscale
from srgan.cli.common import HelpFormatter, add_verbosity
from srgan.errors import SrganError

__all__ = ["build_parser", "main", "run"]

log = logging.getLogger("srgan")

Handler = Callable[[argparse.Namespace], int]


EXAMPLES = """examples:
  srgan upscale photo.jpg photo_x4.png
  srgan upscale -i photos/ -o out/ -n srresnet-x2 -s 1.5 --suffix _x3
  srgan evaluate --data ../shared/data/Set5 --scale 4 --method bicubic srresnet-x4
  srgan augment photos/ grown/ --preset medium --per-image 4

`srgan COMMAND --help` shows each command's options and examples."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="srgan", description="Super-resolution and dataset augmentation.",
                                     epilog=EXAMPLES, formatter_class=HelpFormatter)  # fmt: skip
    parser.add_argument("--version", action="version", version=f"srgan {__version__}")
    add_verbosity(parser, False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    evaluate.add_evaluate(sub)
    train.add_train(sub)
    upscale.add_upscale(sub)
    upscale.add_models(sub)
    upscale.add_export(sub)
    augment.add_augment(sub)
    parser.set_defaults(subparsers=sub.choices)
    return parser


class _OneLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"srgan: {record.levelname.lower()}: {record.getMessage()}"


def _setup_logging(verbose: bool, quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLineFormatter())
    root = logging.getLogger("srgan")
    root.handlers[:] = [handler]
    root.setLevel(logging.ERROR if quiet else logging.DEBUG if verbose else logging.INFO)
    root.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(augment.route(list(sys.argv[1:] if argv is None else argv)))
    if extra:  # the command's own usage line, not the top-level one
        args.subparsers[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    if args.verbose and args.quiet:
        args.subparsers[args.command].error("-v and -q exclude each other")
    _setup_logging(args.verbose, args.quiet)
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
