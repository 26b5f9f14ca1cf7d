"""Graft two generators' weights: every tensor of BASE, the rest from DONOR.

    python tools/graft_weights.py BASE DONOR OUT.safetensors

BASE and DONOR are shipped model names or .safetensors files. OUT takes DONOR's architecture and
metadata (so it must be the architecture being trained) and, for each of DONOR's tensors, BASE's
tensor of the same name and shape when there is one. Used to start the real-photo psnr stage on the
resize-convolution upsampler (srgan/configs/realsr-x4-nearest.toml):

    python tools/graft_weights.py realsr-x4 weights/training/srresnet-x4-nearest/raw.safetensors \\
        runs/realsr-graft.safetensors
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_file, save_file

from srgan.weights import shipped_model_path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base", help="model whose tensors are kept where they fit")
    ap.add_argument("donor", help="model giving the architecture and the tensors BASE lacks")
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    base_path, donor_path = (shipped_model_path(n) or Path(n) for n in (args.base, args.donor))
    base, donor = load_file(str(base_path)), load_file(str(donor_path))
    with safe_open(str(donor_path), "pt") as f:
        meta = dict(f.metadata() or {})
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
