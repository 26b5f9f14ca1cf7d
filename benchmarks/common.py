"""Helpers shared by the benchmark scripts: where the data is, and what machine ran them."""

from __future__ import annotations

import atexit
import functools
import json
import os
import platform
import shlex
import sys
import tempfile
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from srgan.device import cpu_model
from srgan.fsutil import atomic_write_bytes

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


# srgan looks for backbone weights only where it is told: the benchmarks tell it, for LPIPS and
# perceptual scores, with the SqueezeNet 1.1 file in ../shared/weights (child processes inherit it).
_SQUEEZENET = REPO.parent / "shared" / "weights" / "squeezenet1_1_imagenet.pth"
if _SQUEEZENET.is_file():
    os.environ.setdefault("SRGAN_SQUEEZENET_WEIGHTS", str(_SQUEEZENET))


def data_dir() -> Path:
    """The benchmark images: ``SRGAN_DATA`` or ../shared/data beside the repository."""
    root = Path(os.environ.get("SRGAN_DATA", REPO.parent / "shared" / "data"))
    if not (root / "Set5").is_dir():
        sys.exit(f"benchmark data not found at {root}; set SRGAN_DATA to the shared/data folder")
    return root


@functools.cache
def dataset_dir(spec: str) -> Path:
    """A benchmark folder under :func:`data_dir` by name, or ``NAME[::K]``: every K-th of its images in name order.

    ``BSD200[::10]`` is the validation set the issue-19 studies choose snapshots on: 20 photos from the
    same collection as the BSD100 test set (Berkeley's BSDS300 train split). They are in the training
    data of the models trained before ``data.exclude`` (which holds them out with
    ``exclude = ["../shared/data/BSD200[::10]"]``, the same selection: ``srgan.data.select_images``).
    The subset is a temporary folder of symbolic links.
    """
    if "[" not in spec:
        return data_dir() / spec
    from srgan.data import select_images

    tmp = tempfile.TemporaryDirectory(prefix="srgan-subset-")
    atexit.register(tmp.cleanup)
    out = Path(tmp.name) / spec.replace("[::", "-every").rstrip("]")
    out.mkdir()
    for f in select_images(data_dir() / spec):
        (out / f.name).symlink_to(f.resolve())
    return out


def machine() -> dict[str, object]:
    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def command_line() -> str:
    return "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]])


def machine_markdown(m: dict[str, object]) -> str:
    gpu = f", GPU {m['cuda']}" if m.get("cuda") else ""
    return (
        f"{m['cpu']} ({m['cpu_count']} cores, {m['torch_threads']} torch threads){gpu}; "
        f"torch {m['torch']}, Python {m['python']}; {m['date']}"
    )


def page_header(title: str, m: dict[str, object]) -> list[str]:
    """The first lines of a results page: its title, the command that wrote it and the machine it ran on."""
    return [f"# {title}", "", f"Command: `{command_line()}`  ", f"Machine: {machine_markdown(m)}", ""]


def write_results(stem: str, record: Mapping[str, Any], lines: list[str]) -> None:
    """Write benchmarks/results/STEM.json (``record``) and STEM.md (``lines``) atomically; print the page."""
    atomic_write_bytes(RESULTS / f"{stem}.json", json.dumps(record, indent=2).encode())
    text = "\n".join(lines) + "\n"
    atomic_write_bytes(RESULTS / f"{stem}.md", text.encode())
    sys.stdout.write(text)
