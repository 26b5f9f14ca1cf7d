"""Training pipeline: learning, exact resume after a kill, torchrun DDP, the gan stage, bad configs."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO
from safetensors.torch import load_file

from srgan.cli import main
from srgan.data.tensors import array_to_tensor, tensor_to_array
from srgan.errors import ConfigError, ModelError
from srgan.imageio import write_image
from srgan.metrics.protocol import make_lr, prepare_hr, score_pair
from srgan.train import load_config, train
from srgan.weights import config_path, load_generator

TINY = REPO / "tests" / "configs" / "tiny.toml"


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory, astronaut, chelsea, coffee) -> Path:
    """A small training folder of real photo crops."""
    d = tmp_path_factory.mktemp("photos")
    write_image(d / "astronaut.png", astronaut[:160, 100:260])
    write_image(d / "chelsea.png", chelsea[80:240, 120:280])
    write_image(d / "coffee.png", coffee[100:260, 200:360])
    return d


def _tiny_args(data: Path, **overrides: object) -> list[str]:
    sets = {"data.train_dirs": f'["{data}"]', **{k: str(v) for k, v in overrides.items()}}
    out = []
    for k, v in sets.items():
        out += ["--set", f"{k}={v}"]
    return out


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "srgan", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, env=env)  # fmt: skip


def _psnr_of(model: torch.nn.Module, hr: np.ndarray, scale: int) -> float:
    lr = make_lr(hr, scale, "basicsr")
    with torch.inference_mode():
        sr = tensor_to_array(model(array_to_tensor(lr)[None])[0])
    return score_pair(sr, hr, scale=scale, protocol="basicsr")[0]


def test_overfits_one_real_crop(tmp_path, astronaut):
    d = tmp_path / "one"
    hr = prepare_hr(astronaut[180:276, 200:296], 2, "basicsr")  # the face: 96x96
    write_image(d / "face.png", hr)
    cfg = load_config(TINY, [
        f'data.train_dirs=["{d}"]', "model.scale=2", "data.patch_size=48", "data.batch_size=4",
        "train.iterations=150", "train.lr=2e-3", "train.ema_decay=0", "train.checkpoint_every=1000",
        'train.scheduler="constant"',
    ])  # fmt: skip
    torch.manual_seed(0)
    from srgan.archs import build_generator

    before = _psnr_of(build_generator("srresnet", **cfg.model.hparams()).eval(), hr, 2)
    result = train(cfg, tmp_path / "run")
    model, meta = load_generator(result["weights"])
    after = _psnr_of(model, hr, 2)
    assert after > before + 3.0, (before, after)
    assert meta["stage"] == "psnr" and meta["iterations"] == "150"


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def test_resume_after_kill_is_bitwise_identical(tmp_path, photo_dir):
    args = _tiny_args(photo_dir, **{"train.iterations": 120, "train.checkpoint_every": 10, "data.batch_size": 8,
                                    "data.patch_size": 64, "train.threads": 1})  # fmt: skip
    ref = _cli("train", str(TINY), "--output", str(tmp_path / "ref"), "--no-progress", *args)
    assert ref.returncode == 0, ref.stderr

    run = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "srgan", "train", str(TINY), "--output", str(run), "--no-progress",
                             *args], cwd=REPO, env=env, stderr=subprocess.DEVNULL)  # fmt: skip
    ckpt = run / "checkpoints" / "latest.pt"
    deadline = time.monotonic() + 120
    while not ckpt.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # no clean stop: the process dies wherever it is
    proc.wait()
    assert ckpt.exists()
    assert not (run / "final.safetensors").exists(), "the run finished before it was killed"
    killed_at = torch.load(ckpt, weights_only=True)["iteration"]
    assert 0 < killed_at < 120

    resumed = _cli("train", str(TINY), "--output", str(run), "--resume", "--no-progress", *args)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed from {ckpt} at iteration {killed_at}" in resumed.stderr
    a, b = _weights(tmp_path / "ref" / "final.safetensors"), _weights(run / "final.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.skipif(shutil.which("torchrun") is None and not (Path(sys.executable).parent / "torchrun").exists(),
                    reason="torchrun not installed")  # fmt: skip
def test_torchrun_two_processes_then_resume_with_one(tmp_path, photo_dir):
    torchrun = str(Path(sys.executable).parent / "torchrun")
    args = _tiny_args(photo_dir, **{"train.iterations": 8, "train.checkpoint_every": 4, "data.batch_size": 4,
                                    "data.patch_size": 64})  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddp = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "srgan", "train", str(TINY),
                          "--output", str(tmp_path / "ddp"), "--no-progress", *args],
                         capture_output=True, text=True, timeout=300, cwd=REPO, env=env)  # fmt: skip
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    ckpt = torch.load(tmp_path / "ddp" / "checkpoints" / "latest.pt", weights_only=True)
    assert ckpt["iteration"] == 8 and ckpt["meta"]["world_size"] == 2

    # The same 8 iterations in one process see the same global batches: the weights agree.
    single = _cli("train", str(TINY), "--output", str(tmp_path / "one"), "--no-progress", *args)
    assert single.returncode == 0, single.stderr
    a, b = _weights(tmp_path / "ddp" / "final.safetensors"), _weights(tmp_path / "one" / "final.safetensors")
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-4

    more = _tiny_args(photo_dir, **{"train.iterations": 12, "train.checkpoint_every": 4, "data.batch_size": 4,
                                    "data.patch_size": 64})  # fmt: skip
    resumed = _cli("train", str(TINY), "--output", str(tmp_path / "ddp"), "--resume", "--no-progress", *more)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming a 2-process run with 1 process(es)" in resumed.stderr
    assert torch.load(tmp_path / "ddp" / "checkpoints" / "latest.pt", weights_only=True)["iteration"] == 12


def test_antialias_is_refused_where_it_does_not_apply(photo_dir):
    with pytest.raises(ConfigError, match=r"disc\.antialias applies to patchgan and unet only"):
        load_config(TINY, [f'data.train_dirs=["{photo_dir}"]', 'disc.arch="vgg"', "disc.antialias=true"])


def test_disc_shift_is_refused_where_it_does_not_apply(photo_dir):
    with pytest.raises(ConfigError, match=r"disc\.shift must be in \[0, 16\) and applies to the patchgan only"):
        load_config(TINY, [f'data.train_dirs=["{photo_dir}"]', 'disc.arch="unet"', "disc.shift=7"])
    with pytest.raises(ConfigError, match=r"disc\.shift must be"):
        load_config(TINY, [f'data.train_dirs=["{photo_dir}"]', "data.patch_size=64", "disc.shift=32"])


def _gan_run_recording(cfg, out: Path, module: str) -> tuple[list[tuple[torch.Tensor, ...]], list[torch.Tensor]]:
    """Run a gan-stage config; the inputs of every call of the trainer's ``module`` ("d", "perceptual") and the
    HR batches, in order."""
    from srgan.train.sr_trainer import Trainer

    trainer = Trainer(cfg, out)
    seen: list[tuple[torch.Tensor, ...]] = []
    batches: list[torch.Tensor] = []
    getattr(trainer, module).register_forward_pre_hook(lambda _m, args: seen.append(tuple(a.detach() for a in args)))
    step = trainer.train_step
    trainer.train_step = lambda lr, hr: (batches.append(hr.clone()), step(lr, hr))[1]  # type: ignore[method-assign]
    trainer.run()
    return seen, batches


def _gan_config(tmp_path: Path, photo_dir: Path, *overrides: str):
    """A gan-stage config on the photo crops, started from a 2-iteration psnr stage."""
    psnr = train(load_config(TINY, [f'data.train_dirs=["{photo_dir}"]', "train.iterations=2"]), tmp_path / "psnr")
    return load_config(TINY, [f'data.train_dirs=["{photo_dir}"]', 'train.stage="gan"',
                              f'train.init_from="{psnr["weights"]}"', "data.patch_size=64", *overrides])  # fmt: skip


def test_disc_shift_moves_the_discriminator_window_each_step_and_replays(tmp_path, photo_dir):
    """disc.shift: D sees a (patch - shift) px window of real and fake at an offset drawn per step; runs agree."""
    cfg = _gan_config(tmp_path, photo_dir, 'disc.arch="patchgan"', "disc.num_feat=8", "disc.shift=7",
                      "train.iterations=6", "data.batch_size=2")  # fmt: skip
    seen, batches = _gan_run_recording(cfg, tmp_path / "a", "d")
    assert len(seen) == 12 and all(t[0].shape[-2:] == (57, 57) for t in seen)
    offsets = set()
    for i, hr in enumerate(batches):  # D's real half is the HR batch's window at that step's offset
        real = seen[2 * i][0][: hr.shape[0]]
        found = [(y, x) for y in range(8) for x in range(8) if torch.equal(real, hr[..., y : y + 57, x : x + 57])]
        assert found, i
        offsets.add(found[0])
    assert len(offsets) > 1  # the window moves
    _gan_run_recording(cfg, tmp_path / "b", "d")
    a, b = _weights(tmp_path / "a" / "final.safetensors"), _weights(tmp_path / "b" / "final.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_perceptual_shift_crops_output_and_target_through_one_moving_window(tmp_path, photo_dir, shared_weights):
    cfg = _gan_config(tmp_path, photo_dir, 'loss.perceptual="squeezenet"', "loss.perceptual_shift=5",
                      f'loss.perceptual_weights_path="{shared_weights}"', "disc.num_feat=8", "train.iterations=4",
                      "data.batch_size=2")  # fmt: skip
    pairs, batches = _gan_run_recording(cfg, tmp_path / "gan", "perceptual")
    offsets = set()
    for (sr, target), hr in zip(pairs, batches, strict=True):
        assert sr.shape == target.shape and sr.shape[-2:] == (59, 59)
        found = [(y, x) for y in range(6) for x in range(6) if torch.equal(target, hr[..., y : y + 59, x : x + 59])]
        assert found
        offsets.add(found[0])
    assert len(offsets) > 1


def test_gan_stage_updates_both_networks(tmp_path, photo_dir, shared_weights):
    psnr = train(load_config(TINY, [f'data.train_dirs=["{photo_dir}"]', "train.iterations=4"]), tmp_path / "psnr",
                 )  # fmt: skip
    from srgan.train.sr_trainer import Trainer

    cfg = load_config(TINY, [
        f'data.train_dirs=["{photo_dir}"]', 'train.stage="gan"', f'train.init_from="{psnr["weights"]}"',
        'loss.perceptual="squeezenet"', f'loss.perceptual_weights_path="{shared_weights}"',
        "loss.perceptual_weight=0.1",
        'disc.arch="patchgan"', "disc.num_feat=16", "disc.antialias=true", "train.iterations=3", "data.patch_size=64",
    ])  # fmt: skip
    trainer = Trainer(cfg, tmp_path / "gan")
    from srgan.archs.discriminator import BlurPool

    assert any(isinstance(m, BlurPool) for m in trainer.d.modules())  # the shipped GAN recipes' discriminator
    g0 = {k: v.clone() for k, v in trainer.g.state_dict().items()}
    d0 = {k: v.clone() for k, v in trainer.d.state_dict().items()}
    init = _weights(Path(psnr["weights"]))
    assert all(torch.equal(g0[k], init[k]) for k in init)  # started from the psnr weights
    trainer.run()
    logs = [__import__("json").loads(ln) for ln in (tmp_path / "gan" / "metrics.jsonl").read_text().splitlines()]
    last = logs[-1]
    for key in ("l_pix", "l_percep", "l_adv", "l_d"):
        assert np.isfinite(last[key]) and last[key] != 0, key
    assert any(not torch.equal(g0[k], v) for k, v in trainer.g.state_dict().items())
    assert any(not torch.equal(d0[k], v) for k, v in trainer.d.state_dict().items())


def test_init_from_another_upsampler_loads_the_body_only_when_asked(tmp_path, photo_dir):
    """train.init_strict=false (BasicSR's strict_load_g): a light-upsampler run's body under a resize-conv upsampler."""
    from srgan.train.sr_trainer import Trainer

    psnr = train(load_config(TINY, [f'data.train_dirs=["{photo_dir}"]', "train.iterations=2"]), tmp_path / "psnr")
    args = [f'data.train_dirs=["{photo_dir}"]', f'train.init_from="{psnr["weights"]}"', 'model.upsampler="nearest"']
    with pytest.raises(ModelError, match="weights do not fit the configured generator"):
        Trainer(load_config(TINY, args), tmp_path / "strict")
    trainer = Trainer(load_config(TINY, [*args, "train.init_strict=false"]), tmp_path / "loose")
    init, got = _weights(Path(psnr["weights"])), trainer.g.state_dict()
    assert all(torch.equal(got[k], init[k]) for k in init if k.startswith(("head.", "body")))
    assert not any(k.startswith("upsample") and k in init for k in got)  # the new upsampler kept its own init
    assert all(torch.equal(v, got[k]) for k, v in trainer.ema.state_dict().items())  # the EMA starts there too
    other = tmp_path / "other.safetensors"
    from safetensors.torch import save_file

    save_file({"unrelated.weight": torch.zeros(2)}, str(other))
    with pytest.raises(ModelError, match="no tensor fits the configured generator"):
        Trainer(load_config(TINY, [*args, f'train.init_from="{other}"', "train.init_strict=false"]), tmp_path / "x")


def test_gan_stage_with_unet_discriminator_and_grid_loss(tmp_path, photo_dir):
    cfg = _gan_config(tmp_path, photo_dir, 'disc.arch="unet"', "disc.num_feat=8", "loss.grid_weight=0.5",
                      "train.iterations=2", "train.log_every=1")  # fmt: skip
    train(cfg, tmp_path / "gan")
    last = [__import__("json").loads(ln) for ln in (tmp_path / "gan" / "metrics.jsonl").read_text().splitlines()][-1]
    assert all(np.isfinite(last[k]) for k in ("l_pix", "l_grid", "l_adv", "l_d")) and last["l_grid"] >= 0


def test_gan_stage_with_the_artifact_loss_against_its_ema(tmp_path, photo_dir):
    """loss.artifact_weight (LDL): the G step adds it (logged); without an EMA generator the config is refused."""
    cfg = _gan_config(tmp_path, photo_dir, "disc.num_feat=8", "loss.artifact_weight=1.0", "train.iterations=3",
                      "train.log_every=1")  # fmt: skip
    train(cfg, tmp_path / "gan")
    logs = [__import__("json").loads(ln) for ln in (tmp_path / "gan" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in logs if "l_artifact" in r]
    assert len(steps) == 3 and all(np.isfinite(r["l_artifact"]) and r["l_artifact"] >= 0 for r in steps)
    assert any(r["l_artifact"] > 0 for r in steps[1:])  # once G moves off its EMA, some pixels err more than it
    with pytest.raises(ConfigError, match="needs the EMA generator"):
        load_config(TINY, [f'data.train_dirs=["{photo_dir}"]', "loss.artifact_weight=1.0", "train.ema_decay=0"])


def test_a_multistep_run_stopped_early_by_train_iterations_is_the_longer_run_at_that_step(tmp_path, photo_dir):
    """The shipped GAN recipes ship a snapshot from the middle of a longer run and reproduce it with
    ``--set train.iterations=N``: with a multistep schedule nothing the run does may depend on its length."""
    from srgan.train.sr_trainer import Trainer

    common = ["disc.num_feat=8", "loss.lowpass_weight=5.0", 'train.scheduler="multistep"', "train.milestones=[2, 6]",
              "data.batch_size=2"]  # fmt: skip
    cfg_short = _gan_config(tmp_path, photo_dir, *common, "train.iterations=4")
    cfg_long = dataclasses.replace(cfg_short, train=dataclasses.replace(cfg_short.train, iterations=8))
    short = Trainer(cfg_short, tmp_path / "short")
    short.run()
    long = Trainer(cfg_long, tmp_path / "long")
    at_4: dict[str, torch.Tensor] = {}
    after_step = long.after_step

    def state(trainer: Trainer) -> dict[str, torch.Tensor]:  # the generator and its EMA, copied
        nets = {"g": trainer.g, "ema": trainer.ema}
        return {f"{n}.{k}": v.clone() for n, net in nets.items() for k, v in net.state_dict().items()}  # type: ignore[union-attr]

    def keep_step_4() -> None:
        after_step()
        if long.iteration == 4:
            at_4.update(state(long))

    long.after_step = keep_step_4  # type: ignore[method-assign]
    long.run()
    assert long.iteration == 8 and at_4
    ours = state(short)
    assert ours.keys() == at_4.keys()
    assert all(torch.equal(ours[k], at_4[k]) for k in ours)
    assert any(not torch.equal(v, long.g.state_dict()[k[2:]]) for k, v in at_4.items() if k.startswith("g."))


def test_gan_stage_with_the_lowpass_loss(tmp_path, photo_dir):
    """loss.lowpass_weight: the G step adds L1 on blurred output and target (logged); a sigma too wide is refused."""
    cfg = _gan_config(tmp_path, photo_dir, "disc.num_feat=8", "loss.lowpass_weight=5.0", "loss.lowpass_sigma=2.0",
                      "train.iterations=2", "train.log_every=1")  # fmt: skip
    train(cfg, tmp_path / "gan")
    logs = [__import__("json").loads(ln) for ln in (tmp_path / "gan" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in logs if "l_lowpass" in r]
    assert len(steps) == 2 and all(0 < r["l_lowpass"] < 5 * r["l_pix"] for r in steps)  # blurring shrinks the error
    with pytest.raises(ConfigError, match=r"loss\.lowpass_sigma must be in"):
        load_config(TINY, [f'data.train_dirs=["{photo_dir}"]', "loss.lowpass_weight=1.0", "loss.lowpass_sigma=8.0"])


# --------------------------------------------------------------------------- bad configs


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.iterationz=5", "unknown config key train.iterationz"),
        ('train.iterations="many"', "train.iterations: expected int"),
        ('data.train_dirs=["/nonexistent/folder"]', "does not exist"),
        ("model.scale=5", "model.scale must be one of 2, 3, 4"),
        ("extra.key=1", "unknown config section [extra]"),
    ],
)
def test_bad_config_stops_with_one_line(tmp_path, photo_dir, capsys, override, message):
    code = main(["train", str(TINY), "--output", str(tmp_path / "run"), *_tiny_args(photo_dir), "--set", override])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "run").exists()


def test_empty_folder_and_small_images_refused(tmp_path, photo_dir, astronaut, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["train", str(TINY), "--output", str(tmp_path / "r1"), *_tiny_args(empty)]) == 2
    assert "holds no images" in capsys.readouterr().err
    small = tmp_path / "small"
    write_image(small / "tiny.png", astronaut[:20, :20])
    assert main(["train", str(TINY), "--output", str(tmp_path / "r2"), *_tiny_args(small)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "smaller than the 32px HR patch" in err[0]
    assert not (tmp_path / "r2" / "checkpoints").exists()


@pytest.mark.parametrize(
    "name",
    sorted(p.stem for p in (REPO / "srgan" / "configs").glob("*.toml"))
    + sorted(str(p.relative_to(REPO)) for p in (REPO / "benchmarks" / "configs").glob("*.toml"))
    + ["tests/configs/tiny.toml"],
)
def test_shipped_configs_are_valid(shared_data, name, monkeypatch):
    monkeypatch.chdir(REPO)  # configs name ../shared/data relative to the repository root
    if not (REPO.parent / "shared" / "data").is_dir():
        pytest.skip("configs point at ../shared/data beside the repository")
    cfg = load_config(config_path(name))  # a shipped recipe's name, or a file
    assert cfg.model.arch == "srresnet"
