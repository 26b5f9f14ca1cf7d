"""The downstream study's table: paired differences to real-only, the sanity line, the verdict and its Markdown."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from srgan.augment.study_shift import shift_line

if TYPE_CHECKING:
    from srgan.augment.study_arms import Arm
    from srgan.augment.study_protocol import Protocol
    from srgan.augment.study_runs import ArmResult, Run

__all__ = ["compare", "study_lines", "summarize", "where_trained"]


def compare(baseline: np.ndarray, other: np.ndarray) -> dict[str, float]:
    """Paired difference (other - baseline) over seeds: mean, std and a 95 % t confidence interval."""
    d = other - baseline
    n = len(d)
    mean = float(d.mean())
    if n < 2:
        return {"mean": mean, "std": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "n": n}
    sd = float(d.std(ddof=1))
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return {"mean": mean, "std": sd, "ci_low": mean - half, "ci_high": mean + half, "n": n}


def _helped(c: dict[str, float]) -> bool:
    """The gain's interval lies above zero (one seed: its mean is positive)."""
    return c["ci_low"] > 0 if not math.isnan(c["ci_low"]) else c["mean"] > 0


def _interval(c: dict[str, float]) -> str:
    return f"{100 * c['mean']:+.2f} points (95 % CI {100 * c['ci_low']:+.2f} to {100 * c['ci_high']:+.2f})"


def where_trained(run: Run) -> str:
    """Where a run trained, with its CPU threads when recorded: ``cpu, 1 thread``."""
    if run.device != "cpu" or not run.threads:
        return str(run.device)
    return f"cpu, {run.threads} thread{'s' if run.threads != 1 else ''}"


#: the sanity line after its state (``summarize``'s ``sanity_state``)
SANITY = {
    "not checked": "the classical arm was not run, so nothing shows the classifier is not underfit",
    "ok": "classical augmentation beats real-only",
    "ok, drawn anew": "classical augmentation drawn anew for every batch, as the field trains with it, beats "
    "real-only, so the classifier is not underfit; the fixed copies (one per image, as `srgan augment` writes them) "
    "do not",
    "not underfit": "classical augmentation does not beat real-only, but real-only has stopped gaining from more "
    "epochs (the convergence line), so this is what the classical images do to a converged classifier",
    "flag": "classical augmentation does not beat real-only; on CIFAR-like data that means the classifier is "
    "underfit or the budget too small, so read the synthetic rows with care",
}


def summarize(results: dict[str, ArmResult], real_arm: Arm, proto: Protocol, seeds: int,
              shift: dict[str, float | int] | None = None) -> dict[str, Any]:  # fmt: skip
    """The study's table, its sanity and convergence lines and its verdict from every arm's runs.

    ``shift`` (:func:`~srgan.augment.study_shift.copy_shift`): how a real-only classifier sees the classical copies
    of the validation images; the sanity line quotes it when classical augmentation does not beat real-only.
    """
    base = results[real_arm.name].test()
    table: dict[str, Any] = {}
    for name, r in results.items():
        val, test_acc = np.array([x.val_accuracy for x in r.runs]), r.test()
        table[name] = {
            "key": r.arm.key,
            "test_mean": float(test_acc.mean()), "test_std": float(test_acc.std(ddof=1)) if seeds > 1 else 0.0,
            "val_mean": float(val.mean()), "vs_real": compare(base, test_acc), "n_added": r.n_extra,
            "epochs_chosen": [x.epoch for x in r.runs], "epochs_run": [x.epochs_run for x in r.runs],
            "seconds": float(sum(x.seconds for x in r.runs)), "runs": test_acc.tolist(),
            "devices": sorted({where_trained(x) for x in r.runs}),
        }  # fmt: skip
    # synthetic recipes alone: a combination with classical augmentation is read against the classical arm instead
    synthetic = [n for n, r in results.items()
                 if "synthetic" in r.arm.extra and "classical" not in r.arm.extra and r.arm.online is None]  # fmt: skip
    chosen = max(synthetic, key=lambda n: table[n]["val_mean"]) if synthetic else None
    out: dict[str, Any] = {"arms": table, "seeds": seeds, "protocol": proto.__dict__, "chosen_on_validation": chosen}
    # float arithmetic differs between processors: a seed's runs on two of them share their seeds, not their sums
    out["hardware"] = dict(Counter(x.hardware or "not recorded" for r in results.values() for x in r.runs))
    _convergence(out, results, real_arm, proto.epochs)
    if (resolution := _resolution({n: a for n, a in table.items() if n != real_arm.name})) is not None:
        out["resolution"] = resolution
    classical = next((n for n, r in results.items() if r.arm.key == "classical"), None)
    gain = table[classical]["vs_real"]["mean"] if classical is not None else math.nan
    online = [n for n, r in results.items() if r.arm.online is not None and not r.arm.extra]
    # the line looks for an underfit classifier: one that more epochs no longer improve is not, nor one that the
    # same transforms, drawn anew for every batch, improve
    state = ("not checked" if classical is None else "ok" if gain > 0 else
             "ok, drawn anew" if any(table[n]["vs_real"]["mean"] > 0 for n in online) else
             "not underfit" if out["convergence"].startswith("ok") else "flag")  # fmt: skip
    out["sanity_state"], out["sanity"] = state, f"{state}: {SANITY[state]}"
    control = next((n for n, r in results.items() if r.arm.epoch_scale > 1 and r.arm is not real_arm), None)
    # a recipe whose mean gain is at most this may owe it to the longer schedule (no control: nothing to owe)
    control_gain = table[control]["vs_real"]["mean"] if control is not None else -math.inf
    if control is not None:
        scale, ctrl = results[control].arm.epoch_scale, results[control].test()
        added = [n for n, r in results.items() if r.arm.extra or r.arm.online]
        for n in added:  # paired as the differences to real-only are: seed k shares its split and initialisation
            table[n]["vs_control"] = compare(ctrl, results[n].test())
        out["steps_control"] = (
            f"real-only over {scale}x the epochs changes test accuracy by {_interval(table[control]['vs_real'])}; an "
            f"arm whose real images fill 1/{scale} of each batch takes as many steps, so a gain no larger than this "
            "may be the longer schedule's, not the added images'"
            + ("; each arm against it, paired: " + "; ".join(f"{n} {_interval(table[n]['vs_control'])}"
                                                             for n in added) if added else "")
        )  # fmt: skip
    best = table[chosen]["val_mean"] if chosen is not None else math.nan
    ties = [n for n in synthetic if math.isclose(table[n]["val_mean"], best, abs_tol=1e-9)]
    if len(ties) > 1:
        # validation cannot tell these recipes apart: naming the first in the study's order would look like a
        # choice, and naming the best on test would choose on test, so the verdict reports every one of them
        out["validation_ties"], out["chosen_on_validation"] = ties, None
        above = [n for n in ties if _helped(table[n]["vs_real"])]
        out["verdict"] = (
            f"validation ties {len(ties)} synthetic recipes at {100 * best:.2f} %, so it chooses "
            f"none of them; their differences to real-only: "
            + "; ".join(f"{n} {_interval(table[n]['vs_real'])}" for n in ties)
            + (": synthetic data helps, every tied recipe's interval is above zero" if len(above) == len(ties) else
               f": no gain shown from synthetic data ({len(above)} of {len(ties)} intervals above zero)")
        )  # fmt: skip
        if control is not None:
            slower = sum(table[n]["vs_real"]["mean"] <= control_gain for n in ties)
            out["verdict"] += f" ({slower} of them gain no more than the real-only control over more epochs)"
    elif chosen is not None:
        c = table[chosen]["vs_real"]
        out["verdict"] = f"{chosen} (chosen on validation) changes test accuracy by {_interval(c)}: " + (
            "synthetic data helps" if _helped(c) else "no gain shown from synthetic data"
        )
        if control is not None:  # paired against the control: does the gain outlast the longer schedule?
            vc = table[chosen]["vs_control"]
            beyond = "a gain" if _helped(vc) else "no gain shown"
            out["verdict"] += (
                f"; against real-only over more epochs, {_interval(vc)}: {beyond} beyond the longer schedule's"
            )
    if classical is not None:
        if combos := [n for n, r in results.items() if {"classical", "synthetic"} <= set(r.arm.extra)]:
            out["combination_chosen_on_validation"], out["on_classical"] = _on_top(table, results, classical, combos,
                                                                                   "classical")  # fmt: skip
        if control is not None:  # the classical arm's batches are half added images: as many steps as the control
            out["sanity"] += f" (against real-only over more epochs, {_interval(table[classical]['vs_control'])})"
        if shift is not None:
            out["classical_shift"] = shift
            if state != "ok":
                out["sanity"] += "; " + shift_line(shift)
        for n in online:  # the same kind of images drawn anew each batch, not one fixed copy of each
            out["sanity"] += f"; {n}: {_interval(table[n]['vs_real'])}"
    tops: dict[str, tuple[str | None, str]] = {}
    for n in online:  # synthetic images beside a preset drawn anew, read against that preset alone (a line each)
        if mixes := [m for m, r in results.items() if r.arm.extra and r.arm.online == results[n].arm.online]:
            tops[n] = _on_top(table, results, n, mixes, "online")
    if tops:
        out["online_combination_chosen_on_validation"] = {n: pick for n, (pick, _) in tops.items()}
        out["on_online"] = ". ".join(line for _, line in tops.values())
    if chosen is not None and state in ("not checked", "flag"):
        why = "was not run" if state == "not checked" else "failed"
        out["verdict"] += f" (provisional: the sanity check {why})"
    if "verdict" in out and out["convergence"].startswith("flag"):
        out["verdict"] += " (against a real-only baseline that is not converged: see the convergence line)"
    return out


#: the gain the resolution line asks about: a point of test accuracy (issue 20's goal for synthetic data)
RESOLVE = 0.01


def _resolution(arms: dict[str, Any]) -> str | None:
    """How large a gain the study's seeds can show: the typical spread of the paired differences to real-only
    (the median over the arms of their standard deviations), the half-width of a 95 % interval at that spread,
    and how many seeds would put an interval around a mean gain of :data:`RESOLVE` above zero. None with
    fewer than two seeds of any arm."""
    diffs = [a["vs_real"] for a in arms.values() if a["vs_real"]["n"] >= 2]
    if not diffs:
        return None
    sds = [d["std"] for d in diffs]
    sd, n = float(np.median(sds)), max(d["n"] for d in diffs)
    need = next(k for k in itertools.count(2) if stats.t.ppf(0.975, k - 1) * sd / math.sqrt(k) < RESOLVE)
    return (
        f"the paired differences to real-only vary by {100 * sd:.2f} points from seed to seed (the median standard "
        f"deviation of {len(sds)} arms, {100 * min(sds):.2f} to {100 * max(sds):.2f}); at that spread a 95 % interval "
        f"over {n} seeds reaches {100 * stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n):.2f} points either side of "
        f"its mean; a mean gain of {100 * RESOLVE:.0f} point would have its interval above zero with {need} seeds or "
        "more"
    )


#: a longer real-only schedule that still gains this much validation accuracy (mean over seeds) leaves the
#: baseline learning at the resolution the study asks about (a gain of a point from added data)
CONVERGED_GAIN = 0.005


def _convergence(out: dict[str, Any], results: dict[str, ArmResult], real_arm: Arm, epochs: int) -> None:
    """Whether real-only has stopped gaining from more epochs, read on validation (never test) along the real-only
    arms over more epochs (``real-x2``, ``--longer-controls``): the shortest schedule that no longer one beats by
    :data:`CONVERGED_GAIN` is where the baseline converges; the test differences are listed beside."""
    longer = [r for r in results.values() if r.arm is not real_arm and not r.arm.extra and r.arm.epoch_scale > 1]
    chain = [results[real_arm.name], *sorted(longer, key=lambda r: r.arm.epoch_scale)]
    if len(chain) == 1:
        out["convergence"] = "not checked: no real-only run over more epochs (real-x2, --longer-controls K)"
        return
    steps = []
    for short, long in itertools.pairwise(chain):
        val, test = compare(short.val(), long.val()), compare(short.test(), long.test())
        a, b = epochs * short.arm.epoch_scale, epochs * long.arm.epoch_scale
        steps.append(f"{a} -> {b} epochs: validation {_interval(val)}, test {_interval(test)}")
    # settled: the shortest schedule that no longer one beats by the margin (not only the next: noise can dip)
    settled = next((epochs * r.arm.epoch_scale for i, r in enumerate(chain[:-1])
                    if all(compare(r.val(), s.val())["mean"] < CONVERGED_GAIN for s in chain[i + 1 :])),
                   None)  # fmt: skip
    shown = "; ".join(steps)
    limit = f"{100 * CONVERGED_GAIN:g} points"
    if all(r.val().min() == 1.0 for r in chain):
        out["convergence"] = (f"not decided: real-only is at 100 % on validation at every schedule, so validation "
                              f"cannot tell whether more epochs still help ({shown})")  # fmt: skip
    elif settled == epochs:
        out["convergence"] = f"ok: real-only gains less than {limit} on validation from more epochs ({shown})"
    elif settled is not None:
        out["convergence"] = (f"flag: real-only still gains from more epochs than the study's {epochs}; it stops "
                              f"gaining (less than {limit} on validation) at {settled} ({shown}); raise "
                              "--epochs")  # fmt: skip
    else:
        out["convergence"] = (f"flag: real-only still gains at least {limit} on validation at every longer schedule "
                              f"run ({shown}): the baseline is not converged at the study's {epochs} epochs; raise "
                              "--epochs")  # fmt: skip


def _on_top(table: dict[str, Any], results: dict[str, ArmResult], base: str, combos: list[str],
            kind: str) -> tuple[str | None, str]:  # fmt: skip
    """What synthetic images add to classical augmentation: each combination against the arm it adds them to
    (``base``), paired (stored as ``vs_KIND`` in its row); the combination validation chooses (None on a tie) and
    the line. ``kind``: ``"classical"`` (the fixed copies) or ``"online"`` (the preset drawn anew).

    A combination can beat real-only on the classical images' gain alone, so its difference to real-only says
    nothing about the synthetic ones; this line does. Validation chooses among the combinations, as above.
    """
    ref = results[base].test()
    for n in combos:
        table[n][f"vs_{kind}"] = compare(ref, results[n].test())
    top = max(table[n]["val_mean"] for n in combos)
    picks = [n for n in combos if math.isclose(table[n]["val_mean"], top, abs_tol=1e-9)]
    pick = picks[0] if len(picks) == 1 else None
    what = "classical augmentation" + ("" if kind == "classical" else " drawn anew each batch")
    return pick, (
        f"against {base}, paired: " + "; ".join(f"{n} {_interval(table[n][f'vs_{kind}'])}" for n in combos)
        + ("" if len(combos) == 1 else f"; validation chooses {pick}" if pick else
           f"; validation ties {len(picks)} of them, so none is chosen")
        + (f": synthetic images add to {what}" if pick and _helped(table[pick][f"vs_{kind}"]) else
           f": no gain shown from synthetic images on top of {what}")
    )  # fmt: skip


#: how each ``Protocol.selection`` breaks ties in validation accuracy, as the report says it
_TIES = {"accuracy": "best accuracy, the first such epoch", "accuracy+loss": "best accuracy, ties to the lower loss",
         "accuracy+last": "best accuracy, ties to the later epoch"}  # fmt: skip


def study_lines(result: dict[str, Any]) -> list[str]:
    """The report's Markdown section for a finished study: protocol, table, sanity, steps control, verdict."""
    st, p = result["study"], result["study"]["protocol"]
    extras = (f", at most {p['budget'] / 60:.0f} min a run" if p.get("budget") else "") + (
        ", in channels-last layout" if p.get("channels_last") else ""
    )
    lines = [
        "", f"## Downstream study: ResNet-20, {st['seeds']} seeds, test set {result['n_test']} real images", "",
        f"SGD (Nesterov, lr {p['lr']}, cosine) for {p['epochs']} epochs of the real images{extras}; padded random "
        f"crops{', flips' if p['flip'] else ''}; the epoch is chosen on a {100 * p['val_fraction']:.0f} % validation "
        f"split of the real training images ({_TIES.get(p.get('selection', 'accuracy'), p.get('selection'))}), "
        "the test folder scores the chosen weights only. Seed k of every arm "
        "shares its split, initialisation and batch order, so differences to real-only are paired.", "",
        *([f"Validation split: {result['gan_hold_out']}.", ""] if "gan_hold_out" in result else []),
        "| training data | key | added images | validation | test accuracy | vs real only (95 % CI) | epochs chosen "
        "| training time, all seeds |",
        "|---|---|---:|---:|---:|---:|---|---:|",
    ]  # fmt: skip
    for name, a in st["arms"].items():
        c = a["vs_real"]
        ci = f"{100 * c['mean']:+.2f} ({100 * c['ci_low']:+.2f} to {100 * c['ci_high']:+.2f})" if name != "real" else ""
        where = "; ".join(a.get("devices", ["cpu"]))
        lines.append(f"| {name} | {a.get('key', '')} | {a['n_added']} | {100 * a['val_mean']:.2f} % | "
                     f"{100 * a['test_mean']:.2f} ± {100 * a['test_std']:.2f} % | {ci} | {a['epochs_chosen']} | "
                     f"{a['seconds']:.0f} s ({where}) |")  # fmt: skip
    if st.get("hardware"):
        lines += ["", "Processors (runs): " + "; ".join(f"{k} ({n})" for k, n in sorted(st["hardware"].items()))
                  + (". A seed's runs on different processors start alike but round differently, so they are "
                     "paired by seed, not bitwise" if len(st["hardware"]) > 1 else "") + "."]  # fmt: skip
    if "sanity" in st:
        lines += ["", f"Sanity: {st['sanity']}."]
    if "convergence" in st:
        lines += ["", f"Convergence: {st['convergence']}."]
    if "resolution" in st:
        lines += ["", f"Resolution: {st['resolution']}."]
    if "on_classical" in st:
        lines += ["", f"On top of classical augmentation: {st['on_classical']}."]
    if "on_online" in st:
        lines += ["", f"On top of classical augmentation drawn anew each batch: {st['on_online']}."]
    if "steps_control" in st:
        lines += ["", f"Steps: {st['steps_control']}."]
    lines += ["", f"Verdict: {st.get('verdict', 'no synthetic recipe was run')}."]
    return lines
