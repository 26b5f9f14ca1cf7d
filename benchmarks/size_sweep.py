"""Which generator size gives the best Set5 PSNR for the same CPU time? (equal wall-clock budget)

    python benchmarks/size_sweep.py [--minutes 10] [--arms 32x8 48x12 64x16] [--threads 2] [--plan-only | --report-only]

Each arm trains the srresnet-x4 recipe (L1, T91 + BSD200, batch 16 x 128px, cosine
schedule, no EMA) at one size for the number of iterations that fills the same wall-clock
budget on this machine: the throughput is probed once with 2 threads on a quiet machine and
recorded in the arm's plan.json (a later budget reuses the rate recorded in benchmarks/results),
so the iteration count stays fixed however the run is interrupted. Arms live in
runs/size_sweep/<minutes>m/<arm>/ and resume from their checkpoint when the script is rerun
(long budgets span several sessions; arms may run one at a time, or side by side with
--threads 1). Set5 is scored along the way (the curve) and at the end.
Writes benchmarks/results/size_sweep_<minutes>m.md and .json with every finished arm.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from common import REPO, RESULTS, command_line, data_dir, machine, machine_markdown

from srgan.archs import SRResNet
from srgan.evaluation import evaluate, model_method
from srgan.fsutil import atomic_write_bytes
from srgan.train import load_config, train
from srgan.train.sr_trainer import Trainer, TrainingInterrupted

ARMS = {"32x8": (32, 8), "48x12": (48, 12), "64x16": (64, 16)}
CONFIG = REPO / "srgan" / "configs" / "srresnet-x4.toml"


def _sets(feat: int, blocks: int) -> list[str]:
    return [f"model.num_feat={feat}", f"model.num_blocks={blocks}", "train.ema_decay=0", "train.warmup=50"]


def _probe(feat: int, blocks: int, work: Path) -> float:
    """Iterations per second with 2 threads (a few steps after one warm-up step)."""
    cfg = load_config(CONFIG, [*_sets(feat, blocks), 'val.dir=""', "train.threads=2"])
    probe = Trainer(cfg, work / "probe")
    loader = iter(torch.utils.data.DataLoader(probe.dataset, batch_size=16, sampler=range(0, 16 * 8)))
    probe.train_step(*next(loader))
    t0 = time.perf_counter()
    for _ in range(6):
        probe.train_step(*next(loader))
    return 6 / (time.perf_counter() - t0)


def _recorded_rate(name: str) -> float | None:
    """The arm's throughput as probed for an earlier budget (benchmarks/results/size_sweep_*.json), if any.

    Reusing it keeps budgets comparable across sweeps even when a later session runs on a faster or
    slower machine than the one the first probe saw.
    """
    for path in sorted(RESULTS.glob("size_sweep_*.json")):
        for row in json.loads(path.read_text()).get("rows", []):
            if row.get("arm") == name:
                return float(row["it_per_s"])
    return None


def _plan(name: str, minutes: float, work: Path) -> dict[str, float]:
    """The arm's fixed plan: read from plan.json, or probed now (on a quiet machine) and recorded."""
    plan_path = work / name / "plan.json"
    if plan_path.is_file():
        return json.loads(plan_path.read_text())
    rate = _recorded_rate(name) or _probe(*ARMS[name], work / name)
    plan = {"it_per_s": rate, "iterations": max(100, int(rate * minutes * 60))}
    plan_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(plan_path, json.dumps(plan).encode())
    return plan


def run_arm(name: str, minutes: float, work: Path, threads: int, curve_points: int) -> dict[str, object]:
    feat, blocks = ARMS[name]
    arm = work / name
    plan = _plan(name, minutes, work)
    iters = int(plan["iterations"])
    val_every = max(100, iters // curve_points)
    cfg = load_config(CONFIG, [*_sets(feat, blocks), f"train.iterations={iters}", f"train.threads={threads}",
                               f"val.dir={json.dumps(str(data_dir() / 'Set5'))}", f"val.every={val_every}",
                               f"train.checkpoint_every={max(100, iters // 40)}"])  # fmt: skip
    resume = (arm / "run" / "checkpoints" / "latest.pt").is_file()
    t0 = time.perf_counter()
    res = train(cfg, arm / "run", resume=resume)
    methods = [model_method(res["weights"], 4, "cpu")]
    scores = {}
    for ds in ("Set5", "Set14"):
        (ev,), _ = evaluate(data_dir() / ds, methods, scale=4)
        scores[ds] = (ev.psnr_y, ev.ssim_y)
    curve = [(r["iteration"], r["val_psnr_y"]) for r in map(json.loads, (arm / "run" / "metrics.jsonl").open())
             if "val_psnr_y" in r]  # fmt: skip
    params = sum(p.numel() for p in SRResNet(scale=4, num_feat=feat, num_blocks=blocks, upsampler="light").parameters())
    return {"arm": name, "num_feat": feat, "num_blocks": blocks, "parameters": params, "it_per_s": plan["it_per_s"],
            "iterations": iters, "seconds_this_run": time.perf_counter() - t0, "set5_psnr_y": scores["Set5"][0],
            "set5_ssim_y": scores["Set5"][1], "set14_psnr_y": scores["Set14"][0], "curve": curve}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=10.0, help="training budget per arm (2 threads, quiet machine)")
    ap.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    ap.add_argument("--threads", type=int, default=2, help="torch threads while training (1 to run arms side by side)")
    ap.add_argument("--curve-points", type=int, default=8, help="Set5 evaluations along each run")
    ap.add_argument("--report-only", action="store_true", help="rewrite the markdown from the json, no training")
    ap.add_argument(
        "--plan-only",
        action="store_true",
        help="probe the arms' throughput now (quiet machine) and record their plans, then stop",
    )
    args = ap.parse_args()
    tag = f"{args.minutes:g}m"
    work = REPO / "runs" / "size_sweep" / tag
    if args.plan_only:
        for name in args.arms:
            print(name, json.dumps(_plan(name, args.minutes, work)), flush=True)
        return
    out_json = RESULTS / f"size_sweep_{tag}.json"
    old = json.loads(out_json.read_text()) if out_json.is_file() else {"rows": []}
    # rows measured by earlier invocations keep the command and date that measured them
    done = {r["arm"]: {"command": old.get("command"), "date": old.get("machine", {}).get("date"), **r}
            for r in old["rows"] if "arm" in r}  # fmt: skip
    if args.report_only:
        if not done:
            raise SystemExit(f"{out_json}: nothing recorded yet")
        _write_report(out_json, args.minutes, old["machine"], done)
        return
    m = machine()
    for name in args.arms:
        try:
            row = run_arm(name, args.minutes, work, args.threads, args.curve_points)
        except TrainingInterrupted:
            raise SystemExit(f"{name}: interrupted, checkpoint saved; rerun the same command to resume") from None
        done[name] = {"command": command_line(), "date": m["date"], **row}
        print(json.dumps(done[name]), flush=True)
    _write_report(out_json, args.minutes, m, done)


def _write_report(out_json: Path, minutes: float, m: dict, done: dict[str, dict]) -> None:
    rows = [done[a] for a in ARMS if a in done]
    commands = list(dict.fromkeys(f"`{r['command']}` ({r['date']})" for r in rows))
    record = {"command": rows[-1]["command"], "machine": m, "minutes": minutes, "rows": rows}
    atomic_write_bytes(out_json, json.dumps(record, indent=2).encode())
    lines = [
        f"# Generator size at equal CPU time ({minutes:g} minutes of 2-thread training each, x4)",
        "",
        "Commands: " + ", then ".join(commands) + "  ",
        f"Machine: {machine_markdown(m)}",
        "",
        "Iterations = probed iterations/s x budget, so every arm gets the same CPU time; no EMA; the cosine",
        "schedule ends at each arm's last iteration. PSNR-Y / SSIM-Y with the basicsr protocol.",
        "",
        "| num_feat x blocks | parameters | iterations/s | iterations | Set5 x4 | Set14 x4 PSNR-Y |",
        "|---|---:|---:|---:|---:|---:|",
        *[f"| {r['num_feat']} x {r['num_blocks']} | {r['parameters']:,} | {r['it_per_s']:.2f} | {r['iterations']} "
          f"| {r['set5_psnr_y']:.2f} / {r['set5_ssim_y']:.4f} | {r['set14_psnr_y']:.2f} |" for r in rows],
        "",
        "Set5 PSNR-Y along the way (iteration: dB):",
        "",
        *[f"- {r['arm']}: " + ", ".join(f"{i}: {p:.2f}" for i, p in r["curve"]) for r in rows],
    ]  # fmt: skip
    atomic_write_bytes(out_json.with_suffix(".md"), ("\n".join(lines) + "\n").encode())
    print("\n".join(lines))


if __name__ == "__main__":
    main()
