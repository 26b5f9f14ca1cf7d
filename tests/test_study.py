"""The augment study's protocol: a validation split from the real images only, filtering, soft labels, seeds."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

import srgan.augment.study as study
from srgan.archs.classifier import class_probs
from srgan.augment.study import Arm, Protocol, compare, filter_by_confidence, run_arm, split_validation
from srgan.data.labelled import ImageSet, load_images
from srgan.errors import ConfigError
from srgan.imageio import write_image

FAST = Protocol(epochs=2, batch=8, val_fraction=0.25)


@pytest.fixture(scope="module")
def sets(tmp_path_factory, astronaut, chelsea, coffee) -> dict[str, ImageSet]:
    """Three classes of real photo crops (real, test, and a stand-in 'synthetic' set), 32 px."""
    import cv2

    root = tmp_path_factory.mktemp("study")
    for split, offset in (("real", 0), ("test", 7), ("synth", 3)):
        for name, img in {"astronaut": astronaut, "cat": chelsea, "coffee": coffee}.items():
            for i in range(8):
                y, x = ((i + offset) * 13) % (img.shape[0] - 96), ((i + offset) * 23) % (img.shape[1] - 96)
                crop = cv2.resize(img[y : y + 96, x : x + 96], (32, 32), interpolation=cv2.INTER_AREA)
                write_image(root / split / name / f"{i:03d}.png", crop)
    return {k: load_images(root / k, 32) for k in ("real", "test", "synth")}


def test_validation_split_is_stratified_disjoint_and_seeded(sets):
    labels = sets["real"].labels
    tr, va = split_validation(labels, 0.25, seed=0)
    assert set(tr.tolist()).isdisjoint(va.tolist()) and sorted(tr.tolist() + va.tolist()) == list(range(len(labels)))
    assert all(int((labels[va] == c).sum()) == 2 for c in range(3))  # a quarter of 8 per class
    assert torch.equal(split_validation(labels, 0.25, 0)[1], va)
    assert not torch.equal(split_validation(labels, 0.25, 1)[1], va)


def test_the_test_folder_is_scored_once_and_never_used_to_choose(sets, monkeypatch):
    seen: list[int] = []
    real_accuracy, real_scores = study.accuracy, study.validation_scores

    def spy(model, x, y):
        seen.append(x.data_ptr())
        return real_accuracy(model, x, y)

    def spy_scores(model, x, y):
        seen.append(x.data_ptr())
        return real_scores(model, x, y)

    monkeypatch.setattr(study, "accuracy", spy)
    monkeypatch.setattr(study, "validation_scores", spy_scores)
    data = {"real": sets["real"]}
    run, _, _ = run_arm(Arm("real"), data, sets["test"], proto=FAST, seed=0)
    test_ptr = sets["test"].images.data_ptr()
    assert seen.count(test_ptr) == 1 and seen[-1] == test_ptr  # epochs were chosen on validation only
    assert len(seen) == FAST.epochs + 1 and 1 <= run.epoch <= FAST.epochs and 0 <= run.test_accuracy <= 1


def test_filtering_keeps_what_the_teacher_recognises(sets):
    torch.manual_seed(0)
    real = sets["real"]
    teacher, _ = study.train((real.images, real.labels), (real.images, real.labels), num_classes=3, proto=FAST, seed=0)
    synth = (sets["synth"].images, sets["synth"].labels)
    probs = class_probs(teacher, synth[0]).gather(1, synth[1][:, None]).flatten()
    t = float(probs.median())
    _, kept_y = filter_by_confidence(teacher, synth, t)
    assert len(kept_y) == int((probs >= t).sum()) and 0 < len(kept_y) < len(synth[1])
    assert len(filter_by_confidence(teacher, synth, 0.0)[1]) == len(synth[1])
    with pytest.raises(ConfigError, match="nothing left to add"):
        run_arm(Arm("f", ("synthetic",), threshold=1.01), {"real": real, "synthetic": sets["synth"]}, sets["test"],
                proto=FAST, seed=0, teacher=teacher)  # fmt: skip


@pytest.fixture
def captured(monkeypatch) -> dict[str, object]:
    """``captured["added"]``: the added images and targets study.train was last given."""
    seen: dict[str, object] = {}
    real_train = study.train

    def spy(*args, **kwargs):
        seen["added"] = kwargs.get("added")
        return real_train(*args, **kwargs)

    monkeypatch.setattr(study, "train", spy)
    return seen


def test_soft_labels_train_towards_the_teachers_probabilities(sets, captured):
    real = sets["real"]
    teacher, _ = study.train((real.images, real.labels), (real.images, real.labels), num_classes=3, proto=FAST, seed=0)
    data = {"real": real, "synthetic": sets["synth"]}
    run_arm(Arm("soft", ("synthetic",), soft_labels=True), data, sets["test"], proto=FAST, seed=0, teacher=teacher)
    targets = captured["added"][1]
    assert targets.shape == (len(sets["synth"].labels), 3)
    torch.testing.assert_close(targets.sum(1), torch.ones(len(targets)))
    assert not torch.equal(targets, torch.nn.functional.one_hot(sets["synth"].labels, 3).float())
    run_arm(Arm("hard", ("synthetic",)), data, sets["test"], proto=FAST, seed=0)
    torch.testing.assert_close(captured["added"][1], torch.nn.functional.one_hot(sets["synth"].labels, 3).float())


def test_a_seed_reproduces_its_run(sets):
    data = {"real": sets["real"], "classical": sets["synth"]}
    a, _, _ = run_arm(Arm("c", ("classical",)), data, sets["test"], proto=FAST, seed=4)
    b, _, _ = run_arm(Arm("c", ("classical",)), data, sets["test"], proto=FAST, seed=4)
    assert (a.val_accuracy, a.test_accuracy, a.epoch) == (b.val_accuracy, b.test_accuracy, b.epoch)


def test_pretraining_counts_both_stages_in_its_time(sets, monkeypatch):
    stages: list[float] = []
    real_train = study.train

    def timed(*args, **kwargs):
        model, run = real_train(*args, **kwargs)
        stages.append(run.seconds)
        return model, run

    monkeypatch.setattr(study, "train", timed)
    data = {"real": sets["real"], "synthetic": sets["synth"]}
    run, _, _ = run_arm(Arm("pre", ("synthetic",), pretrain=True), data, sets["test"], proto=FAST, seed=0)
    assert len(stages) == 2 and run.seconds == pytest.approx(sum(stages)) and run.seconds > stages[0]


def test_paired_comparison_interval():
    base = np.array([0.60, 0.62, 0.61])
    other = base + np.array([0.02, 0.01, 0.03])
    c = compare(base, other)
    assert c["mean"] == pytest.approx(0.02) and c["std"] == pytest.approx(0.01)
    assert c["ci_low"] == pytest.approx(0.02 - 4.302653 * 0.01 / np.sqrt(3), abs=1e-5) and c["ci_high"] > 0.04


def test_study_runs_every_arm_and_chooses_on_validation(sets):
    from srgan.augment.study import default_arms, run_study

    data = {"real": sets["real"], "synthetic": sets["synth"], "classical": sets["synth"]}
    arms = default_arms(has_classical=True, thresholds=(0.0,))
    res = run_study(data, sets["test"], proto=FAST, seeds=2, arms=arms)
    assert list(res["arms"]) == [a.name for a in arms]
    synth = [a.name for a in arms if a.extra == ("synthetic",)]
    named = res.get("validation_ties", [res["chosen_on_validation"]])
    assert all(res["arms"][n]["val_mean"] == max(res["arms"][s]["val_mean"] for s in synth) for n in named)
    assert res["arms"]["real"]["vs_real"]["mean"] == 0 and "sanity" in res and "verdict" in res
    assert all(len(v["runs"]) == 2 for v in res["arms"].values())
    assert res["classical_shift"]["seed"] == 0  # seed 0's teacher read the classical copies of its validation images


def test_a_real_only_classifier_scores_the_classical_copies_of_the_validation_images_only(sets):
    from srgan.augment.study_shift import copy_shift

    class Reader(torch.nn.Module):  # reads the class the test wrote into each image's first value
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.one_hot((x[:, 0, 0, 0] * 10).round().long() % 3, 3).float() + self.w

    real = sets["real"]
    images = real.images.clone()
    images[:, 0, 0, 0] = real.labels / 10
    val = torch.tensor([0, 9, 17, 20])
    images[17, 0, 0, 0] = (real.labels[17] + 1) / 10  # one validation image it gets wrong
    real = ImageSet(images, real.labels, real.classes, names=real.names)
    picks, names, marks = [], [], []
    for i, right in (
        (0, True),
        (0, False),
        (9, True),
        (9, False),
        (17, True),
        (17, False),
        (20, True),
        (20, False),
        (1, False),
        (2, False),
    ):  # copies of training images 1 and 2 (all wrong) do not count
        picks.append(i)
        names.append(f"{real.names[i]}_aug{len(names):03d}")
        marks.append((real.labels[i] + (0 if right else 1)) / 10)  # fmt: skip
    copies = ImageSet(images[picks].clone(), real.labels[picks], real.classes, names=names)
    copies.images[:, 0, 0, 0] = torch.stack(marks)
    shift = copy_shift(Reader(), real, copies, val, seed=3)
    assert shift == {"seed": 3, "sources": 4, "copies": 8, "source_accuracy": 0.75, "copy_accuracy": 0.5}
    assert copy_shift(Reader(), real, copies, torch.tensor([5, 6]), seed=3) is None  # no copy of these


def test_a_validation_tie_chooses_no_recipe_and_the_verdict_names_every_tied_one():
    from srgan.augment.study import ArmResult, Run
    from srgan.augment.study_summary import summarize

    def result(arm: Arm, val: list[float], test: list[float]) -> ArmResult:
        return ArmResult(arm, [Run(v, t, 10, 10, 1.0) for v, t in zip(val, test, strict=True)])

    real = Arm("real")
    res = {
        "real": result(real, [1, 1, 1], [0.95, 0.96, 0.95]),
        "plain": result(Arm("plain", ("synthetic",)), [1, 1, 1], [0.97, 0.975, 0.972]),
        "soft": result(Arm("soft", ("synthetic",), soft_labels=True), [1, 1, 1], [0.94, 0.96, 0.955]),
        "filtered": result(Arm("filtered", ("synthetic",), threshold=0.9), [0.98, 1, 1], [0.99, 0.99, 0.99]),
    }
    tied = summarize(res, real, Protocol(), 3)
    assert tied["chosen_on_validation"] is None and tied["validation_ties"] == ["plain", "soft"]
    assert "chooses none of them" in tied["verdict"] and "1 of 2 intervals above zero" in tied["verdict"]
    assert "filtered" not in tied["verdict"]  # its test score is the best, but validation ranks it lower
    res["soft"] = result(res["soft"].arm, [0.98, 1, 1], [0.94, 0.96, 0.955])
    untied = summarize(res, real, Protocol(), 3)
    assert untied["chosen_on_validation"] == "plain" and "validation_ties" not in untied
    assert untied["verdict"].startswith("plain (chosen on validation)") and "synthetic data helps" in untied["verdict"]


def test_resolution_line_says_how_many_seeds_would_show_a_point():
    from srgan.augment.study import ArmResult, Run, default_arms
    from srgan.augment.study_summary import study_lines, summarize

    def result(arm: Arm, test: list[float]) -> ArmResult:
        return ArmResult(arm, [Run(0.7, t, 10, 10, 1.0) for t in test])

    arms = {a.key: a for a in default_arms(has_classical=True)}
    real = [0.70, 0.72, 0.74]
    res = {
        "real": result(arms["real"], real),
        # paired differences to real-only with standard deviations of 1, 2 and 3 points: the median is 2
        "soft": result(arms["soft"], [r + d for r, d in zip(real, [0.01, 0.00, 0.02], strict=True)]),
        "classical": result(arms["classical"], [r + d for r, d in zip(real, [0.02, 0.00, 0.04], strict=True)]),
        "pretrain": result(arms["pretrain"], [r + d for r, d in zip(real, [0.03, 0.00, 0.06], strict=True)]),
    }
    out = summarize(res, arms["real"], Protocol(), 3)
    # t(0.975, 2) * 2 / sqrt(3) = 4.97 points; t(0.975, k - 1) * 2 / sqrt(k) first falls under 1 point at k = 18
    assert out["resolution"] == (
        "the paired differences to real-only vary by 2.00 points from seed to seed (the median standard deviation "
        "of 3 arms, 1.00 to 3.00); at that spread a 95 % interval over 3 seeds reaches 4.97 points either side of "
        "its mean; a mean gain of 1 point would have its interval above zero with 18 seeds or more"
    )
    assert f"Resolution: {out['resolution']}." in study_lines({"study": out, "n_test": 30})
    one_seed = {k: ArmResult(v.arm, v.runs[:1]) for k, v in res.items()}
    assert "resolution" not in summarize(one_seed, arms["real"], Protocol(), 1)


def test_combinations_are_compared_with_classical_and_chosen_on_validation():
    from srgan.augment.study import ArmResult, Run, default_arms
    from srgan.augment.study_summary import study_lines, summarize

    def result(arm: Arm, val: list[float], test: list[float]) -> ArmResult:
        return ArmResult(arm, [Run(v, t, 10, 10, 1.0) for v, t in zip(val, test, strict=True)])

    arms = {a.key: a for a in default_arms(has_classical=True, thresholds=(0.9,))}
    soft = arms["combo-soft"]
    assert soft.soft_labels and soft.extra == ("classical", "synthetic") and soft.threshold is None
    res = {
        "real": result(arms["real"], [0.7] * 3, [0.70, 0.71, 0.72]),
        "classical": result(arms["classical"], [0.8] * 3, [0.73, 0.74, 0.75]),
        # 3 points above real-only, all of them classical's: no better than classical itself
        "filt": result(arms["combo"], [0.79] * 3, [0.735, 0.735, 0.75]),
        # chosen on validation, and 1 point above classical on every seed
        "soft": result(soft, [0.81] * 3, [0.74, 0.75, 0.76]),
    }
    out = summarize(res, arms["real"], Protocol(), 3)
    assert out["combination_chosen_on_validation"] == "soft"
    assert out["arms"]["soft"]["vs_classical"]["mean"] == pytest.approx(0.01)
    assert out["arms"]["filt"]["vs_classical"]["mean"] == pytest.approx(0.0, abs=1e-9)
    assert "classical" not in out["arms"]["real"] and "vs_classical" not in out["arms"]["classical"]
    assert "chooses soft: synthetic images add to classical augmentation" in out["on_classical"]
    assert "filt +0.00 points" in out["on_classical"]
    res["filt"] = result(arms["combo"], [0.81] * 3, [0.735, 0.735, 0.75])  # a tie: neither is chosen
    tied = summarize(res, arms["real"], Protocol(), 3)
    assert tied["combination_chosen_on_validation"] is None
    assert "ties 2 of them, so none is chosen: no gain shown" in tied["on_classical"]
    lines = study_lines({"study": tied, "n_test": 30})
    assert any(line.startswith("On top of classical augmentation: against classical") for line in lines)
    one = summarize({k: v for k, v in res.items() if k != "filt"}, arms["real"], Protocol(), 3)
    assert one["on_classical"] == (
        "against classical, paired: soft +1.00 points (95 % CI +1.00 to +1.00): "
        "synthetic images add to classical augmentation"
    )  # one combination: no choice
    # with the steps control, the sanity line also reads classical against it (as many steps), the decision unchanged
    res["real-x2"] = result(arms["real-x2"], [0.75] * 3, [0.72, 0.73, 0.74])
    sane = summarize(res, arms["real"], Protocol(), 3)["sanity"]
    assert sane == ("ok: classical augmentation beats real-only (against real-only over more epochs, +1.00 points "
                    "(95 % CI +1.00 to +1.00))")  # fmt: skip
    del res["real-x2"], res["classical"]  # no classical arm: nothing to compare the combinations with
    assert "on_classical" not in summarize(res, arms["real"], Protocol(), 3)


def test_arms_are_chosen_by_key_and_real_always_runs():
    from srgan.augment.study import default_arms
    from srgan.errors import ConfigError

    every = default_arms(has_classical=True, thresholds=(0.5, 0.9))
    assert [a.key for a in every] == ["real", "real-x2", "synthetic", "filtered-0.5", "filtered-0.9", "soft",
                                      "pretrain", "classical", "combo", "combo-soft"]  # fmt: skip
    some = default_arms(has_classical=True, thresholds=(0.5, 0.9), keys=("classical", "filtered-0.9"))
    assert [a.key for a in some] == ["real", "filtered-0.9", "classical"]
    with pytest.raises(ConfigError, match=r"unknown arm.*filtered-0\.7"):
        default_arms(has_classical=False, keys=("filtered-0.7",))


def test_the_steps_control_trains_real_only_twice_as_long_and_is_not_the_baseline(sets):
    from srgan.augment.study import run_study
    from srgan.augment.study_cache import _arm_spec

    arms = [Arm("real only, twice the epochs", epoch_scale=2), Arm("real"), Arm("half synthetic", ("synthetic",))]
    res = run_study({"real": sets["real"], "synthetic": sets["synth"]}, sets["test"], proto=FAST, seeds=2, arms=arms)
    control = res["arms"]["real only, twice the epochs"]
    assert control["epochs_run"] == [2 * FAST.epochs] * 2 and res["arms"]["real"]["epochs_run"] == [FAST.epochs] * 2
    assert res["arms"]["real"]["vs_real"]["mean"] == 0  # real, not the control listed first, is the baseline
    assert control["key"] == "real-x2" and f"{100 * control['vs_real']['mean']:+.2f} points" in res["steps_control"]
    # the arm with added images is compared with the control paired, seed by seed, as it is with real-only
    half = res["arms"]["half synthetic"]
    paired = compare(np.array(control["runs"]), np.array(half["runs"]))
    assert half["vs_control"] == paired and "vs_control" not in res["arms"]["real"]
    shown = f"half synthetic {100 * paired['mean']:+.2f} points (95 % CI {100 * paired['ci_low']:+.2f} to"
    assert f"each arm against it, paired: {shown}" in res["steps_control"]
    assert f"; against real-only over more epochs, {100 * paired['mean']:+.2f} points" in res["verdict"]
    assert "epoch_scale" not in _arm_spec(Arm("real")) and _arm_spec(arms[0])["epoch_scale"] == 2  # old caches hold
    with pytest.raises(ConfigError, match="epoch_scale"):
        Arm("x", ("synthetic",), epoch_scale=2)
    from srgan.augment.study import default_arms

    longer = default_arms(has_classical=False, longer=(4, 2), keys=("real-x4",))
    assert [(a.key, a.name, a.epoch_scale) for a in longer] == [("real", "real", 1),
                                                              ("real-x4", "real only, 4x the epochs", 4)]  # fmt: skip
    assert [a.key for a in default_arms(has_classical=False, longer=(4,))][:3] == ["real", "real-x2", "real-x4"]
    with pytest.raises(ConfigError, match="at least 2x"):
        default_arms(has_classical=False, longer=(1,))  # would be real-only again, under the same key


def test_shares_add_variants_with_their_own_keys():
    from srgan.augment.study import default_arms

    arms = default_arms(has_classical=False, thresholds=(0.5, 0.9), shares=(0.2,))
    variants = {a.key: a for a in arms if a.tag}
    assert sorted(variants) == ["filtered-0.9@0.2", "soft@0.2", "synthetic@0.2"]
    assert all(a.real_fraction == pytest.approx(0.8) for a in variants.values())
    assert variants["filtered-0.9@0.2"].threshold == 0.9 and variants["soft@0.2"].soft_labels
    picked = default_arms(has_classical=False, shares=(0.2,), keys=("soft@0.2",))
    assert [a.key for a in picked] == ["real", "soft@0.2"]
    with pytest.raises(ConfigError, match="share"):
        default_arms(has_classical=False, shares=(1.0,))


def test_synthetic_counts_train_on_the_first_images_of_each_class(sets, captured):
    from srgan.augment.study import default_arms

    arms = default_arms(has_classical=False, thresholds=(0.9,), shares=(0.2,), counts=(2,))
    counted = {a.key: a for a in arms if a.per_class}
    assert sorted(counted) == ["soft-n2", "soft@0.2-n2", "synthetic-n2", "synthetic@0.2-n2"]  # not filtered, pretrain
    assert counted["soft@0.2-n2"].real_fraction == pytest.approx(0.8) and counted["soft@0.2-n2"].soft_labels
    assert counted["soft@0.2-n2"].name == "real + synthetic, soft labels, 20 % of each batch, 2 per class"
    synth = sets["synth"]
    _, n_added, _ = run_arm(counted["synthetic-n2"], {"real": sets["real"], "synthetic": synth}, sets["test"],
                            proto=FAST, seed=0)  # fmt: skip
    first = torch.cat([(synth.labels == c).nonzero().flatten()[:2] for c in range(3)]).sort().values
    assert n_added == 6 and torch.equal(captured["added"][0], synth.images[first])
    assert captured["added"][1].argmax(1).tolist() == [0, 0, 1, 1, 2, 2]
    too_many = default_arms(has_classical=False, keys=("synthetic-n9",), counts=(9,))[1]  # 8 a class in the folder
    with pytest.raises(ConfigError, match=r"9 images a class asked for, but class\(es\) astronaut, cat, coffee have"):
        run_arm(too_many, {"real": sets["real"], "synthetic": synth}, sets["test"], proto=FAST, seed=0)
    with pytest.raises(ConfigError, match="per_class"):
        Arm("none", ("synthetic",), per_class=0)
    with pytest.raises(ConfigError, match="per_class"):
        Arm("real", per_class=2)


def test_committed_study_runs_stay_readable_by_the_current_arm_definitions():
    """Changing an arm's definition (a new field) must not orphan the CPU hours the committed cache holds."""
    from pathlib import Path

    from srgan.augment.study import default_arms
    from srgan.augment.study_cache import _arm_spec

    arms = {a.key: a for a in default_arms(has_classical=True, thresholds=(0.5, 0.9), shares=(0.2,), longer=(4, 8))}
    root = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "augment_study_cache"
    studies = {"mnist": "61b82ec70d", "cifar": "2dcb7ea47a"}  # the studies README reports or is running
    files = [f for name, digest in studies.items() for f in (root / name).glob("*-seed*.json")
             if json.loads(f.read_text()).get("study", f.name)[:10] == digest]  # fmt: skip
    assert len(files) >= 60
    for f in files:
        key = f.stem.split("-", 2)[2]
        assert json.loads(f.read_text())["arm"] == _arm_spec(arms[key]), f.name


def test_cache_resumes_a_study_and_splits_it_by_seed(sets, tmp_path, monkeypatch):
    from srgan.augment.study import default_arms, run_study
    from srgan.augment.study_cache import StudyCache, fingerprint

    data = {"real": sets["real"], "synthetic": sets["synth"]}
    arms = default_arms(has_classical=False, thresholds=(0.0,), keys=("filtered-0", "synthetic"))
    cache = StudyCache(tmp_path / "cache", fingerprint(data, sets["test"], FAST))
    # seed by seed, as parallel processes would, then the whole study from the cache alone
    one = run_study(data, sets["test"], proto=FAST, seeds=[1], arms=arms, cache=cache)
    zero = run_study(data, sets["test"], proto=FAST, seeds=[0], arms=arms, cache=cache)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(
        f"{cache.digest[:10]}-seed{s}-{k}" for s in (0, 1)
        for k in ("real.json", "teacher.pt", "filtered-0.json", "synthetic.json"))  # fmt: skip

    def no_training(*args, **kwargs):
        raise AssertionError("a cached run was trained again")

    monkeypatch.setattr(study, "run_arm", no_training)
    both = run_study(data, sets["test"], proto=FAST, seeds=2, arms=arms, cache=cache)
    for name, row in both["arms"].items():
        assert row["runs"] == zero["arms"][name]["runs"] + one["arms"][name]["runs"]
        threads = torch.get_num_threads()  # the time column says how many CPU threads it took
        assert row["devices"] == [f"cpu, {threads} thread{'s' if threads != 1 else ''}"]
    # every arm cached: the report is rewritten without the teachers (removed once a study is complete)
    for t in (tmp_path / "cache").glob("*-teacher.pt"):
        t.unlink()
    assert run_study(data, sets["test"], proto=FAST, seeds=2, arms=arms, cache=cache)["arms"] == both["arms"]
    missing = next((tmp_path / "cache").glob("*-seed1-filtered-0.json"))
    missing.unlink()  # an arm that needs the teacher is not cached: real is trained again, to get it
    with pytest.raises(AssertionError, match="trained again"):
        run_study(data, sets["test"], proto=FAST, seeds=2, arms=arms, cache=cache)
    monkeypatch.undo()
    again = run_study(data, sets["test"], proto=FAST, seeds=[1], arms=arms, cache=cache)
    assert again["arms"]["real"]["runs"] == one["arms"]["real"]["runs"]  # the same real run, reproduced
    monkeypatch.setattr(study, "run_arm", no_training)
    # a run cached before threads were recorded still loads, and says only where it trained
    path = next((tmp_path / "cache").glob("*-seed0-real.json"))
    rec = json.loads(path.read_text())
    del rec["run"]["threads"]
    path.write_text(json.dumps(rec))
    old = run_study(data, sets["test"], proto=FAST, seeds=2, arms=arms, cache=cache)["arms"]["real"]["devices"]
    assert sorted(old)[0] == "cpu" and len(old) == 2
    # other data or another protocol: nothing is read back
    other = StudyCache(tmp_path / "cache", fingerprint({**data, "synthetic": sets["test"]}, sets["test"], FAST))
    assert other.load(0, arms[0]) is None and other.load_teacher(0) is None
    longer = Protocol(epochs=3, batch=8, val_fraction=0.25)
    assert StudyCache(tmp_path / "cache", fingerprint(data, sets["test"], longer)).load(0, arms[0]) is None


@pytest.fixture
def trained_arms(monkeypatch) -> list[str]:
    """The keys of the arms the study trains (not reads from its cache), in order."""
    order: list[str] = []
    real_run_arm = study.run_arm

    def spy(arm, *args, **kwargs):
        order.append(arm.key)
        return real_run_arm(arm, *args, **kwargs)

    monkeypatch.setattr(study, "run_arm", spy)
    return order


def test_a_study_without_the_teachers_arms_runs_real_last(sets, trained_arms):
    from srgan.augment.study import default_arms, run_study

    order = trained_arms
    arms = default_arms(has_classical=True, keys=("classical", "synthetic"))
    res = run_study({"real": sets["real"], "synthetic": sets["synth"], "classical": sets["synth"]}, sets["test"],
                    proto=FAST, seeds=1, arms=arms)  # fmt: skip
    assert order == ["synthetic", "classical", "real"] and next(iter(res["arms"])) == "real"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_study_trains_on_cuda(sets):
    run, _, model = run_arm(Arm("real"), {"real": sets["real"]}, sets["test"], proto=FAST, seed=0, device="cuda")
    assert run.device.startswith("cuda") and next(model.parameters()).is_cuda
    cpu, _, _ = run_arm(Arm("real"), {"real": sets["real"]}, sets["test"], proto=FAST, seed=0)
    assert 0 <= run.test_accuracy <= 1 and cpu.device == "cpu"


@pytest.mark.parametrize(("selection", "epoch"), [("accuracy", 1), ("accuracy+loss", 2), ("accuracy+last", 3)])
def test_ties_in_validation_accuracy_are_broken_by_the_rule(sets, monkeypatch, selection, epoch):
    """A 50-image validation split reaches 100 % early; the first such epoch is not the best one."""
    scripted = iter([(1.0, 0.5), (1.0, 0.2), (1.0, 0.3), (0.9, 0.1)])
    monkeypatch.setattr(study, "validation_scores", lambda model, x, y: next(scripted))
    proto = Protocol(epochs=4, batch=8, val_fraction=0.25, selection=selection)
    real = sets["real"]
    _, run = study.train((real.images, real.labels), (real.images, real.labels), num_classes=3, proto=proto, seed=0)
    assert run.epoch == epoch and run.val_accuracy == 1.0
    with pytest.raises(ConfigError, match="selection"):
        Protocol(selection="loss")


def test_classical_copies_of_validation_images_are_not_trained_on(sets, monkeypatch):
    """An augmented copy of a validation image would leak it into training and into the choice of epoch."""
    real = sets["real"]
    names = [f"{n}_aug000" for n in real.names] + [f"{n}_aug001" for n in real.names]
    classical = ImageSet(torch.cat([real.images, real.images]), torch.cat([real.labels, real.labels]), real.classes,
                         names=names)  # fmt: skip
    seen: dict[str, int] = {}

    def spy(*args, added=None, **kwargs):
        seen["n"] = int(added[0].shape[0])
        raise StopIteration

    monkeypatch.setattr(study, "train", spy)
    with pytest.raises(StopIteration):
        run_arm(Arm("c", ("classical",)), {"real": real, "classical": classical}, sets["test"], proto=FAST, seed=0)
    _, va = split_validation(real.labels, FAST.val_fraction, 0)
    assert seen["n"] == 2 * (len(real.names) - len(va))


def test_every_seed_validates_on_the_one_split_the_gan_holds_out(sets, monkeypatch):
    """The split is drawn once (Protocol.split_seed), so the GAN can be trained without exactly those images."""
    real = sets["real"]
    seen: list[torch.Tensor] = []

    def spy(train_set, val_set, **kwargs):
        seen.append(val_set[0])
        raise StopIteration

    monkeypatch.setattr(study, "train", spy)
    for proto in (FAST, Protocol(epochs=2, batch=8, val_fraction=0.25, split_seed=None)):
        for seed in (0, 1):
            with pytest.raises(StopIteration):
                run_arm(Arm("real"), {"real": real}, sets["test"], proto=proto, seed=seed)
    fixed_0, fixed_1, own_0, own_1 = seen
    assert torch.equal(fixed_0, fixed_1)  # the fixed split: the same images for every seed
    assert not torch.equal(own_0, own_1)  # split_seed None: each seed its own (the first study's protocol)
    names = study.validation_names(real, FAST)
    assert len(names) == 6 and len({n.split("/")[0] for n in names}) == 3  # 2 of each class's 8
    idx = [real.names.index(n) for n in names]
    assert torch.equal(real.images[sorted(idx)], fixed_0)
    with pytest.raises(ConfigError, match="no one set of images"):
        study.validation_names(real, Protocol(split_seed=None))


def test_channels_last_training_reproduces_by_seed_and_keeps_its_own_cache_digest(sets):
    from srgan.augment.study_cache import fingerprint

    data = {"real": sets["real"], "classical": sets["synth"]}
    fast_cl = Protocol(epochs=2, batch=8, val_fraction=0.25, channels_last=True)
    a, _, model = run_arm(Arm("c", ("classical",)), data, sets["test"], proto=fast_cl, seed=4)
    b, _, _ = run_arm(Arm("c", ("classical",)), data, sets["test"], proto=fast_cl, seed=4)
    assert (a.val_accuracy, a.test_accuracy, a.epoch) == (b.val_accuracy, b.test_accuracy, b.epoch)
    assert model.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    # the same arithmetic in another order, so not bit for bit the default's runs: a study never mixes the two
    assert fingerprint(data, sets["test"], fast_cl) != fingerprint(data, sets["test"], FAST)


def test_the_cache_digest_keeps_per_seed_split_studies_apart(sets):
    from srgan.augment.study_cache import fingerprint

    data, test = {"real": sets["real"]}, sets["test"]
    assert fingerprint(data, test, Protocol()) != fingerprint(data, test, Protocol(split_seed=None))
    assert fingerprint(data, test, Protocol(split_seed=1)) != fingerprint(data, test, Protocol())


class Killed(Exception):
    """Stands for the process being killed between two epochs."""


def _kill_at(epoch: str, arm: str | None = None):
    def progress(done, total, **info):
        if f"{done}/{total}" == epoch if arm is None else (info.get("epoch") == epoch and info.get("arm") == arm):
            raise Killed

    return progress


def test_a_killed_run_goes_on_from_its_last_saved_epoch_and_ends_as_an_uninterrupted_one(sets, tmp_path):
    from srgan.augment.study import Resume

    proto = Protocol(epochs=4, batch=8, val_fraction=0.25)
    data = {"real": sets["real"], "synthetic": sets["synth"]}
    arm = Arm("mixed", ("synthetic",))
    whole, _, model = run_arm(arm, data, sets["test"], proto=proto, seed=3)
    saved = Resume(tmp_path / "mixed.partial.pt", {"arm": "mixed"}, every=0.0)
    with pytest.raises(Killed):
        run_arm(arm, data, sets["test"], proto=proto, seed=3, progress=_kill_at("2/4"), resume=lambda stage: saved)
    assert torch.load(saved.path, weights_only=True)["epoch"] == 2
    seen: list[int] = []
    again, _, resumed = run_arm(arm, data, sets["test"], proto=proto, seed=3, resume=lambda stage: saved,
                                progress=lambda e, n, **info: seen.append(e))  # fmt: skip
    assert seen == [3, 4]  # epochs 1 and 2 were not trained again
    assert (again.val_accuracy, again.test_accuracy, again.epoch, again.epochs_run) == (
        whole.val_accuracy, whole.test_accuracy, whole.epoch, whole.epochs_run)  # fmt: skip
    for (k, a), b in zip(model.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    # a state saved by another run (another arm, seed or length) is not used: the run starts over
    for other, seed, p in ((Resume(saved.path, {"arm": "other"}, 0.0), 3, proto), (saved, 4, proto),
                           (saved, 3, Protocol(epochs=5, batch=8, val_fraction=0.25))):  # fmt: skip
        seen.clear()
        run_arm(arm, data, sets["test"], proto=p, seed=seed, resume=lambda stage, o=other: o,
                progress=lambda e, n, **info: seen.append(e))  # fmt: skip
        assert seen[0] == 1
    saved.path.write_bytes(b"truncated")  # a damaged state: also starts over, never a crash
    seen.clear()
    run_arm(arm, data, sets["test"], proto=proto, seed=3, resume=lambda stage: saved,
            progress=lambda e, n, **info: seen.append(e))  # fmt: skip
    assert seen == [1, 2, 3, 4]


def test_a_killed_study_resumes_inside_the_run_it_was_training(sets, tmp_path):
    from srgan.augment.study import default_arms, run_study
    from srgan.augment.study_cache import StudyCache, fingerprint

    data = {"real": sets["real"], "synthetic": sets["synth"]}
    arms = default_arms(has_classical=False, keys=("pretrain", "synthetic"))
    digest = fingerprint(data, sets["test"], FAST)
    clean = run_study(data, sets["test"], proto=FAST, seeds=[0], arms=arms, cache=StudyCache(tmp_path / "a", digest))
    cache = StudyCache(tmp_path / "b", digest, every=0.0)
    pre = next(a.name for a in arms if a.pretrain)
    with pytest.raises(Killed):  # killed in the second stage of pre-training, after its first epoch
        run_study(data, sets["test"], proto=FAST, seeds=[0], arms=arms, cache=cache, progress=_kill_at("1/2", pre))
    with pytest.raises(Killed):
        run_study(data, sets["test"], proto=FAST, seeds=[0], arms=arms, cache=cache, progress=_kill_at("1/2", pre))
    left = sorted(p.name.split("-", 1)[1] for p in (tmp_path / "b").glob("*.partial.pt"))
    assert left == ["seed0-pretrain-pretrain.partial.pt", "seed0-pretrain-train.partial.pt"]
    ticks: list[dict[str, object]] = []
    done = run_study(data, sets["test"], proto=FAST, seeds=[0], arms=arms, cache=cache,
                     progress=lambda d, t, **info: ticks.append(info))  # fmt: skip
    for name, row in clean["arms"].items():  # (as JSON: one seed's interval is NaN, never equal to itself)
        assert json.dumps({k: v for k, v in row.items() if k != "seconds"}) == json.dumps(
            {k: v for k, v in done["arms"][name].items() if k != "seconds"}), name  # fmt: skip
    assert not list((tmp_path / "b").glob("*.partial.pt"))  # removed once the run is saved
    # only the finished arm's own: real finishing leaves real-x2's (a longer key that starts the same) in place
    longer = next(a for a in default_arms(has_classical=False) if a.key == "real-x2")
    other = cache.resume(0, longer, "train").path
    other.write_bytes(b"state")
    cache.clear_partial(0, arms[0])
    assert other.is_file()
    # nothing trained again: synthetic was cached, pre-training's first stage complete, its second at epoch 1
    assert [(t.get("arm"), t.get("epoch")) for t in ticks if "epoch" in t] == [(pre, "2/2"), ("real", "1/2"),
                                                                                ("real", "2/2")]  # fmt: skip


def test_real_only_runs_are_keyed_on_the_real_images_alone(sets, tmp_path, trained_arms):
    from srgan.augment.study import default_arms, run_study
    from srgan.augment.study_cache import REAL_ONLY, StudyCache

    test = sets["test"]
    data = {"real": sets["real"], "synthetic": sets["synth"]}
    arms = default_arms(has_classical=False, keys=("soft", "real-x2"))
    cache = StudyCache.of(tmp_path, data, test, FAST)
    first = run_study(data, test, proto=FAST, seeds=[0], arms=arms, cache=cache)
    real_key = cache.narrow[REAL_ONLY][:10]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{real_key}-seed0-real.json", f"{real_key}-seed0-teacher.pt", f"{real_key}-seed0-real-x2.json",
         f"{cache.digest[:10]}-seed0-soft.json"])  # fmt: skip
    # other generated images (another GAN, or the same GAN's float32 samples rounded otherwise on another CPU)
    flipped = replace(sets["synth"], images=sets["synth"].images.flip(3))
    other_data = {"real": sets["real"], "synthetic": flipped}
    other = StudyCache.of(tmp_path, other_data, test, FAST)
    assert other.digest != cache.digest and other.narrow == cache.narrow
    trained_arms.clear()
    second = run_study(other_data, test, proto=FAST, seeds=[0], arms=arms, cache=other)
    assert trained_arms == ["soft"]  # real-only runs and the teacher read back; the arm that uses the images trained
    for key in ("real", "real only, twice the epochs"):
        assert second["arms"][key]["runs"] == first["arms"][key]["runs"]
    # other real images, or another protocol: nothing real-only is read back
    fewer = {"real": replace(sets["real"], images=sets["real"].images.flip(2)), "synthetic": sets["synth"]}
    assert StudyCache.of(tmp_path, fewer, test, FAST).load(0, arms[0]) is None
    assert StudyCache.of(tmp_path, data, test, replace(FAST, epochs=3)).load_teacher(0) is None
    # runs cached before real-only runs had their own key (under the study's digest) still load
    legacy = StudyCache(tmp_path / "legacy", cache.digest)
    run, n = cache.load(0, arms[0]) or (None, 0)
    assert run is not None
    legacy.save(0, arms[0], run, n)
    assert StudyCache.of(tmp_path / "legacy", data, test, FAST).load(0, arms[0]) == (run, n)


def test_real_only_runs_are_read_from_a_study_with_fewer_epochs(sets, tmp_path, trained_arms):
    """real at 2 epochs is real-x2 of a 1-epoch study, trained the same: it is read back, not trained again."""
    from srgan.augment.study import default_arms, run_study
    from srgan.augment.study_cache import REAL_ONLY, StudyCache

    test, data = sets["test"], {"real": sets["real"], "synthetic": sets["synth"]}
    one = replace(FAST, epochs=1)
    keys = ("real-x2", "real-x4", "synthetic")
    short = run_study(data, test, proto=one, seeds=[0], arms=default_arms(has_classical=False, keys=keys, longer=(4,)),
                      cache=StudyCache.of(tmp_path / "cache", data, test, one))  # fmt: skip
    assert trained_arms == ["real-x2", "real-x4", "synthetic", "real"]  # nothing needs the teacher: real last
    trained_arms.clear()
    arms = default_arms(has_classical=False, keys=("real-x2",))
    long = run_study(data, test, proto=FAST, seeds=[0], arms=arms, cache=StudyCache.of(tmp_path / "cache", data,
                     test, FAST))  # fmt: skip
    assert trained_arms == []
    copies = {p.name: json.loads(p.read_text()).get("copied_from") for p in (tmp_path / "cache").glob("*.json")}
    one_key, two_key = (StudyCache.of(tmp_path, data, test, p).narrow[REAL_ONLY][:10] for p in (one, FAST))
    assert copies[f"{two_key}-seed0-real.json"] == f"{one_key}-seed0-real-x2.json"  # on record, where it came from
    assert copies[f"{two_key}-seed0-real-x2.json"] == f"{one_key}-seed0-real-x4.json"
    two = StudyCache.of(tmp_path / "cache", data, test, FAST)
    assert two.copied_from(0, arms[0]) == f"{one_key}-seed0-real-x2.json"
    assert long["arms"]["real"]["runs"] == short["arms"]["real only, twice the epochs"]["runs"]
    assert long["arms"]["real only, twice the epochs"]["runs"] == short["arms"]["real only, 4x the epochs"]["runs"]
    # and it is the same training: run here, real at 2 epochs ends where real-x2 of the 1-epoch study did
    fresh = run_study(data, test, proto=FAST, seeds=[0], arms=arms[:1], cache=None)
    assert trained_arms == ["real"]
    keep = ("runs", "val_mean", "epochs_chosen", "epochs_run")
    assert {k: fresh["arms"]["real"][k] for k in keep} == {k: long["arms"]["real"][k] for k in keep}
    # real at 4 epochs is real-x4 of the 1-epoch study; at 3, nothing; an arm that adds images only from its own
    four, three = (StudyCache.of(tmp_path / "cache", data, test, replace(FAST, epochs=e)) for e in (4, 3))
    x4 = StudyCache.of(tmp_path / "cache", data, test, one).load(0, replace(arms[0], epoch_scale=4))
    assert x4 is not None and four.load(0, arms[0]) == x4
    assert three.load(0, arms[0]) is None
    plain = next(a for a in default_arms(has_classical=False) if a.key == "synthetic")
    assert StudyCache.of(tmp_path / "cache", data, test, FAST).load(0, plain) is None


def test_the_convergence_line_reads_the_longer_real_only_runs_on_validation():
    from srgan.augment.study import ArmResult, Run, default_arms
    from srgan.augment.study_summary import study_lines, summarize

    def result(arm: Arm, val: float, test: float) -> ArmResult:
        return ArmResult(arm, [Run(val + d, test + d, 10, 10, 1.0) for d in (-0.01, 0.0, 0.012)])

    arms = {a.key: a for a in default_arms(has_classical=False, thresholds=(0.9,), longer=(4,))}
    proto = Protocol(epochs=60)
    res = {"real": result(arms["real"], 0.70, 0.70), "synthetic": result(arms["synthetic"], 0.71, 0.70)}
    assert summarize(res, arms["real"], proto, 3)["convergence"].startswith("not checked: no real-only run")
    # twice the epochs gains 2 points on validation, 4x another 0.2 over that: converged at 120, not at 60. Test
    # says the opposite (it drops, then gains): the decision is validation's
    res["real-x2"] = result(arms["real-x2"], 0.72, 0.69)
    res["real-x4"] = result(arms["real-x4"], 0.722, 0.72)
    out = summarize(res, arms["real"], proto, 3)
    assert out["convergence"].startswith("flag: real-only still gains from more epochs than the study's 60; it stops "
                                         "gaining (less than 0.5 points on validation) at 120 (60 -> 120 epochs: "
                                         "validation +2.00 points")  # fmt: skip
    assert "120 -> 240 epochs: validation +0.20 points" in out["convergence"]
    assert out["verdict"].endswith("(against a real-only baseline that is not converged: see the convergence line)")
    assert any(line.startswith("Convergence: flag:") for line in study_lines({"study": out, "n_test": 30}))
    res["real-x4"] = result(arms["real-x4"], 0.73, 0.68)  # still 1 point more on validation at 4x
    assert "at every longer schedule run" in summarize(res, arms["real"], proto, 3)["convergence"]
    res["real-x2"] = result(arms["real-x2"], 0.703, 0.75)  # 0.3 points at 2x, but 2.7 more at 4x: not converged
    assert "at every longer schedule run" in summarize(res, arms["real"], proto, 3)["convergence"]
    res["real-x4"] = result(arms["real-x4"], 0.704, 0.68)  # 0.3 and 0.4 points: converged at the study's epochs
    ok = summarize(res, arms["real"], proto, 3)
    assert ok["convergence"].startswith("ok: real-only gains less than 0.5 points on validation from more epochs")
    assert "not converged" not in ok["verdict"]
    # classical under real-only: an underfit classifier would explain it, but not one that has stopped gaining
    classical = next(a for a in default_arms(has_classical=True) if a.key == "classical")
    worse = summarize({**res, "classical": result(classical, 0.69, 0.68)}, arms["real"], proto, 3)
    assert worse["sanity"].startswith("not underfit: classical augmentation does not beat real-only, but real-only "
                                      "has stopped gaining")  # fmt: skip
    assert "provisional" not in worse["verdict"] and worse["sanity_state"] == "not underfit"
    shift = {"seed": 0, "sources": 30, "copies": 30, "source_accuracy": 0.8, "copy_accuracy": 0.6}
    told = summarize({**res, "classical": result(classical, 0.69, 0.68)}, arms["real"], proto, 3, shift)
    assert told["sanity"].endswith("; a real-only classifier (seed 0) recognises 80.0 % of 30 validation images and "
                                   "60.0 % of their 30 classical copies, which no run trains on; copies like these "
                                   "fill half of each classical batch")  # fmt: skip
    assert told["classical_shift"] == shift
    better = summarize({**res, "classical": result(classical, 0.71, 0.75)}, arms["real"], proto, 3, shift)
    assert better["sanity"].startswith("ok: classical") and "recognises" not in better["sanity"]  # nothing to explain
    res["real-x4"] = result(arms["real-x4"], 0.73, 0.68)  # not converged: the same classical run is a flag
    flagged = summarize({**res, "classical": result(classical, 0.69, 0.68)}, arms["real"], proto, 3)
    assert flagged["sanity"].startswith("flag: classical augmentation does not beat real-only; on CIFAR-like data")
    assert "(provisional: the sanity check failed)" in flagged["verdict"] and flagged["sanity_state"] == "flag"
    # the same preset drawn anew each batch beats real-only: the classifier is not underfit, the fixed copies lose
    online = next(a for a in default_arms(has_classical=True, online=("medium",)) if a.online == "medium")
    drawn = summarize({**res, "classical": result(classical, 0.69, 0.68), online.name: result(online, 0.72, 0.73)},
                      arms["real"], proto, 3, shift)  # fmt: skip
    assert drawn["sanity_state"] == "ok, drawn anew" and "provisional" not in drawn["verdict"]
    assert drawn["sanity"].startswith("ok, drawn anew: classical augmentation drawn anew for every batch")
    assert "recognises 80.0 %" in drawn["sanity"] and f"; {online.name}: +3.00 points" in drawn["sanity"]
    lost = summarize({**res, "classical": result(classical, 0.69, 0.68), online.name: result(online, 0.69, 0.69)},
                     arms["real"], proto, 3)  # fmt: skip
    assert lost["sanity_state"] == "flag"  # drawn anew, it loses too: nothing clears the classifier
    at_ceiling = {k: ArmResult(r.arm, [Run(1.0, 0.9 + 0.01 * i, 10, 10, 1.0) for i in range(3)])
                  for k, r in res.items()}  # fmt: skip
    assert summarize(at_ceiling, arms["real"], proto, 3)["convergence"].startswith(
        "not decided: real-only is at 100 % on validation at every schedule")  # fmt: skip


def test_a_run_records_the_processors_it_trained_on(sets, tmp_path, monkeypatch):
    """Float sums differ between processors, so a run says where it trained, and where it went on after a kill."""
    from srgan.augment.study import Resume
    from srgan.augment.study_summary import study_lines, summarize
    from srgan.device import cpu_model, processor

    assert processor(torch.device("cpu")) == cpu_model() != ""
    proto = FAST
    data = {"real": sets["real"]}
    monkeypatch.setattr(study, "processor", lambda dev: "CPU A")
    alone, _, _ = run_arm(Arm("real"), data, sets["test"], proto=proto, seed=1)
    assert alone.hardware == "CPU A"
    saved = Resume(tmp_path / "real.partial.pt", every=0.0)
    with pytest.raises(Killed):
        run_arm(Arm("real"), data, sets["test"], proto=proto, seed=1, progress=_kill_at("1/2"),
                resume=lambda stage: saved)  # fmt: skip
    monkeypatch.setattr(study, "processor", lambda dev: "CPU B")
    state = torch.load(saved.path, weights_only=True)
    moved, _, _ = run_arm(Arm("real"), data, sets["test"], proto=proto, seed=1, resume=lambda stage: saved)
    assert moved.hardware == "CPU A + CPU B"
    del state["hardware"]  # a state saved before runs recorded it
    torch.save(state, saved.path)
    older, _, _ = run_arm(Arm("real"), data, sets["test"], proto=proto, seed=1, resume=lambda stage: saved)
    assert older.hardware == "not recorded + CPU B"
    results = {"real": study.ArmResult(Arm("real"), [alone, moved, older])}
    lines = "\n".join(study_lines({"study": summarize(results, Arm("real"), proto, 3), "n_test": 10}))
    assert "Processors (runs): CPU A (1); CPU A + CPU B (1); not recorded + CPU B (1). A seed's runs" in lines


def test_an_online_arm_draws_the_preset_anew_each_batch_reproducibly_and_resumes_exactly(sets, tmp_path, monkeypatch):
    """The classical arm adds one fixed copy of each image; online-PRESET draws new transforms for every batch."""
    from srgan.augment.classical import PRESETS, batch_augmenter
    from srgan.augment.study import Resume
    from srgan.augment.study_cache import _arm_spec
    from srgan.cli.augment import PRESETS as CLI_PRESETS

    assert CLI_PRESETS == PRESETS
    x = sets["real"].images[:6]
    medium = batch_augmenter("medium")
    a = medium(x, torch.Generator().manual_seed(0))
    assert a.shape == x.shape and a.dtype == x.dtype and a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, medium(x, torch.Generator().manual_seed(0)))  # seeded: the same transforms again
    assert not torch.equal(a, medium(x, torch.Generator().manual_seed(1)))
    assert all(not torch.equal(a[i], x[i]) for i in range(6))  # affine at p 0.9, jitter at 0.7: 6 of 6 here
    torch.testing.assert_close((a + 1) * 127.5, ((a + 1) * 127.5).round(), atol=1e-4, rtol=0)  # 8-bit levels
    arm = next(a for a in study.default_arms(True, thresholds=(), online=("medium",)) if a.online)
    assert arm.key == "online-medium" and arm.extra == () and not arm.needs_teacher
    assert "online" in _arm_spec(arm) and "online" not in _arm_spec(Arm("real"))  # cached runs keep their keys
    with pytest.raises(ConfigError, match="adds no set"):
        Arm("x", ("classical",), online="medium")
    seen: list[torch.Tensor] = []
    real_train = study.train

    def spy(*args, transform=None, **kwargs):
        def watched(xb, gen):
            out = transform(xb, gen)
            seen.append(out.clone())
            return out

        return real_train(*args, transform=watched if transform else None, **kwargs)

    monkeypatch.setattr(study, "train", spy)
    proto = Protocol(epochs=4, batch=8, val_fraction=0.25)
    data = {"real": sets["real"]}
    whole, n_added, model = run_arm(arm, data, sets["test"], proto=proto, seed=3)
    assert n_added == 18  # the real training images (24 less the 6 held out for validation) are what it augments
    steps = len(seen)
    assert steps == 4 * 5 and all(s.shape[0] == 4 for s in seen)  # 18 real images, 4 a batch: 5 steps an epoch
    assert len({s.sum().item() for s in seen}) == steps  # every batch drew its own transforms
    saved = Resume(tmp_path / "online.partial.pt", {"arm": arm.key}, every=0.0)
    with pytest.raises(Killed):
        run_arm(arm, data, sets["test"], proto=proto, seed=3, progress=_kill_at("2/4"), resume=lambda stage: saved)
    again, _, resumed = run_arm(arm, data, sets["test"], proto=proto, seed=3, resume=lambda stage: saved)
    assert (again.val_accuracy, again.test_accuracy, again.epoch) == (whole.val_accuracy, whole.test_accuracy,
                                                                       whole.epoch)  # fmt: skip
    for (k, p), q in zip(model.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(p, q), k
    torch.testing.assert_close(seen[-1], seen[steps - 1], atol=0, rtol=0)  # the resumed run drew the same last batch


def test_soft_synthetic_images_mix_into_an_online_arm_in_place_of_some_drawn_anew_copies(sets, tmp_path, monkeypatch):
    """online-PRESET+soft@S: real images, the preset drawn anew over them, and S of each batch soft-labelled
    synthetic images as they are; as many real images per batch (and steps) as the online arm alone."""
    from srgan.augment.study import Resume
    from srgan.augment.study_cache import _arm_spec

    arms = {a.key: a for a in study.default_arms(True, thresholds=(), online=("medium",), shares=(0.2, 0.6))}
    arm = arms["online-medium+soft@0.2"]
    assert "online-medium+soft@0.6" not in arms  # 0.6 leaves no room beside half a batch of real images
    assert arm.online == "medium" and arm.extra == ("synthetic",) and arm.soft_labels and arm.needs_teacher
    assert arm.mixed_share == 0.2 and _arm_spec(arm)["mixed_share"] == 0.2
    assert "mixed_share" not in _arm_spec(arms["online-medium"])  # cached online runs keep their keys
    for bad in ({"mixed_share": None}, {"mixed_share": 0.5}, {"mixed_share": 0.0}):
        with pytest.raises(ConfigError, match="share of each batch"):
            Arm("x", ("synthetic",), soft_labels=True, online="medium", **bad)
    with pytest.raises(ConfigError, match="share of each batch"):
        Arm("x", (), online="medium", mixed_share=0.2)
    real = sets["real"]
    teacher, _ = study.train((real.images, real.labels), (real.images, real.labels), num_classes=3, proto=FAST, seed=0)
    batches: list[torch.Tensor] = []
    real_augment = study._augment

    def spy(x, flip, gen):
        batches.append(x.clone())
        return real_augment(x, flip, gen)

    monkeypatch.setattr(study, "_augment", spy)
    proto = Protocol(epochs=3, batch=10, val_fraction=0.25)
    data = {"real": real, "synthetic": sets["synth"]}
    whole, n_added, model = run_arm(arm, data, sets["test"], proto=proto, seed=2, teacher=teacher)
    assert n_added == 18 + 24  # the real training images drawn anew, and the synthetic ones
    # 18 real images, 5 a batch: 4 steps an epoch, the last with 3 of them
    assert len(batches) == 3 * 4 and [b.shape[0] for b in batches[:4]] == [10, 10, 10, 8]

    def rows_in(rows: torch.Tensor, pool: torch.Tensor) -> list[bool]:
        return [bool((pool == r).flatten(1).all(1).any()) for r in rows]

    synth, reals = sets["synth"].images, real.images
    untouched = 0
    for b in batches:  # the real images, 3 of them drawn anew through the preset, 2 synthetic images as they are
        n = b.shape[0] - 5
        assert all(rows_in(b[:n], reals)) and all(rows_in(b[n + 3 :], synth))
        untouched += sum(rows_in(b[n : n + 3], reals))  # the preset leaves about 1 in 30 as it was
    assert untouched <= 3
    run_arm(arms["online-medium"], data, sets["test"], proto=proto, seed=2)
    assert len(batches) == 2 * 3 * 4  # the online arm alone: the same steps
    saved = Resume(tmp_path / "mixed.partial.pt", {"arm": arm.key}, every=0.0)
    with pytest.raises(Killed):
        run_arm(arm, data, sets["test"], proto=proto, seed=2, teacher=teacher, progress=_kill_at("2/3"),
                resume=lambda stage: saved)  # fmt: skip
    again, _, resumed = run_arm(arm, data, sets["test"], proto=proto, seed=2, teacher=teacher,
                                resume=lambda stage: saved)  # fmt: skip
    assert (again.val_accuracy, again.test_accuracy, again.epoch) == (whole.val_accuracy, whole.test_accuracy,
                                                                       whole.epoch)  # fmt: skip
    for (k, p), q in zip(model.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(p, q), k
    assert torch.load(saved.path, weights_only=True)["meta"]["n_mixed"] == [2, 24]


def test_soft_synthetic_images_on_an_online_arm_are_read_against_that_arm():
    """Its gain over real-only is mostly the preset's, so the verdict does not choose it as a synthetic recipe; its
    own line reads it against the online arm, paired, and the sanity line reads the online arm alone."""
    from srgan.augment.study import ArmResult, Run
    from srgan.augment.study_summary import study_lines, summarize

    def result(arm: Arm, val: float, test: list[float]) -> ArmResult:
        return ArmResult(arm, [Run(val, t, 10, 10, 1.0) for t in test])

    arms = {a.key: a for a in study.default_arms(True, thresholds=(), online=("medium",), shares=(0.2,))}
    res = {
        "real": result(arms["real"], 0.7, [0.70, 0.71, 0.72]),
        "soft": result(arms["soft@0.2"], 0.71, [0.705, 0.715, 0.725]),
        "classical": result(arms["classical"], 0.69, [0.69, 0.70, 0.71]),
        "online": result(arms["online-medium"], 0.74, [0.72, 0.73, 0.74]),
        "mix": result(arms["online-medium+soft@0.2"], 0.76, [0.73, 0.742, 0.754]),
    }
    out = summarize(res, arms["real"], Protocol(), 3)
    assert out["chosen_on_validation"] == "soft"  # not the mix, though validation ranks it first
    assert out["sanity_state"] == "ok, drawn anew" and "; online: +2.00 points" in out["sanity"]
    assert "mix" not in out["sanity"] and "vs_online" not in out["arms"]["online"]
    assert out["arms"]["mix"]["vs_online"]["mean"] == pytest.approx(0.012)
    assert out["online_combination_chosen_on_validation"] == {"online": "mix"}
    assert out["on_online"].startswith("against online, paired: mix +1.20 points (95 % CI +0.70 to +1.70)")
    assert out["on_online"].endswith("synthetic images add to classical augmentation drawn anew each batch")
    lines = study_lines({"study": out, "n_test": 30})
    assert any(
        line.startswith("On top of classical augmentation drawn anew each batch: against online") for line in lines
    )
    res["mix"] = result(arms["online-medium+soft@0.2"], 0.76, [0.72, 0.73, 0.74])  # no better than the online arm
    assert out["on_online"] != (flat := summarize(res, arms["real"], Protocol(), 3)["on_online"])
    assert flat.endswith(": no gain shown from synthetic images on top of classical augmentation drawn anew each batch")
    # two presets, each with its mix: each mix is read against its own preset, one line each
    two = {a.key: a for a in study.default_arms(True, thresholds=(), online=("light", "medium"), shares=(0.2,))}
    res |= {"light": result(two["online-light"], 0.73, [0.71, 0.72, 0.73]),
            "light mix": result(two["online-light+soft@0.2"], 0.75, [0.70, 0.71, 0.72])}  # fmt: skip
    both = summarize(res, arms["real"], Protocol(), 3)
    assert both["online_combination_chosen_on_validation"] == {"online": "mix", "light": "light mix"}
    assert both["arms"]["light mix"]["vs_online"]["mean"] == pytest.approx(-0.01)
    assert (
        both["on_online"] == f"{flat}. against light, paired: light mix -1.00 points (95 % CI -1.00 to -1.00): "
        "no gain shown from synthetic images on top of classical augmentation drawn anew each batch"
    )


def test_a_study_caches_the_mixed_online_arm_under_its_own_data(sets, tmp_path, trained_arms):
    """The online arm uses the real images alone and is keyed on them; with synthetic images mixed in, the arm is
    keyed on the study's data, and both read back."""
    from srgan.augment.study import run_study
    from srgan.augment.study_cache import REAL_ONLY, StudyCache

    test, data = sets["test"], {"real": sets["real"], "synthetic": sets["synth"]}
    arms = study.default_arms(False, thresholds=(), online=("medium",), shares=(0.2,),
                              keys=("online-medium", "online-medium+soft@0.2"))  # fmt: skip
    cache = StudyCache.of(tmp_path, data, test, FAST)
    first = run_study(data, test, proto=FAST, seeds=[0], arms=arms, cache=cache)
    real_key = cache.narrow[REAL_ONLY][:10]
    assert {f"{real_key}-seed0-online-medium.json", f"{cache.digest[:10]}-seed0-online-medium+soft@0.2.json"} <= {
        p.name for p in tmp_path.iterdir()
    }
    assert trained_arms == ["real", "online-medium", "online-medium+soft@0.2"]
    trained_arms.clear()
    again = run_study(data, test, proto=FAST, seeds=[0], arms=arms, cache=cache)
    assert trained_arms == []
    assert {k: a["runs"] for k, a in again["arms"].items()} == {k: a["runs"] for k, a in first["arms"].items()}
    assert "on_online" in first and "online-medium+soft@0.2" not in first["sanity"]
