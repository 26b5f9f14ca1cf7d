"""The checkerboard study (issue 19): which GAN recipe removes the period-4 grid, at what LPIPS cost.

    python benchmarks/checkerboard.py LABEL=MODEL [LABEL=MODEL ...] [--datasets Set5 Set14 BSD100]
    python benchmarks/checkerboard.py --gradients [--disc-checkpoint RUN/checkpoints/latest.pt]

MODEL is a shipped model name or a weights file (e.g. a run exported with
``tools/ship_model.py RUN --name N --export-only FILE``). Each is scored on the clean x4
benchmark sets with `srgan evaluate`'s default protocol: Y-PSNR, LPIPS-squeeze and the
checkerboard score (srgan.metrics.artifacts; bicubic ~1-1.5, srresnet-x4 ~1.9). Rows are merged
into benchmarks/results/checkerboard.json by label (a later run replaces a label's row, keeps the
others), and the whole table is rewritten to checkerboard.md with the ratio to srresnet-x4, which
every run measures too, so each table is self-consistent.

``--gradients`` measures the cause instead: the checkerboard score of the gradient each loss term
sends to srresnet-x4's output on Set14 (the direction a GAN fine-tune pushes the generator): L1,
the SqueezeNet perceptual loss, and the RaGAN generator loss through PatchGAN and U-Net
discriminators with strided convs and with blur-pool (disc.antialias), seeded random weights; with
``--disc-checkpoint RUN/checkpoints/latest.pt ...``, also through the trained discriminators of
gan-stage runs. Written to checkerboard_gradients.md/.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from common import (
    REPO,
    RESULTS,
    command_line,
    data_dir,
    dataset_dir,
    machine,
    machine_markdown,
    page_header,
    write_results,
)

from srgan.evaluation import evaluate, model_method
from srgan.fsutil import atomic_write_bytes
from srgan.metrics.artifacts import checkerboard_score
from srgan.metrics.lpips import LPIPS

REFERENCE = "srresnet-x4"
SQUEEZENET = REPO.parent / "shared" / "weights" / "squeezenet1_1_imagenet.pth"


def _as_image(grad: torch.Tensor) -> np.ndarray:
    g = grad[0].permute(1, 2, 0).numpy()
    return np.clip((g - g.mean()) / (g.std() + 1e-12) * 40 + 128, 0, 255).astype(np.uint8)


def _trained_discriminator(ck: dict) -> tuple[torch.nn.Module, dict]:
    """The discriminator of a gan-stage checkpoint (eval mode), and its [disc] config."""
    from srgan.archs import build_discriminator

    dc = ck["config"]["disc"]
    layers = {"num_layers": dc["num_layers"]} if dc["arch"] == "patchgan" else {}
    d = build_discriminator(dc["arch"], num_feat=dc["num_feat"], antialias=dc.get("antialias", False), **layers)
    d.load_state_dict(ck["state"]["d"])
    return d.eval(), dc


def gradient_scores(disc_checkpoints: list[Path], n_images: int) -> dict[str, list[float]]:
    """Checkerboard score of d(loss)/d(output) for every loss term, per Set14 image."""
    from srgan.archs import build_discriminator
    from srgan.losses.adversarial import AdversarialLoss
    from srgan.losses.perceptual import PerceptualLoss
    from srgan.train.loop import read_checkpoint
    from srgan.weights import load_generator, shipped_model_path

    g, _ = load_generator(shipped_model_path(REFERENCE))
    adv = AdversarialLoss(kind="ragan", weight=1.0)
    perceptual = PerceptualLoss(backbone="squeezenet", weights_path=SQUEEZENET)
    terms: dict[str, object] = {"L1": torch.nn.L1Loss(), "perceptual (SqueezeNet)": perceptual}
    for arch, kw in (("patchgan", {"num_feat": 64, "num_layers": 3}), ("unet", {"num_feat": 32})):
        for aa in (False, True):
            torch.manual_seed(0)
            terms[f"RaGAN, {arch}{' blur-pool' if aa else ' strided'} (random)"] = build_discriminator(
                arch, antialias=aa, **kw).eval()  # fmt: skip
    for path in disc_checkpoints:
        ck = read_checkpoint(path)
        d, dc = _trained_discriminator(ck)
        kind = "blur-pool" if dc.get("antialias") else "strided"
        terms[f"RaGAN, trained {dc['arch']} {kind} ({path.parent.parent.name}, iteration {ck['iteration']})"] = d.eval()
    out: dict[str, list[float]] = {k: [] for k in terms}
    for target, lr in _set14_pairs(n_images):
        with torch.no_grad():
            sr = g(lr).clamp(0, 1)
        for name, term in terms.items():
            x = sr.clone().requires_grad_(True)
            adversarial = name.startswith("RaGAN")
            loss = adv.generator(term(x), term(target).detach()) if adversarial else term(x, target)  # type: ignore[operator]
            loss.backward()
            out[name].append(checkerboard_score(_as_image(x.grad)))
    return out


def _grid_of(x: torch.Tensor) -> torch.Tensor:
    """The period-4 pattern of an image: each 4x4 phase's mean high-pass residual, tiled."""
    low = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(x, (2, 2, 2, 2), mode="replicate"), 5, stride=1)
    r = x - low
    b, c, h, w = r.shape
    phases = r.reshape(b, c, h // 4, 4, w // 4, 4).mean(dim=(2, 4), keepdim=True)
    return phases.expand(b, c, h // 4, 4, w // 4, 4).reshape(b, c, h, w)


def alignment(checkpoint: Path, n_images: int) -> dict[str, list[float]]:
    """Cosine between each loss term's descent direction and the grid in a gan-stage generator's error.

    Positive: lowering that term draws more grid; negative: it removes the grid.
    """
    from srgan.archs import build_generator
    from srgan.losses.adversarial import AdversarialLoss
    from srgan.losses.grid import GridLoss
    from srgan.losses.perceptual import PerceptualLoss
    from srgan.train.loop import read_checkpoint

    ck = read_checkpoint(checkpoint)
    cfg = ck["config"]
    g = build_generator(cfg["model"]["arch"], **{k: v for k, v in cfg["model"].items() if k != "arch"})
    g.load_state_dict(ck["state"]["g"])
    g.eval()
    d, dc = _trained_discriminator(ck)
    adv = AdversarialLoss(kind="ragan", weight=1.0)
    terms: dict[str, object] = {"L1": torch.nn.L1Loss()}
    for layer in ("fire2", "fire3", "fire4", "fire5", "fire7", "fire9"):
        terms[f"perceptual, SqueezeNet {layer}"] = PerceptualLoss(backbone="squeezenet", layers={layer: 1.0},
                                                                  weights_path=SQUEEZENET)  # fmt: skip
    terms["grid loss"] = GridLoss(period=4)
    terms[f"RaGAN through the run's {'blur-pool' if dc.get('antialias') else 'strided'} {dc['arch']}"] = d
    out: dict[str, list[float]] = {k: [] for k in terms}
    for target, lr in _set14_pairs(n_images, crop=256):
        with torch.no_grad():
            sr = g(lr).clamp(0, 1)
        grid = _grid_of(sr - target)
        for name, term in terms.items():
            x = sr.clone().requires_grad_(True)
            loss = adv.generator(term(x), term(target).detach()) if name.startswith("RaGAN") else term(x, target)  # type: ignore[operator]
            loss.backward()
            gr = x.grad
            out[name].append(float(-(gr * grid).sum() / (gr.norm() * grid.norm() + 1e-12)))
    return out


def _set14_pairs(n_images: int, crop: int | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(HR, x4 bicubic LR) tensors of the first colour Set14 images, sides multiples of 8."""
    from srgan.data.tensors import array_to_tensor
    from srgan.imageio import list_images, read_image
    from srgan.metrics.protocol import prepare_hr
    from srgan.resize import imresize_uint8

    pairs = []
    for f in list_images(data_dir() / "Set14"):
        hr = prepare_hr(read_image(f), 8, "basicsr")
        if hr.ndim == 2 or hr.shape[2] < 3:
            continue
        hr = hr[:crop, :crop, :3] if crop else hr[:, :, :3]
        lr = imresize_uint8(hr, 1 / 4)
        pairs.append((array_to_tensor(hr)[None], array_to_tensor(lr)[None]))
        if len(pairs) == n_images:
            break
    return pairs


def write_gradients(args: argparse.Namespace) -> None:
    scores = gradient_scores(args.disc_checkpoint, args.images)
    m = machine()
    record: dict[str, object] = {"command": command_line(), "machine": m, "scores": scores}
    lines = [*page_header("Where the checkerboard comes from: the period-4 score of each loss term's gradient", m),
             f"Gradient of each term with respect to srresnet-x4's output on the first {args.images} colour Set14",
             "images, scored like an image by `checkerboard_score` (about 1-2: no grid). A GAN fine-tune moves",
             "the generator along these gradients; a periodic one teaches it the grid.", "",
             "| loss term | mean | min | max |", "|---|---:|---:|---:|"]  # fmt: skip
    for name, v in scores.items():
        lines.append(f"| {name} | {np.mean(v):.1f} | {np.min(v):.1f} | {np.max(v):.1f} |")
    for ckpt in args.alignment:
        cos = alignment(ckpt, args.images)
        record.setdefault("alignment", {})[str(ckpt)] = cos  # type: ignore[index]
        lines += ["", f"## Which term draws the grid: {ckpt.parent.parent.name}, raw generator", "",
                  "Cosine between each term's descent direction and the period-4 pattern in the generator's error",
                  f"(first {args.images} colour Set14 images, 256 px crops): positive = lowering the term adds grid.",
                  "",
                  "| loss term | mean | min | max |", "|---|---:|---:|---:|"]  # fmt: skip
        for name, v in cos.items():
            lines.append(f"| {name} | {np.mean(v):+.3f} | {np.min(v):+.3f} | {np.max(v):+.3f} |")
    write_results("checkerboard_gradients", record, lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", metavar="LABEL=MODEL")
    ap.add_argument("--datasets", nargs="+", default=["Set5", "Set14", "BSD100"])
    ap.add_argument("--gradients", action="store_true", help="measure the loss terms' gradients instead")
    ap.add_argument("--disc-checkpoint", type=Path, nargs="*", default=[],
                    help="with --gradients: gan-stage runs' checkpoints (their trained discriminators)")  # fmt: skip
    ap.add_argument(
        "--alignment",
        type=Path,
        nargs="*",
        default=[],
        help="with --gradients: gan-stage checkpoints whose generator's grid each term is compared with",
    )
    ap.add_argument("--images", type=int, default=8, help="with --gradients: Set14 images to use")
    ap.add_argument("--name", default="checkerboard",
                    help="results file stem, e.g. checkerboard_val for choosing a run's snapshot on Set5")  # fmt: skip
    args = ap.parse_args()
    if args.gradients:
        write_gradients(args)
        return
    if not args.models:
        ap.error("give LABEL=MODEL pairs, or --gradients")
    pairs = [m.split("=", 1) if "=" in m else [m, m] for m in args.models]
    if REFERENCE not in [label for label, _ in pairs]:
        pairs.insert(0, [REFERENCE, REFERENCE])
    path = RESULTS / f"{args.name}.json"
    record = json.loads(path.read_text()) if path.is_file() else {"rows": {}}
    lp = LPIPS()
    extra = {"lpips": lp.score_uint8, "checkerboard": lambda sr, hr: checkerboard_score(sr, period=4)}
    for label, model in pairs:
        t0 = time.perf_counter()
        row = {"model": model, "command": command_line(), "sets": {}}
        for ds in args.datasets:
            results, failures = evaluate(dataset_dir(ds), [model_method(model, 4, "cpu")], scale=4, extra=extra)
            if failures:
                raise SystemExit(f"unreadable images in {ds}")
            r = results[0]
            row["sets"][ds] = {"psnr_y": r.psnr_y, "lpips": r.extra["lpips"], "checkerboard": r.extra["checkerboard"]}
        row["seconds"] = time.perf_counter() - t0
        record["rows"][label] = row
        print(label, json.dumps(row["sets"]), flush=True)
    record["machine"] = machine()
    atomic_write_bytes(path, json.dumps(record, indent=2).encode())

    ref = record["rows"][REFERENCE]["sets"]
    sets = list(ref)
    lines = [
        "# Checkerboard study: Y-PSNR / LPIPS-squeeze / checkerboard score (x ratio to srresnet-x4)",
        "",
        f"Last command: `{command_line()}`  ",
        f"Machine: {machine_markdown(record['machine'])}",
        "",
        "Clean x4 input (basicsr protocol). Checkerboard: `srgan.metrics.artifacts.checkerboard_score`,",
        "the FFT peaks at the period-4 frequencies over their neighbourhood (about 1-2 without a grid).",
        "Target (issue 19): every shipped GAN model at most 1.1x srresnet-x4's score while keeping",
        "at least 15 % lower BSD100 LPIPS than srresnet-x4.",
        "",
        "| label | model | " + " | ".join(sets) + " |",
        "|---|---|" + "---:|" * len(sets),
    ]
    for label, row in record["rows"].items():
        cells = []
        for ds in sets:
            v = row["sets"].get(ds)
            if v is None:
                cells.append("-")
                continue
            ratio = v["checkerboard"] / ref[ds]["checkerboard"]
            cells.append(f"{v['psnr_y']:.2f} / {v['lpips']:.4f} / {v['checkerboard']:.2f} ({ratio:.2f}x)")
        lines.append(f"| {label} | `{row['model']}` | " + " | ".join(cells) + " |")
    atomic_write_bytes(RESULTS / f"{args.name}.md", ("\n".join(lines) + "\n").encode())
    print("\n".join(lines))


if __name__ == "__main__":
    main()
