"""Network interpolation (ESRGAN's): a weights file whose every tensor is ``(1 - alpha) * A + alpha * B``.

    python tools/blend_models.py A B ALPHA OUT.safetensors

A and B: shipped model names or srgan weights files of the same architecture (e.g. a PSNR-stage
model and its GAN fine-tune). The metadata is B's, with ``blend`` recording A, B and alpha.
Used to choose, on a validation set, how much of a GAN model to ship (see srgan/shipped/README.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from srgan.infer.models import lerp_weights, load_model
from srgan.weights import save_generator


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("alpha", type=float)
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    a, b = load_model(args.a), load_model(args.b)
    if a.module.hparams != b.module.hparams:  # type: ignore[attr-defined]
        raise SystemExit(f"{args.a} and {args.b} differ in architecture")
    lerp_weights(b.module, a.module, args.alpha)
    meta: dict[str, object] = {k: v for k, v in b.metadata.items() if not k.startswith("srgan_")}
    meta["blend"] = {"a": args.a, "b": args.b, "alpha": args.alpha}
    save_generator(args.out, b.module, meta)
    print(f"wrote {args.out}: {1 - args.alpha:g} x {args.a} + {args.alpha:g} x {args.b}")


if __name__ == "__main__":
    main()
