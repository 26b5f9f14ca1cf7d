"""What every command shares: progress bars fed by library callbacks, text output, path checks."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tqdm import tqdm

from srgan.fsutil import atomic_write_bytes

__all__ = ["Bar", "HelpFormatter", "add_command", "existing_file", "hide_command", "write_text"]


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and examples as written; every option with a default says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        d = action.default
        if "%(default)" in text or d is None or d is False or d == "" or d is argparse.SUPPRESS:
            return text
        if not action.option_strings:
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


def add_command(sub: argparse._SubParsersAction, name: str, *, help: str, description: str,
                examples: list[str]) -> argparse.ArgumentParser:  # fmt: skip
    """A subcommand parser whose help ends with examples and which takes -v / -q after its name too."""
    epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples)
    p = sub.add_parser(name, help=help, description=description, epilog=epilog, formatter_class=HelpFormatter)
    add_verbosity(p, argparse.SUPPRESS)
    return p


def add_verbosity(p: argparse.ArgumentParser, default: object) -> None:
    """``-v`` / ``-q``; subcommands use SUPPRESS so an unset flag does not undo the top-level one."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("-v", "--verbose", action="store_true", default=default, help="also report every file written")
    g.add_argument("-q", "--quiet", action="store_true", default=default, help="print errors only")


def hide_command(sub: argparse._SubParsersAction, name: str) -> None:
    """Keep a subcommand out of ``srgan --help`` (argparse would list it as ==SUPPRESS==)."""
    sub._choices_actions = [a for a in sub._choices_actions if a.dest != name]


class Bar:
    """A progress bar on stderr drawn from a library's ``progress(done, total, **info)`` calls.

    The bar appears on the first call and closes when ``done`` reaches ``total``; a disabled
    bar ignores every call (``--no-progress``, or output that is not worth a bar).
    """

    def __init__(self, desc: str, unit: str, *, enabled: bool = True, scale: bool = False) -> None:
        # Bars only on a terminal: redirected output stays free of carriage-return noise.
        self.desc, self.unit, self.enabled, self.scale = desc, unit, enabled and sys.stderr.isatty(), scale
        self._bar: tqdm | None = None

    def __call__(self, done: int, total: int, **info: object) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            self._bar = tqdm(total=total, initial=done, desc=self.desc, unit=self.unit, dynamic_ncols=True,
                             unit_scale=self.scale, leave=False)  # fmt: skip
        bar = self._bar
        bar.total = total
        if info:
            bar.set_postfix({k: str(v) for k, v in info.items()}, refresh=False)
        bar.update(done - bar.n)
        if done >= total:
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def existing_file(path: str | None) -> str | None:
    """``path`` if it names an existing file (a model given by path, not by name), else None."""
    return path if path and Path(path).is_file() else None


def write_text(text: str, output: str | None) -> None:
    """``text`` to the file ``output`` (atomically), or to stdout."""
    if output:
        atomic_write_bytes(output, text.encode())
        logging.getLogger("srgan").info("wrote %s", output)
    else:
        sys.stdout.write(text)
        if not text.endswith("\n"):
            sys.stdout.write("\n")


def backbone_options(p: argparse.ArgumentParser | argparse._ArgumentGroup, what: str = "the report's features") -> None:
    """--backbone-weights and --allow-download, for commands that need SqueezeNet 1.1 ImageNet weights."""
    p.add_argument("--backbone-weights", metavar="PATH",
                   help=f"SqueezeNet 1.1 ImageNet weights for {what} "
                   "(default: SRGAN_SQUEEZENET_WEIGHTS, then torchvision's cache)")  # fmt: skip
    p.add_argument("--allow-download", action="store_true",
                   help="let torchvision download those weights when they are found nowhere else")  # fmt: skip


def backbone_weights(args: argparse.Namespace, need: str) -> str | None:
    """Check, before any work, that ``need`` (e.g. "the report") will have its SqueezeNet weights; their path.

    None when they are to be downloaded (``--allow-download``); a one-line error when they are found nowhere.
    """
    from srgan.errors import ConfigError, ModelError
    from srgan.weights import find_backbone_weights

    try:
        path = find_backbone_weights("squeezenet", args.backbone_weights)
    except ModelError as exc:
        raise ConfigError(f"--backbone-weights: {exc}") from None
    if path is None and not args.allow_download:
        raise ConfigError(f"{need} needs SqueezeNet 1.1 ImageNet weights: pass --backbone-weights PATH "
                          "(or set SRGAN_SQUEEZENET_WEIGHTS), or --allow-download to fetch them")  # fmt: skip
    return str(path) if path else None
