"""`srgan evaluate`: score methods on HR folders with the published protocol."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from srgan.cli.common import Bar, add_command, backbone_options, backbone_weights, write_text
from srgan.errors import ConfigError, PartialFailure

log = logging.getLogger("srgan")


# --------------------------------------------------------------------------- evaluate


def add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub, "evaluate", help="PSNR/SSIM (and LPIPS) on benchmark folders with the published protocol",
        description="Score upscaling methods on HR image folders: modcrop, MATLAB bicubic LR, upscale, "
        "Y-PSNR/SSIM with `scale` border pixels cropped (comparable with published tables); with --lpips, "
        "LPIPS (SqueezeNet, v0.1) on the whole RGB image too.",
        examples=["srgan evaluate --data ../shared/data/Set5 --scale 4 --method bicubic srresnet-x4",
                  "srgan evaluate --data Set5 Set14 --scale 2 --method srresnet-x2 --protocol matlab",
                  "srgan evaluate --data hr/ --lr-dir lr/ --scale 4 --method my.safetensors --format csv",
                  "srgan evaluate --data BSD100 --scale 4 --method srresnet-x4 srgan-x4 --lpips "
                  "--backbone-weights squeezenet1_1.pth"],
    )  # fmt: skip
    p.add_argument("--data", nargs="+", required=True, metavar="DIR", help="HR image folders (one table each)")
    p.add_argument("--scale", type=int, required=True, choices=(2, 3, 4), help="upscaling factor")
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
    p.add_argument("--lpips", action="store_true",
                   help="also LPIPS-squeeze (v0.1, RGB, whole image; lower is better), as benchmarks/ reports "
                   "it")  # fmt: skip
    backbone_options(p, "--lpips")
    p.add_argument("--format", choices=("md", "csv", "json"), default="md", help="table format")
    p.add_argument("--output", metavar="FILE", help="write the table here instead of stdout")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it only shows on a terminal)")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from srgan.evaluation import evaluate, format_csv, format_markdown, resolve_method

    if args.lr_dir and len(args.lr_dir) != len(args.data):
        raise ConfigError(f"--lr-dir needs one folder per --data folder ({len(args.data)}), got {len(args.lr_dir)}")
    if args.output:
        from srgan.fsutil import is_within

        for folder in [*args.data, *(args.lr_dir or [])]:
            if is_within(args.output, folder):
                raise ConfigError(f"--output {args.output}: must not be written inside the image folder {folder}")
    extra = None
    if args.lpips:
        from srgan.metrics.lpips import LPIPS

        lpips = LPIPS(backbone_weights(args, "--lpips"), allow_download=args.allow_download)
        extra = {"lpips": lpips.score_uint8}
    from srgan.device import resolve_device

    device = str(resolve_device(args.device))
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
            extra=extra,
            progress=Bar(f"{Path(data).name} x{args.scale}", "img", enabled=not args.no_progress),
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
    write_text(text, args.output)
    if n_failed:
        raise PartialFailure(f"{n_failed} image(s) could not be scored and were left out; the rest were scored")
    return 0
