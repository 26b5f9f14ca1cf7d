"""`srgan train`: a recipe or TOML file, resumable, under torchrun too."""

from __future__ import annotations

import argparse
import logging

from srgan.cli.common import Bar, add_command

log = logging.getLogger("srgan")


# --------------------------------------------------------------------------- train


def add_train(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub, "train", help="train a generator (psnr stage) or fine-tune it as a GAN (gan stage)",
        description="Train from a TOML config or a shipped recipe. Under `torchrun --nproc_per_node N -m srgan "
        "train ...` it runs DDP (NCCL on GPUs, gloo on CPU). Ctrl-C saves a checkpoint; --resume continues.",
        examples=["srgan train srresnet-x4 --output runs/x4",
                  "srgan train srresnet-x4 --output runs/x4 --resume",
                  "srgan train my.toml --output runs/mine --set train.iterations=2000 --set data.batch_size=8",
                  "torchrun --nproc_per_node 4 -m srgan train srresnet-x4 --output runs/x4-ddp"],
    )  # fmt: skip
    p.add_argument("config", help="TOML config file, or a shipped recipe: srresnet-x4, srresnet-x2, srgan-x4, ...")
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
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it only shows on a terminal)")
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from srgan.train import load_config, train
    from srgan.weights import config_path

    cfg = load_config(config_path(args.config), args.set)
    from srgan.device import Launch

    launch = Launch.from_env()
    bar = Bar(f"train {cfg.train.stage}", "it", enabled=not args.no_progress and launch.is_main)
    result = train(cfg, args.output, resume=args.resume, progress=bar, overwrite=args.overwrite, launch=launch)
    if "weights" in result:
        val = result.get("val") or {}
        extra = f"; validation PSNR-Y {val['psnr_y']:.3f} dB" if "psnr_y" in val else ""
        log.info("finished at iteration %d; weights in %s%s", result["iteration"], result["weights"], extra)
    return 0
