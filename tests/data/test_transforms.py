"""Clip transforms: one set of parameters per clip, TSN crop semantics, label-swapping flips, views, statistics."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vidaction.config import ConfigError, DataConfig
from vidaction.data.transforms import (CenterCrop, MultiScaleCrop, Normalize, RandomHorizontalFlip, RandomResizedCrop,
                                       Resize, TenCrop, ThreeCrop, build_test_transform, build_train_transform, flip_label_map,
                                       resize_frames)


def random_clip(t=4, h=60, w=80, seed=0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8))


def still_clip(t=5, h=60, w=80) -> torch.Tensor:
    """The same random frame ``t`` times: any per-frame difference after a transform is a bug."""
    return random_clip(1, h, w).expand(t, h, w, 3).contiguous()


def rng(seed=0) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.mark.parametrize("transform", [MultiScaleCrop(32), MultiScaleCrop(32, fix_crop=False), RandomResizedCrop(32),
                                       RandomHorizontalFlip(0.5), build_train_transform(DataConfig(input_size=32,
                                                                                                   resize_short=40))],
                         ids=["multiscale", "multiscale-free", "random-resized", "flip", "train-pipeline"])
def test_one_set_of_random_parameters_per_clip(transform):
    clip = still_clip()
    for seed in range(10):
        out, _ = transform(clip, 0, rng(seed))
        frames = out.transpose(0, 1) if out.dtype == torch.float32 else out
        assert all(torch.equal(frames[0], frames[t]) for t in range(1, 5))


def test_resize_short_side_vectorised_uint8():
    clip = random_clip()
    out, label = Resize(40)(clip, 7, rng())
    assert out.shape == (4, 40, 53, 3) and out.dtype == torch.uint8 and label == 7
    reference = F.interpolate(clip.permute(0, 3, 1, 2).float(), size=(40, 53), mode="bilinear", antialias=True)
    assert (out.permute(0, 3, 1, 2).float() - reference).abs().max() <= 1.0
    assert Resize(60)(clip, 0, rng())[0] is clip
    assert resize_frames(clip.unsqueeze(0).expand(3, -1, -1, -1, -1), 30, 40).shape == (3, 4, 30, 40, 3)


def test_multiscale_crop_follows_tsn():
    crop = MultiScaleCrop(48)
    sizes = [int(60 * s) for s in crop.scales]
    sizes = [48 if abs(s - 48) < 3 else s for s in sizes]
    assert sizes == [60, 52, 45, 39]
    seen_offsets = set()
    for seed in range(300):
        top, left, ch, cw = crop.get_params(60, 80, rng(seed))
        assert ch in sizes and cw in sizes and abs(sizes.index(ch) - sizes.index(cw)) <= 1
        assert (top, left) in crop.fixed_offsets(60, 80, ch, cw)
        seen_offsets.add((sizes.index(ch), sizes.index(cw), top, left))
    assert len(crop.fixed_offsets(60, 80, 45, 45)) == 13
    assert len(MultiScaleCrop(48, more_fix_crop=False).fixed_offsets(60, 80, 45, 45)) == 5
    assert crop.fixed_offsets(60, 80, 52, 60)[:5] == [(0, 0), (0, 20), (8, 0), (8, 20), (4, 10)]
    assert len(seen_offsets) > 50
    clip = random_clip()
    out, _ = crop(clip, 0, rng(3))
    top, left, ch, cw = crop.get_params(60, 80, rng(3))
    assert torch.equal(out, resize_frames(clip[:, top:top + ch, left:left + cw], 48, 48))


def test_random_resized_crop_area_ratio_and_fallback():
    crop = RandomResizedCrop(32, scale=(0.2, 0.6), ratio=(0.5, 2.0))
    for seed in range(200):
        top, left, ch, cw = crop.get_params(100, 120, rng(seed))
        assert 0 <= top <= 100 - ch and 0 <= left <= 120 - cw
        assert 0.18 <= ch * cw / 12000 <= 0.62
        assert 0.45 <= cw / ch <= 2.2
    impossible = RandomResizedCrop(32, scale=(2.0, 3.0))
    assert impossible.get_params(60, 200, rng()) == (0, 60, 60, 80)
    assert impossible.get_params(60, 70, rng()) == (0, 0, 60, 70)
    assert impossible(random_clip(), 0, rng())[0].shape == (4, 32, 32, 3)


def test_center_and_three_crop():
    clip = random_clip(h=40, w=60)
    center, _ = CenterCrop(30)(clip, 0, rng())
    assert torch.equal(center, clip[:, 5:35, 15:45])
    views, _ = ThreeCrop(40)(clip, 0, rng())
    assert views.shape == (3, 4, 40, 40, 3)
    assert [torch.equal(views[k], clip[:, :, x:x + 40]) for k, x in enumerate((0, 10, 20))] == [True] * 3
    tall = clip.transpose(1, 2)
    views, _ = ThreeCrop(30)(tall, 0, rng())
    assert [torch.equal(views[k], tall[:, y:y + 30, 5:35]) for k, y in enumerate((0, 15, 30))] == [True] * 3
    with pytest.raises(ValueError, match="smaller than the crop"):
        CenterCrop(50)(clip, 0, rng())


def test_flip_mirrors_and_swaps_mirrored_classes():
    classes = ["left_to_right", "right_to_left", "other"]
    mapping = flip_label_map([["left_to_right", "right_to_left"]], classes)
    assert mapping == {0: 1, 1: 0}
    clip = random_clip()
    flipped, label = RandomHorizontalFlip(1.0, mapping)(clip, 0, rng())
    assert label == 1 and torch.equal(flipped, clip.flip(2))
    assert RandomHorizontalFlip(1.0, mapping)(clip, 2, rng())[1] == 2
    kept, label = RandomHorizontalFlip(0.0, mapping)(clip, 1, rng())
    assert kept is clip and label == 1
    generator = rng(5)
    labels = [RandomHorizontalFlip(0.5, mapping)(clip, 0, generator)[1] for _ in range(100)]
    assert 30 < sum(labels) < 70
    with pytest.raises(ValueError, match="unknown class 'up'"):
        flip_label_map([["up", "other"]], classes)


def test_normalize_layout_and_statistics():
    clip = torch.zeros(2, 4, 5, 3, dtype=torch.uint8)
    clip[..., 0], clip[..., 1], clip[..., 2] = 0, 51, 255
    out, label = Normalize([0.1, 0.2, 0.3], [0.5, 0.25, 0.7])(clip, 3, rng())
    assert out.shape == (3, 2, 4, 5) and out.dtype == torch.float32 and out.is_contiguous() and label == 3
    expected = [(0 - 0.1) / 0.5, (0.2 - 0.2) / 0.25, (1.0 - 0.3) / 0.7]
    assert torch.allclose(out.mean(dim=(1, 2, 3)), torch.tensor(expected), atol=1e-6)
    assert out.std(dim=(1, 2, 3)).max() < 1e-6
    views = torch.full((3, 2, 4, 5, 3), 255, dtype=torch.uint8)
    assert Normalize([0, 0, 0], [1, 1, 1])(views, 0, rng())[0].shape == (3, 3, 2, 4, 5)
    natural = random_clip(t=8, h=64, w=64)
    mean, std = natural.float().mean(dim=(0, 1, 2)) / 255, natural.float().std(dim=(0, 1, 2)) / 255
    normalised, _ = Normalize(mean.tolist(), std.tolist())(natural, 0, rng())
    assert torch.allclose(normalised.mean(dim=(1, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(normalised.std(dim=(1, 2, 3)), torch.ones(3), atol=1e-4)
    source = torch.rand(2, 4, 5, 3)
    Normalize([0.5] * 3, [0.5] * 3)(source, 0, rng())
    assert source.min() >= 0


@pytest.mark.parametrize("train_crop", ["multiscale", "random_resized", "center", "scale_jitter"])
def test_built_pipelines_shapes_and_reproducibility(train_crop):
    cfg = DataConfig(input_size=32, resize_short=40, train_crop=train_crop, test_crops=3,
                     short_side_range=[32, 48] if train_crop == "scale_jitter" else [])
    clip = random_clip()
    train = build_train_transform(cfg)
    a, _ = train(clip, 0, rng(4))
    assert a.shape == (3, 4, 32, 32) and a.dtype == torch.float32
    assert torch.equal(a, train(clip, 0, rng(4))[0])
    test, _ = build_test_transform(cfg)(clip, 0, rng())
    assert test.shape == (3, 3, 4, 32, 32)
    single, _ = build_test_transform(DataConfig(input_size=32, resize_short=40))(clip, 0, rng())
    assert single.shape == (3, 4, 32, 32)


def test_train_pipeline_returns_the_flipped_label():
    cfg = DataConfig(input_size=32, resize_short=40, train_crop="center")
    train = build_train_transform(cfg, {0: 1, 1: 0})
    labels = {train(still_clip(), 0, rng(seed))[1] for seed in range(20)}
    assert labels == {0, 1}
    no_flip = build_train_transform(DataConfig(input_size=32, resize_short=40, flip=False), {0: 1, 1: 0})
    assert {no_flip(still_clip(), 0, rng(seed))[1] for seed in range(20)} == {0}


def test_ten_crop_is_corners_centre_and_their_mirrors():
    clip = random_clip(h=40, w=60)
    views, label = TenCrop(30)(clip, 3, rng())
    assert views.shape == (10, 4, 30, 30, 3) and label == 3
    corners = [(0, 0), (0, 30), (10, 0), (10, 30), (5, 15)]
    for k, (top, left) in enumerate(corners):
        assert torch.equal(views[k], clip[:, top:top + 30, left:left + 30])
        assert torch.equal(views[k + 5], clip[:, top:top + 30, left:left + 30].flip(2))


def test_full_resolution_and_ten_crop_test_pipelines():
    clip = random_clip(h=60, w=80)
    full, _ = build_test_transform(DataConfig(input_size=32, resize_short=40, test_crop_size=40))(clip, 0, rng())
    assert full.shape == (3, 4, 40, 40)
    full3, _ = build_test_transform(DataConfig(input_size=32, resize_short=40, test_crop_size=40,
                                               test_crops=3))(clip, 0, rng())
    assert full3.shape == (3, 3, 4, 40, 40)
    ten, _ = build_test_transform(DataConfig(input_size=32, resize_short=40, test_crops=10))(clip, 0, rng())
    assert ten.shape == (10, 3, 4, 32, 32)


def test_test_view_settings_are_validated():
    from vidaction.config import ConfigError

    with pytest.raises(ConfigError, match="test_crop_size"):
        DataConfig(input_size=32, resize_short=40, test_crop_size=48)
    with pytest.raises(ConfigError, match="test_crops=10 mirrors"):
        DataConfig(test_crops=10, flip=False)
    with pytest.raises(ConfigError, match="test_crops"):
        DataConfig(test_crops=5)


def test_scale_jitter_draws_the_short_side_from_its_range():
    from vidaction.data.transforms import RandomCrop, RandomShortSideScale

    clip = random_clip(h=40, w=60)
    sides = {RandomShortSideScale(32, 36)(clip, 0, rng(seed))[0].shape[-3] for seed in range(40)}
    assert sides == {32, 33, 34, 35, 36}
    resized, _ = RandomShortSideScale(30, 30)(clip, 0, rng())
    assert resized.shape[-3:-1] == (30, 45)
    crops = {tuple(RandomCrop(20)(clip, 0, rng(seed))[0][0, :2, :2, 0].flatten().tolist()) for seed in range(10)}
    assert len(crops) > 1
    with pytest.raises(ValueError, match="smaller than the crop 50"):
        RandomCrop(50)(clip, 0, rng())
    with pytest.raises(ConfigError, match=r"scale_jitter needs data.short_side_range=\[min, max\]"):
        DataConfig(input_size=224, train_crop="scale_jitter", short_side_range=[200, 320])
