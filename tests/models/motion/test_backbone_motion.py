"""Prime motion blocks inside R2D / R(2+1)D (``motion="pmb"``): placement, residual fusion of each level's
motion features, motion features per level, and Table 2's MAC ratios."""

import pytest
import torch

from vidaction.models import create_model
from vidaction.models.flops import count_macs
from vidaction.models.motion.prime_motion import PrimeMotionBlock


def test_blocks_close_the_motion_levels_and_fuse_their_motion_from_the_start():
    torch.manual_seed(0)
    plain = create_model("r2d_tiny", num_classes=3, num_frames=8).eval()
    motion = create_model("r2d_tiny", num_classes=3, num_frames=8, motion="pmb").eval()
    blocks = [name for name, m in motion.named_modules() if isinstance(m, PrimeMotionBlock)]
    assert blocks == ["layer1.1", "layer2.1", "layer3.1"] and motion.motion_levels == ("res2", "res3", "res4")
    report = motion.load_state_dict(plain.state_dict(), strict=False)
    assert not report.unexpected_keys and all(k.split(".")[1] == "1" for k in report.missing_keys)
    x = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        # Z^l = F^l + g^l(P^l) with g^l != 0 at initialisation (Sec. 3.1): the motion reaches the scores.
        assert not torch.allclose(motion(x), plain(x), atol=1e-4)
        shapes = {name: tuple(p.shape) for name, p in motion.motion_features().items()}
        assert shapes == {"res2": (2, 8, 8, 8, 8), "res3": (2, 16, 4, 4, 4), "res4": (2, 32, 2, 2, 2)}
        for block in motion.motion_blocks().values():
            block.g[1].weight.zero_()
            block.g[1].bias.zero_()
        assert torch.allclose(motion(x), plain(x), atol=1e-6)  # without g, the plain backbone


def test_motion_features_carry_gradients_and_levels_are_validated():
    torch.manual_seed(0)
    model = create_model("r2plus1d_tiny", num_classes=3, num_frames=8, motion="pmb", motion_levels=("res3", "res5"))
    model(torch.randn(2, 3, 8, 32, 32))
    sum(p.square().sum() for p in model.motion_features().values()).backward()
    assert model.layer2[-1].fuse[0].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=r"motion_levels \['res6'\] are not stages"):
        create_model("r2d_tiny", num_classes=3, num_frames=8, motion="pmb", motion_levels=("res6",))
    with pytest.raises(ValueError, match="motion must be None or 'pmb'"):
        create_model("r2d_tiny", num_classes=3, num_frames=8, motion="flow")


@pytest.mark.parametrize("name, frames, paper", [("r2d_r50", 16, 1.18), ("r2plus1d_r101", 32, 1.11)])
def test_macs_ratio_matches_table_2(name, frames, paper):
    with torch.device("meta"):
        base = create_model(name, num_classes=400, num_frames=frames)
        motion = create_model(name, num_classes=400, num_frames=frames, motion="pmb")
    base_macs, _ = count_macs(base, (1, 3, frames, 224, 224))
    motion_macs, _ = count_macs(motion, (1, 3, frames, 224, 224))
    assert abs(motion_macs / base_macs - paper) <= 0.03


def test_clips_and_maps_too_small_for_the_motion_levels_fail_at_build_time():
    with pytest.raises(ValueError, match="clips need at least 2 frames, got num_frames=1"):
        create_model("r2d_tiny", num_classes=3, num_frames=1, motion="pmb")
    with pytest.raises(ValueError, match=r"motion level res4 sees 1 frame\(s\) of a 4-frame clip"):
        create_model("r2d_tiny", num_classes=3, num_frames=4, motion="pmb")
    with pytest.raises(ValueError, match=r"motion level res4: a 112x112 input gives 7x7 feature maps, smaller than "
                                         r"the cost volume's 13x13 search window \(d=6, s=2\)"):
        create_model("r2d_r50", num_classes=3, num_frames=16, motion="pmb", input_size=112)
    create_model("r2d_tiny", num_classes=3, num_frames=16, motion="pmb", input_size=112, motion_max_displacement=2)
    create_model("r2d_tiny", num_classes=3, num_frames=16, motion="pmb", input_size=224)


def test_hcml_net_predicts_every_future_step_of_the_lower_level_by_default():
    from vidaction.models.motion.hcml import HCMLNet

    net = HCMLNet(create_model("r2d_tiny", num_classes=3, num_frames=8, motion="pmb"))
    # res2, res3, res4 have 8, 4, 2 steps: res3 predicts res2's 7 future steps, res4 res3's 3.
    assert net.steps == {"res3": 7, "res4": 3}
    assert {level: (p.steps, p.temporal_stride) for level, p in net.predictors.items()} == {"res3": (7, 2),
                                                                                            "res4": (3, 2)}
    assert HCMLNet(create_model("r2d_tiny", num_classes=3, num_frames=8, motion="pmb"), steps=3).steps == {
        "res3": 3, "res4": 3}
    with pytest.raises(ValueError, match="contrastive level res4 predicts res3, which has 4 time steps for a 8-frame "
                                         "clip: at most 3 steps ahead, got steps=4"):
        HCMLNet(create_model("r2d_tiny", num_classes=3, num_frames=8, motion="pmb"), steps=4)
    stages = HCMLNet(create_model("r2d_tiny", num_classes=3, num_frames=16, motion="pmb")).progressive_stages()
    assert [(s.name, s.level, s.loss) for s in stages] == [
        ("level0", "res2", "reconstruct"), ("level1", "res3", "contrastive_res3"), ("level2", "res4", "contrastive_res4")]
