"""Helpers shared by the benchmark scripts: where the data is, and what machine ran them."""

from __future__ import annotations

import os
import platform
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch

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


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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
