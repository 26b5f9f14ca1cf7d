"""Training data: deterministic samples, disjoint shards, the degradation pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from srgan.data import PatchDataset, SampleSampler
from srgan.data.tensors import array_to_tensor
from srgan.errors import DataError
from srgan.imageio import write_image
from srgan.metrics.protocol import make_lr


def test_items_are_a_function_of_seed_and_index(images):
    a = PatchDataset(images, scale=4, patch_size=64, seed=3)
    b = PatchDataset(images, scale=4, patch_size=64, seed=3)
    c = PatchDataset(images, scale=4, patch_size=64, seed=4)
    for k in (0, 17, 10**9):
        assert all(torch.equal(x, y) for x, y in zip(a[k], b[k], strict=True))
    assert not torch.equal(a[5][1], c[5][1])


def test_lr_patch_is_the_aligned_crop_of_the_benchmark_lr(images):
    ds = PatchDataset(images, scale=4, patch_size=64, seed=0, augment=False)
    lr, hr = ds[11]
    assert lr.shape == (3, 16, 16) and hr.shape == (3, 64, 64)
    # Find the crop in one of the images and check its LR is the MATLAB LR of the whole image.
    for _, img in images:
        full_lr = array_to_tensor(make_lr(img, 4, "basicsr"))
        hr_full = array_to_tensor(img)
        for y in range(0, img.shape[0] // 4 - 15):
            for x in range(0, img.shape[1] // 4 - 15):
                if torch.equal(hr_full[:, y * 4 : y * 4 + 64, x * 4 : x * 4 + 64], hr):
                    assert torch.equal(full_lr[:, y : y + 16, x : x + 16], lr)
                    return
    pytest.fail("patch not found in any image")


def test_sampler_shards_are_disjoint_and_cover_each_batch():
    one = list(SampleSampler(global_batch=8, start=3, end=6))
    r0 = list(SampleSampler(global_batch=8, start=3, end=6, rank=0, world_size=2))
    r1 = list(SampleSampler(global_batch=8, start=3, end=6, rank=1, world_size=2))
    assert one == list(range(24, 48))
    assert not set(r0) & set(r1) and sorted(r0 + r1) == one
    with pytest.raises(DataError):
        SampleSampler(global_batch=6, start=0, end=1, world_size=4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (AMP runs only on CUDA)")
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_training_on_cuda(tmp_path, images, amp):
    from conftest import REPO

    from srgan.train import load_config, train

    d = tmp_path / "hr"
    write_image(d / "a.png", images[0][1])
    cfg = load_config(REPO / "tests" / "configs" / "tiny.toml", [f'data.train_dirs=["{d}"]', f'train.amp="{amp}"',
                                                       'train.device="cuda"', "train.iterations=6"])  # fmt: skip
    result = train(cfg, tmp_path / "run")
    assert result["iteration"] == 6


def test_data_exclude_holds_images_out_of_training(tmp_path, astronaut, coffee):
    """data.exclude: FOLDER[::K] (benchmarks' validation syntax) or FOLDER never reaches the trainer's dataset."""
    from conftest import REPO

    from srgan.data import select_images
    from srgan.errors import ConfigError
    from srgan.train import load_config
    from srgan.train.sr_trainer import Trainer

    hr = tmp_path / "hr"
    hr.mkdir()
    crops = [astronaut[:160, :160], astronaut[200:360, 200:360], coffee[:160, :160], coffee[100:260, 200:360]]
    for i, crop in enumerate(crops):
        write_image(hr / f"{i}.png", crop)
    assert [f.name for f in select_images(f"{hr}[::2]")] == ["0.png", "2.png"]
    tiny = REPO / "tests" / "configs" / "tiny.toml"
    data = f'data.train_dirs=["{hr}"]'

    def trained_on(*overrides: str) -> list[str]:
        trainer = Trainer(load_config(tiny, [data, *overrides]), tmp_path / "run", overwrite=True)
        return sorted(Path(name).name for name, _ in trainer.dataset.images)

    assert trained_on() == ["0.png", "1.png", "2.png", "3.png"]
    assert trained_on(f'data.exclude=["{hr}[::2]"]') == ["1.png", "3.png"]
    other = tmp_path / "other"
    other.mkdir()
    write_image(other / "x.png", crops[0])  # the same pixels under another path: not a training image
    with pytest.raises(ConfigError, match=r"data\.exclude: none of the 1 images of .*other is in data\.train_dirs"):
        trained_on(f'data.exclude=["{other}"]')
    with pytest.raises(ConfigError, match=r"data\.exclude: .*missing\[::3\]: folder .*missing does not exist"):
        trained_on(f'data.exclude=["{tmp_path / "missing"}[::3]"]')
