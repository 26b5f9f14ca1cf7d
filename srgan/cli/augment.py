"""`srgan augment` (classical or GAN), `srgan augment generate`, `srgan augment report`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from srgan.cli.common import Bar, add_command, backbone_options, backbone_weights, existing_file, hide_command
from srgan.errors import ConfigError, PartialFailure

if TYPE_CHECKING:
    from torch import nn

    from srgan.augment.novelty import NearCopyFilter

#: srgan.augment.classical.PRESETS, without importing albumentations to parse a command line (a test keeps them equal)
PRESETS = ("light", "medium", "heavy", "sr-degrade")

log = logging.getLogger("srgan")

EXACT_HELP = (
    "generate in float64 (about 5x slower on a CPU), so every machine writes the same images; in float32 "
    "another CPU rounds about 1 value in 100,000 to the next 8-bit level"
)
TRUNCATION_HELP = "redraw noise entries beyond +-T (BigGAN's truncation; e.g. 1.0): fewer odd samples, less variety"

# --------------------------------------------------------------------------- augment


def route(argv: list[str]) -> list[str]:
    """``augment generate ...`` and ``augment report ...`` are their own parsers.

    Only the bare words route there: a source folder that is called ``generate`` or ``report`` is
    augmented when written as a path (``srgan augment ./report out``), as the help says.
    """
    if len(argv) >= 2 and argv[0] == "augment" and argv[1] in ("generate", "report"):
        return [f"augment-{argv[1]}", *argv[2:]]
    return argv


def _filter_options(p: argparse._ActionsContainer) -> None:
    p.add_argument("--keep-confident", type=float, metavar="T",
                   help="write only samples a classifier trained on the real images assigns to their class with "
                   "probability >= T (0-1), and their soft labels in manifest.jsonl")  # fmt: skip
    p.add_argument("--teacher-epochs", type=int, default=30, help="epochs of that classifier (ResNet-20)")
    p.add_argument("--drop-near-copies", action="store_true",
                   help="drop near-copies of a real image: samples nearer to their nearest real image than a "
                   "third of the distance to the next nearest (pixels; a mirror image counts as a copy when the "
                   "GAN trained with flips); manifest.jsonl gets each kept image's ratio")  # fmt: skip


def _check_filters(args: argparse.Namespace, real_dir: str | None) -> None:
    """The filters' options, checked before OUT is touched or anything trains."""
    wanted = [o for o, on in (("--keep-confident", args.keep_confident is not None),
                              ("--drop-near-copies", args.drop_near_copies)) if on]  # fmt: skip
    if wanted and real_dir is None:
        raise ConfigError(f"{' and '.join(wanted)} need{'s' if len(wanted) == 1 else ''} the real images: "
                          "give them with --real DIR")  # fmt: skip
    if args.keep_confident is not None and not 0 <= args.keep_confident <= 1:
        raise ConfigError(f"--keep-confident must be in [0, 1], got {args.keep_confident:g}")


def _teacher(args: argparse.Namespace, real_dir: str | None, size: int, device: str = "cpu",
             keep: Path | None = None) -> nn.Module | None:  # fmt: skip
    """The --keep-confident classifier, trained before any sample is written; None without the option.

    ``keep``: a folder to save it in, and to load it from when it was trained there on the same images with
    the same settings (``augment --engine gan --resume`` does not train it again).
    """
    if args.keep_confident is None:
        return None
    if real_dir is None:
        raise ConfigError("--keep-confident needs the real images: give them with --real DIR")
    from srgan.augment.study import Protocol, classifier_from_state, train_teacher
    from srgan.augment.study_cache import StudyCache, fingerprint
    from srgan.data.labelled import load_images

    real = load_images(real_dir, size)
    proto = Protocol(epochs=args.teacher_epochs, flip=not getattr(args, "no_flip", False))
    cache = None if keep is None else StudyCache(keep, fingerprint({"real": real}, real, proto))
    if cache is not None and (state := cache.load_teacher(0)) is not None:
        log.info("using the --keep-confident classifier trained before, kept in %s", keep)
        return classifier_from_state(real, state, "cpu")
    log.info("training the --keep-confident classifier: ResNet-20, %d epoch(s) over %d images (minutes on a CPU)",
             args.teacher_epochs, real.images.shape[0])  # fmt: skip
    # it trains on DEVICE; the samples it judges are made on the CPU
    bar = Bar("classifier", "epoch", enabled=not args.no_progress)
    model = train_teacher(real, proto=proto, progress=bar, device=device).cpu()
    if cache is not None:
        cache.save_teacher(0, model)
    return model


def _near_filter(args: argparse.Namespace, real_dir: str | None, size: int, *, mirror: bool) -> NearCopyFilter | None:
    """The --drop-near-copies filter over the real images; None without the option.

    ``mirror``: the GAN saw mirrored images, so a mirror image of a real one is a copy too.
    """
    if not args.drop_near_copies:
        return None
    if real_dir is None:
        raise ConfigError("--drop-near-copies needs the real images: give them with --real DIR")
    from srgan.augment.novelty import NearCopyFilter
    from srgan.data.labelled import load_images

    real = load_images(real_dir, size).images
    if real.shape[0] < 2:
        raise ConfigError(f"--drop-near-copies needs at least 2 real images, {real_dir} has {real.shape[0]}")
    return NearCopyFilter.fit(real, mirror=mirror)


def add_augment(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub, "augment", help="grow an image dataset (classical augmentation or a class-conditional GAN)",
        description="Write augmented copies of SRC into OUT (classical engine), or train a class-conditional GAN "
        "on SRC and write synthetic images (gan engine). SRC is never modified.\n"
        "Also: `srgan augment generate CHECKPOINT OUT` and `srgan augment report REAL SYNTH` (each has --help).\n"
        "A source folder called generate or report is written as a path: ./generate.",
        examples=["srgan augment photos/ grown/ --preset medium --per-image 4 --include-originals",
                  "srgan augment digits/ grown/ --preset light --no-flip",
                  "srgan augment photos/ synth/ --engine gan --steps 5000 --per-class 500 --report --test held_out/",
                  "srgan augment photos/ synth/ --engine gan --resume        # after Ctrl-C"],
    )  # fmt: skip
    p.add_argument("src", help="image folder: flat, or one sub-folder per class (never modified)")
    p.add_argument("out", help="output folder (mirrors SRC's classes)")
    p.add_argument("--engine", choices=("classical", "gan"), default="classical", help="classical or gan")
    p.add_argument("--seed", type=int, default=0, help="every output is a pure function of the seed")
    p.add_argument("--overwrite", action="store_true",
                   help="reuse a non-empty OUT: what srgan wrote there before goes, other files stay")  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no progress bars (they only show on a terminal)")
    p.add_argument("--no-flip", action="store_true",
                   help="never mirror images (presets, GAN, report classifiers): for digits, text, logos")  # fmt: skip
    c = p.add_argument_group("classical engine")
    pipe = c.add_mutually_exclusive_group()
    pipe.add_argument("--preset", choices=PRESETS, default="medium",
                      help="built-in albumentations pipeline")  # fmt: skip
    pipe.add_argument("--pipeline", metavar="FILE", help="albumentations pipeline saved by A.save (YAML or JSON)")
    c.add_argument("--per-image", type=int, default=1, help="augmented copies per source image")
    c.add_argument("--include-originals", action="store_true", help="copy the originals alongside")
    g = p.add_argument_group("gan engine")
    g.add_argument("--size", type=int, default=32, choices=(32, 64, 128), help="GAN image size")
    g.add_argument("--steps", type=int, default=5000, help="GAN training steps")
    g.add_argument("--per-class", type=int, default=100, help="synthetic images written per class")
    g.add_argument("--batch-size", type=int, default=64, help="GAN batch size")
    g.add_argument("--width", type=int, default=64,
                   help="base channel count of G and D (64: DCGAN's; 32 trains about 4x faster on a CPU)")  # fmt: skip
    g.add_argument("--gan-loss", choices=("hinge", "ns", "wgan-gp"), default="hinge", help="adversarial loss")
    g.add_argument("--mode-seeking", type=float, default=1.0,
                   help="weight of the mode-seeking term that keeps each class varied (0: off)")  # fmt: skip
    g.add_argument("--lecam", type=float, default=0.0, metavar="W",
                   help="LeCam regularisation of the discriminator, for small datasets (0: off; its paper used 0.3 "
                        "on 10 %% of CIFAR-10)")  # fmt: skip
    g.add_argument("--device", default="auto", help="where the GAN trains: auto (a GPU when there is one), cpu, "
                                                    "cuda, cuda:N")  # fmt: skip
    g.add_argument("--resume", action="store_true", help="continue GAN training from OUT/.gan/checkpoint.pt")
    g.add_argument("--upscale", metavar="MODEL", help="pass samples through an srgan upscaler (e.g. srresnet-x4)")
    g.add_argument("--truncation", type=float, metavar="T", help=TRUNCATION_HELP)
    g.add_argument("--exact", action="store_true", help=EXACT_HELP)
    _filter_options(g)
    g.add_argument("--no-hold-out", action="store_true",
                   help="train the GAN on every image, even the report's validation split")  # fmt: skip
    g.add_argument("--report", action="store_true", help="write a report comparing synthetic and real images")
    g.add_argument("--test", metavar="DIR", help="held-out real test folder for the report's downstream study")
    backbone_options(g)
    p.set_defaults(func=cmd_augment)

    gen = add_command(
        sub, "augment-generate", help="", description="Write synthetic images from a trained augment GAN.",
        examples=["srgan augment generate synth/.gan/checkpoint.pt more/ --per-class 1000",
                  "srgan augment generate synth/.gan/checkpoint.pt sharp/ --per-class 200 --truncation 1.0"],
    )  # fmt: skip
    gen.prog = "srgan augment generate"
    gen.add_argument("checkpoint", help="a GAN checkpoint written by `srgan augment --engine gan`")
    gen.add_argument("out", help="output folder (must not hold the checkpoint)")
    gen.add_argument("--per-class", type=int, required=True, help="images per class")
    gen.add_argument("--seed", type=int, default=0, help="the same seed gives the same images")
    gen.add_argument("--upscale", metavar="MODEL", help="pass samples through an srgan upscaler (e.g. srresnet-x4)")
    gen.add_argument("--truncation", type=float, metavar="T", help=TRUNCATION_HELP)
    gen.add_argument("--exact", action="store_true", help=EXACT_HELP)
    gen.add_argument("--overwrite", action="store_true", help="reuse a non-empty OUT (only srgan's files go)")
    _filter_options(gen)
    gen.add_argument("--real", metavar="DIR",
                     help="the real images, for --keep-confident's classifier and --drop-near-copies")  # fmt: skip
    gen.add_argument("--no-progress", action="store_true", help="no progress bars")
    gen.set_defaults(func=cmd_augment_generate)
    hide_command(sub, "augment-generate")

    rep = add_command(
        sub, "augment-report", help="", description="Compare synthetic and real images: GAN-test, feature FID/KID "
        "and (with --test) a downstream classifier study.",
        examples=["srgan augment report photos/ synth/ --test held_out/",
                  "srgan augment report digits/ synth/ --test held_out/ --no-flip --backbone-weights squeezenet.pth"],
    )  # fmt: skip
    rep.prog = "srgan augment report"
    rep.add_argument("real", help="the real training images (flat or one sub-folder per class)")
    rep.add_argument("synth", help="the synthetic images (same classes)")
    rep.add_argument("--test", metavar="DIR", help="held-out real images for the downstream study")
    rep.add_argument("--classical", metavar="DIR", help="classically augmented images, for the downstream study")
    rep.add_argument("--gan-checkpoint", metavar="FILE",
                     help="the GAN that made SYNTH (default SYNTH/.gan/checkpoint.pt): the report says whether it "
                          "saw the study's validation images")  # fmt: skip
    rep.add_argument("--output", metavar="DIR", help="where to write the report (default: SYNTH/report)")
    rep.add_argument("--size", type=int, default=32, help="image size the scores are computed at")
    rep.add_argument("--seeds", type=int, default=3, help="classifier runs per training set")
    rep.add_argument("--protocol", choices=("study", "quick"), default="study",
                     help="study: ResNet-20 over --epochs (cosine schedule), epoch chosen on validation, every "
                     "synthetic recipe; quick: the small fixed-step CNN of earlier reports")  # fmt: skip
    rep.add_argument("--epochs", type=int, default=60,
                     help="study: epochs over the real images per run (see --longer-controls for whether real-only "
                     "still gains from more)")  # fmt: skip
    rep.add_argument("--budget", type=float, metavar="MIN", help="study: stop a run after MIN minutes")
    rep.add_argument("--thresholds", type=float, nargs="+", default=[0.5, 0.9],
                     help="study: confidence thresholds of the filtered-synthesis arms")  # fmt: skip
    rep.add_argument("--arms", nargs="+", metavar="ARM",
                     help="study: run only these arms besides real: real-x2 (real only, twice the epochs: as many "
                     "steps as half-synthetic batches), synthetic, filtered-T (one per --thresholds value), soft, "
                     "pretrain, classical, combo (classical + filtered synthetic), combo-soft (classical + "
                     "soft-labelled synthetic), online-PRESET (one per --online-classical), online-PRESET+soft@S "
                     "(each with --shares S below 0.5) (default: all)")  # fmt: skip
    rep.add_argument("--shares", type=float, nargs="+", metavar="S",
                     help="study: also run the plain, filtered and soft-label recipes with synthetic share S of each "
                     "batch (arm keys synthetic@S, ...)")  # fmt: skip
    rep.add_argument("--synthetic-counts", type=int, nargs="+", metavar="N",
                     help="study: also run the plain and soft-label recipes (at every share) on only the first N "
                     "synthetic images of each class, to measure what their number does (arm keys soft-nN, "
                     "soft@S-nN, ...)")  # fmt: skip
    rep.add_argument("--longer-controls", type=int, nargs="+", metavar="K",
                     help="study: also real-only over K times the epochs (arm keys real-xK; real-x2 is always an "
                     "arm), to show whether real-only has stopped gaining")  # fmt: skip
    rep.add_argument("--online-classical", nargs="+", metavar="PRESET", choices=PRESETS,
                     help="study: also real + PRESET drawn anew for every batch (arm keys online-PRESET), against "
                     "the classical arm's one fixed copy of each image; with --shares S (below 0.5), also that arm "
                     "with S of each batch soft-labelled synthetic images in place of drawn-anew copies "
                     "(online-PRESET+soft@S, read against online-PRESET)")  # fmt: skip
    rep.add_argument("--device", default="auto", help="study: where the classifiers train: auto, cpu, cuda, cuda:N")
    rep.add_argument("--channels-last", action="store_true",
                     help="study: train in channels-last memory layout (1.22x faster on a 2-core x86 CPU, "
                     "benchmarks/study_speed.py; the same arithmetic in another order)")  # fmt: skip
    rep.add_argument("--steps", type=int, default=2000, help="quick: classifier optimisation steps per run")
    rep.add_argument("--no-flip", action="store_true", help="classifiers never see mirrored images")
    rep.add_argument("--no-progress", action="store_true", help="no progress bar (it only shows on a terminal)")
    rep.add_argument("--real-fraction", type=float, default=0.5,
                     help="share of real images in every batch when images are added to the real set")  # fmt: skip
    backbone_options(rep)
    rep.set_defaults(func=cmd_augment_report)
    hide_command(sub, "augment-report")


def cmd_augment(args: argparse.Namespace) -> int:
    from pathlib import Path

    from srgan.fsutil import OutputFolder, check_disjoint, prepare_output

    if args.engine == "classical":
        from srgan.augment.classical import BLURS, SMALL, build_preset, load_pipeline, run_classical

        pipeline = load_pipeline(args.pipeline) if args.pipeline else build_preset(args.preset, flip=not args.no_flip)
        rep = run_classical(args.src, args.out, pipeline=pipeline, per_image=args.per_image, seed=args.seed,
                            include_originals=args.include_originals, overwrite=args.overwrite,
                            progress=Bar("augment", "img", enabled=not args.no_progress),
                            pipeline_file=args.pipeline)  # fmt: skip
        log.info("%d augmented image(s) written, %d original(s) copied, %d unreadable, %d failed; manifest %s",
                 rep.written, rep.originals, len(rep.unreadable), len(rep.failed), rep.manifest)  # fmt: skip
        read = rep.written // args.per_image if rep.written else 0
        if not args.pipeline and args.preset in BLURS and rep.small * 2 > read:
            widest, share = BLURS[args.preset]
            log.warning("hint: %d of %d images are under %d px, where the %s preset's blur (3-%d px kernels, on "
                        "%.0f %% of the copies) erases most of an image's detail (at 32 px, medium's blurred copies "
                        "keep a median 12 %% of it); --preset light has no blur", rep.small, read, SMALL,
                        args.preset, widest, 100 * share)  # fmt: skip
        if rep.unreadable or rep.failed:
            raise PartialFailure(f"{len(rep.unreadable) + len(rep.failed)} source image(s) were skipped "
                                 f"({len(rep.unreadable)} unreadable, {len(rep.failed)} failed in the pipeline); "
                                 "the others were written")  # fmt: skip
        return 0
    from srgan.augment.generate import generate
    from srgan.train.gan_trainer import GanConfig, train_gan

    out = Path(args.out)
    check_disjoint(out, folders=[("source folder", args.src), ("test folder", args.test)],
                   files=[("model file", existing_file(args.upscale))])  # fmt: skip
    _check_filters(args, args.src)  # before hours of training, not after
    weights = backbone_weights(args, "the report") if args.report else None
    cfg = GanConfig(
        size=args.size,
        steps=args.steps,
        batch_size=args.batch_size,
        loss=args.gan_loss,
        mode_seeking=args.mode_seeking,
        lecam=args.lecam,
        flip=not args.no_flip,
        seed=args.seed,
        g_base=args.width,
        d_base=args.width,
    )
    cfg.validate()  # before OUT is touched
    from srgan.device import resolve_device

    device = resolve_device(args.device)
    owned = OutputFolder(out) if args.resume else prepare_output(out, overwrite=args.overwrite)
    owned.claim(out / ".gan", folder=True)
    hold_out: list[str] = []
    if not args.no_hold_out:
        from srgan.augment.study import Protocol, validation_names
        from srgan.data.labelled import load_images

        hold_out = validation_names(load_images(args.src, args.size), Protocol())
        log.info("the GAN trains without the %d image(s) the report's study validates on (--no-hold-out: use all)",
                 len(hold_out))  # fmt: skip
    ckpt = train_gan(args.src, out / ".gan", cfg, resume=args.resume, hold_out=hold_out, device=device,
                     progress=Bar("gan", "step", enabled=not args.no_progress))  # fmt: skip
    near = _near_filter(args, args.src, args.size, mirror=cfg.flip)
    teacher = _teacher(args, args.src, args.size, str(device), out / ".gan" / "teacher")
    counts = generate(ckpt, out, per_class=args.per_class, seed=args.seed, upscale=args.upscale,
                      truncation=args.truncation, teacher=teacher,
                      threshold=args.keep_confident or 0.0, near=near, exact=args.exact,
                      progress=Bar("generate", "img", enabled=not args.no_progress))  # fmt: skip
    log.info("wrote %d synthetic image(s) in %d class(es) to %s", sum(counts.values()), len(counts), out)
    if args.report:
        from srgan.augment.report import ReportInputs, make_report

        res = make_report(ReportInputs(Path(args.src), out, Path(args.test) if args.test else None, gan=ckpt),
                          out / ".gan" / "report", size=args.size, flip=False if args.no_flip else None,
                          weights=weights, allow_download=args.allow_download)  # fmt: skip
        log.info("report in %s: GAN-test accuracy %.1f %%", out / ".gan" / "report", 100 * res["gan_test_accuracy"])
    return 0


def cmd_augment_generate(args: argparse.Namespace) -> int:
    from srgan.augment.generate import generate, load_generator_checkpoint
    from srgan.fsutil import check_disjoint, prepare_output

    inputs = [("checkpoint", args.checkpoint), ("model file", existing_file(args.upscale))]
    check_disjoint(Path(args.out), files=inputs, folders=[("real folder", args.real)])
    _check_filters(args, args.real)
    gan = load_generator_checkpoint(args.checkpoint)
    cfg = gan[2]
    near = _near_filter(args, args.real, int(cfg["size"]), mirror=bool(cfg.get("flip", True)))
    prepare_output(Path(args.out), overwrite=args.overwrite)
    counts = generate(gan, args.out, per_class=args.per_class, seed=args.seed, upscale=args.upscale,
                      truncation=args.truncation, teacher=_teacher(args, args.real, int(cfg["size"])),
                      threshold=args.keep_confident or 0.0, near=near, exact=args.exact,
                      progress=Bar("generate", "img", enabled=not args.no_progress))  # fmt: skip
    log.info("wrote %d synthetic image(s) in %d class(es) to %s", sum(counts.values()), len(counts), args.out)
    return 0


def cmd_augment_report(args: argparse.Namespace) -> int:
    from srgan.augment.report import ReportInputs, make_report

    gan = Path(args.gan_checkpoint) if args.gan_checkpoint else Path(args.synth) / ".gan" / "checkpoint.pt"
    inputs = ReportInputs(Path(args.real), Path(args.synth), Path(args.test) if args.test else None,
                          Path(args.classical) if args.classical else None, gan)  # fmt: skip
    out = Path(args.output) if args.output else Path(args.synth) / "report"
    from srgan.fsutil import check_disjoint

    check_disjoint(out, folders=[("real folder", args.real), ("test folder", args.test),
                                 ("classical folder", args.classical)])  # fmt: skip
    if not 0 < args.real_fraction <= 1:
        raise ConfigError(f"--real-fraction must be in (0, 1], got {args.real_fraction}")
    weights = backbone_weights(args, "the report")
    from srgan.augment.study import Protocol
    from srgan.device import resolve_device

    study = None
    if args.protocol == "study":
        study = Protocol(epochs=args.epochs, budget=args.budget * 60 if args.budget else None,
                         channels_last=args.channels_last)  # fmt: skip
    res = make_report(inputs, out, size=args.size, seeds=args.seeds, steps=args.steps,
                      flip=False if args.no_flip else None, real_fraction=args.real_fraction, weights=weights,
                      allow_download=args.allow_download, study=study, thresholds=tuple(args.thresholds),
                      arms=tuple(args.arms) if args.arms else None, shares=tuple(args.shares or ()),
                      counts=tuple(args.synthetic_counts or ()), longer=tuple(args.longer_controls or ()),
                      online=tuple(args.online_classical or ()), device=str(resolve_device(args.device)),
                      progress=Bar("study", "run", enabled=not args.no_progress))  # fmt: skip
    log.info("report in %s: GAN-test accuracy %.1f %%", out, 100 * res["gan_test_accuracy"])
    return 0
