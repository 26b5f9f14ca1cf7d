"""Graft two generators' weights: every tensor of BASE, the rest from DONOR.

    python tools/graft_weights.py BASE DONOR OUT.safetensors

BASE is a shipped model name or a .safetensors file; DONOR is one too, or a training config (a .toml
file) whose generator is built with its initial random weights. OUT takes DONOR's architecture and
metadata (so it must be the architecture being trained) and, for each of DONOR's tensors, BASE's
tensor of the same name and shape when there is one; ``--rename OLD=NEW`` first renames BASE's
tensors whose names start with OLD. Used to start the real-photo psnr stage on the
resize-convolution upsampler (srgan/configs/realsr-x4-nearest.toml):

    python tools/graft_weights.py realsr-x4 weights/training/srresnet-x4-nearest/raw.safetensors \\
        runs/realsr-graft.safetensors

and to move realsrgan-x4 from the bilinear upsampler to the slim one, whose two convs are the same
tensors under other names (benchmarks/configs/realsrgan-x4-slim.toml):

    python tools/graft_weights.py weights/training/realsrgan-x4-mild/ema-1500.safetensors \\
        benchmarks/configs/realsrgan-x4-slim.toml weights/training/realsrgan-x4-slim/init.safetensors \\
        --rename upsample.1.=upsample.0. --rename upsample.4.=upsample.3.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from srgan.archs import build_generator
from srgan.train.config import load_config
from srgan.weights import config_path, generator_metadata, read_metadata, shipped_model_path


def _donor(name: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """DONOR's tensors and metadata: a weights file, or a config's freshly built generator."""
    path = Path(name)
    if path.suffix != ".toml":
        path = shipped_model_path(name) or path
        return load_file(str(path)), read_metadata(path)
    cfg = load_config(config_path(name))
    torch.manual_seed(cfg.train.seed)
    g = build_generator(cfg.model.arch, **cfg.model.hparams())
    return {k: v.contiguous() for k, v in g.state_dict().items()}, generator_metadata(g)


def _renamed(tensors: dict[str, torch.Tensor], renames: list[str]) -> dict[str, torch.Tensor]:
    for item in renames:
        old, _, new = item.partition("=")
        tensors = {(new + k[len(old) :] if k.startswith(old) else k): v for k, v in tensors.items()}
    return tensors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base", help="model whose tensors are kept where they fit")
    ap.add_argument("donor", help="model giving the architecture and the tensors BASE lacks")
    ap.add_argument("out", type=Path)
    ap.add_argument("--rename", action="append", default=[], metavar="OLD=NEW",
                    help="rename BASE's tensors starting with OLD (repeatable)")  # fmt: skip
    args = ap.parse_args()
    if not all("=" in item and not item.startswith("=") for item in args.rename):
        ap.error("--rename takes OLD=NEW (the start of a tensor name and its replacement)")
    base = _renamed(load_file(str(shipped_model_path(args.base) or Path(args.base))), args.rename)
    donor, meta = _donor(args.donor)
    taken = [k for k, v in donor.items() if k in base and base[k].shape == v.shape]
    out = {k: (base[k] if k in taken else v) for k, v in donor.items()}
    meta["description"] = f"graft: {args.base} where it fits ({len(taken)} of {len(donor)} tensors), else {args.donor}"
    meta["graft"] = json.dumps({"base": args.base, "donor": args.donor, "from_base": taken})
    for k in ("benchmarks", "benchmarks_full"):
        meta.pop(k, None)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file(out, str(args.out), metadata=meta)
    print(f"wrote {args.out}: {len(taken)} of {len(donor)} tensors from {args.base}")


if __name__ == "__main__":
    main()
