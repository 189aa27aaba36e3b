"""GAF (Sec. III): segment attention (eqs. 10-12), the frame-level CVAE (eqs. 5-9, 16), the
alternating phases (Fig. 2), padding, collapse, inference, and the recognition wrapper (Table II)."""

import pytest
import torch
from torch import nn

from vidaction.losses.cvae import cvae_loss, representation_loss
from vidaction.losses.gaf import gaf_recognition_loss
from vidaction.models import create_model
from vidaction.models.detector import TemporalDetector
from vidaction.models.generative.gaf import GenerativeAttention, gaf_for_head
from vidaction.models.generative.segment_attention import attention_weights, masked_group_norm
from vidaction.models.heads.afsd import AFSDHead, InputProjection

TINY = dict(attention_channels=8, norm_groups=2, cvae_channels=4, cvae_hidden=16, latent_size=6)


def frame_gaf(**kw):
    return GenerativeAttention([16, 24], num_classes=3, in_strides=(4, 8), in_spatial=((3, 3), (2, 2)),
                               **{**TINY, **kw})


def frame_inputs(batch=2, requires_grad=False):
    torch.manual_seed(0)
    maps = [torch.randn(batch, 16, 8, 3, 3).relu(), torch.randn(batch, 24, 4, 2, 2).relu()]
    return [m.requires_grad_(requires_grad) for m in maps]


def full_mask(batch=2, steps=32):
    return torch.ones(batch, steps, dtype=torch.bool)


def segment_loss(out):
    """A step-2 loss touching every segment-level output (the detector stands in as sums of its inputs)."""
    parts = [sum(f.pow(2).mean() for f in out.features), sum(f.pow(2).mean() for f in out.nonaction_maps)]
    parts += [l.logsumexp(1).mean() for l in out.segment.action_logits + out.segment.nonaction_logits]
    return sum(parts)


def test_frame_mode_shapes_in_every_phase():
    gaf, maps, mask = frame_gaf(), frame_inputs(), full_mask()
    for phase in ("cvae", "segment"):
        out = gaf.train().set_phase(phase).attend(maps, mask)
        assert out.phase == phase
        assert [f.shape for f in out.features] == [m.shape for m in maps]
        assert [lam.shape for lam in out.segment.lambdas] == [(2, 8), (2, 4)]
        assert [f.shape for f in out.segment.action_features] == [(2, 16), (2, 24)]
        assert all(l.shape == (2, 4) for l in out.segment.action_logits + out.segment.nonaction_logits)
        assert out.segment.collapsed.shape == (2, 2)
        assert [o.reconstruction.shape for o in out.frame] == [m.shape for m in maps]
        assert [o.latent.shape for o in out.frame] == [(2, 8, 6), (2, 4, 6)]
        assert (out.nonaction_maps is None) == (phase == "cvae")
        assert (out.frame[0].posterior_mean is None) == (phase == "segment")
    out = gaf.eval().attend(maps, mask)
    assert out.phase == "inference" and out.frame is None and out.nonaction_maps is None



def test_enhance_gives_the_training_phase_maps_without_its_cvae_pass():
    gaf, maps, mask = frame_gaf(), frame_inputs(), full_mask()
    segment = gaf.train().set_phase("segment").attend(maps, mask)
    state = torch.random.get_rng_state()
    enhanced = gaf.enhance(maps, mask)
    assert torch.equal(torch.random.get_rng_state(), state)  # no prior sample drawn: the CVAE did not run
    assert all(torch.equal(a, b) for a, b in zip(enhanced, segment.features))
    assert gaf.last_output is segment

def test_feature_mode_shapes():
    gaf = GenerativeAttention([32], num_classes=2, in_strides=(1,), in_spatial=(None,), **TINY)
    x, mask = torch.randn(2, 32, 16), full_mask(2, 16)
    for phase in ("cvae", "segment"):
        out = gaf.train().set_phase(phase).attend([x], mask)
        assert out.features[0].shape == x.shape and out.segment.lambdas[0].shape == (2, 16)
        assert out.frame[0].reconstruction.shape == x.shape
        assert out.frame[0].prior_mean.shape == (2, 16, 6)
    assert gaf.eval()([x], mask)[0].shape == x.shape


def test_lambda_lies_in_the_unit_interval_and_is_zero_where_padded():
    gaf, maps = frame_gaf().eval(), frame_inputs()
    mask = full_mask()
    mask[1, 13:] = False
    out = gaf.attend(maps, mask)
    for lam, level_mask in zip(out.segment.lambdas, out.segment.masks):
        assert bool(((lam >= 0) & (lam <= 1)).all())
        assert bool((lam[~level_mask] == 0).all()) and bool((lam[level_mask] > 0).all())
    assert out.segment.masks[0][1].tolist() == [True] * 4 + [False] * 4


def test_pooled_features_and_enhanced_maps_match_a_naive_loop():
    gaf, maps = frame_gaf().eval(), frame_inputs()
    mask = full_mask()
    mask[0, 20:] = False
    out = gaf.attend(maps, mask)
    for i, x in enumerate(maps):
        lam, m = out.segment.lambdas[i], out.segment.masks[i]
        for b in range(2):
            valid = [t for t in range(x.shape[2]) if m[b, t]]
            num = sum(lam[b, t] * x[b, :, t].mean(dim=(1, 2)) for t in valid)
            den = sum(lam[b, t] for t in valid) + gaf.eps
            assert torch.allclose(out.segment.action_features[i][b], num / den, atol=1e-6)
            num = sum((1 - lam[b, t]) * x[b, :, t].mean(dim=(1, 2)) for t in valid)
            den = sum(1 - lam[b, t] for t in valid) + gaf.eps
            assert torch.allclose(out.segment.nonaction_features[i][b], num / den, atol=1e-6)
            mean_lambda = sum(lam[b, t] for t in valid) / len(valid)
            for t in range(x.shape[2]):
                expected = x[b, :, t] * lam[b, t] / mean_lambda if t in valid else torch.zeros_like(x[b, :, t])
                assert torch.allclose(out.features[i][b, :, t], expected, atol=1e-5)
        assert torch.allclose(out.segment.action_logits[i], gaf.classifiers[i](out.segment.action_features[i]))


def test_enhanced_maps_keep_the_scale_of_the_map_per_window():
    """F' = f * lambda / mean(lambda) per window and map: at every position the per-step factors
    F' / f average to 1 over the window's valid steps (those of the non-action map too), so F'
    averaged over the valid steps and over space is f_ai (eq. 11) and a constant lambda gives F' = F;
    a window's F' does not depend on the rest of its batch."""
    gaf = frame_gaf().train().set_phase("segment")
    maps = [m.detach().abs() + 0.5 for m in frame_inputs()]
    mask = full_mask()
    mask[1, 12:] = False
    with torch.no_grad():
        out = gaf.attend(maps, mask)
        alone = gaf.attend([m[1:] for m in maps], mask[1:])
    assert all(lam.std() > 1e-3 for lam in out.segment.lambdas)
    for x, enhanced, nonaction, action, single, level_mask in zip(
            maps, out.features, out.nonaction_maps, out.segment.action_features, alone.features, out.segment.masks):
        valid = level_mask.sum(1).view(2, 1, 1, 1).to(x.dtype)
        for weighted in (enhanced, nonaction):
            assert torch.allclose((weighted / x).sum(dim=2) / valid, torch.ones_like(x[:, :, 0]), atol=1e-5)
            assert bool((weighted[1, :, int(level_mask[1].sum()):] == 0).all())
        assert torch.allclose(enhanced.flatten(3).mean(-1).sum(-1) / valid.view(2, 1), action, atol=1e-5)
        assert torch.allclose(single[0], enhanced[1], atol=1e-5)
    with torch.no_grad():
        for head in gaf.attention_heads:
            head.score.weight.zero_()
        out = gaf.attend(maps, full_mask())
    assert all(torch.allclose(f, x, atol=1e-5) for f, x in zip(out.features + out.nonaction_maps, maps + maps))


def test_the_detector_input_projection_does_not_remove_the_scale_of_its_input():
    """Why F''s normalisation is a choice (module docstring): the head's first layer, a conv with a
    bias and then GroupNorm, gives about the same output for ``F`` and ``F / 8`` (up to GroupNorm's
    epsilon) only while the bias is 0."""
    torch.manual_seed(0)
    projection = InputProjection(16, 32, (3, 3), norm_groups=8)
    x, mask = torch.randn(2, 16, 8, 3, 3), full_mask(2, 8)
    with torch.no_grad():
        nn.init.xavier_uniform_(projection.conv.weight)  # as the head initialises it
        projection.conv.bias.zero_()
        assert torch.allclose(projection(x, mask), projection(x / 8, mask), atol=1e-2)
        projection.conv.bias.uniform_(-0.1, 0.1)
        assert (projection(x, mask) - projection(x / 8, mask)).abs().max() > 0.1


def test_parameter_groups_split_the_module():
    gaf = frame_gaf(learned_prior=True)
    cvae, segment = {id(p) for p in gaf.cvae_parameters()}, {id(p) for p in gaf.segment_parameters()}
    assert cvae and segment and not cvae & segment
    assert cvae | segment == {id(p) for p in gaf.parameters()}


@pytest.mark.parametrize("learned_prior", [False, True])
def test_step_one_trains_the_cvae_only(learned_prior):
    gaf, maps = frame_gaf(learned_prior=learned_prior).train().set_phase("cvae"), frame_inputs(requires_grad=True)
    out = gaf.attend(maps, full_mask())
    assert all(not f.requires_grad for f in out.features + out.segment.lambdas)
    loss, _ = cvae_loss(out.frame)
    loss.backward()
    for p in gaf.cvae_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    assert all(p.grad is None for p in gaf.segment_parameters())
    assert all(m.grad is None for m in maps)
    assert all(p.requires_grad for p in gaf.parameters())


@pytest.mark.parametrize("learned_prior", [False, True])
def test_step_two_trains_the_segment_attention_with_the_cvae_frozen(learned_prior):
    gaf, maps = frame_gaf(learned_prior=learned_prior).train().set_phase("segment"), frame_inputs(requires_grad=True)
    out = gaf.attend(maps, full_mask())
    (segment_loss(out) + representation_loss(out.frame)).backward()
    for p in gaf.segment_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    assert all(p.grad is None for p in gaf.cvae_parameters())
    assert all(m.grad is not None and m.grad.abs().sum() > 0 for m in maps)
    assert all(p.requires_grad for p in gaf.parameters())


def test_the_representation_loss_pulls_on_the_maps_unless_detached():
    """L_R alone reaches the attention heads either way, never the classifiers or the CVAE; by default
    (the authors' code) it also pulls each map towards X_R: the maps' gradient exceeds the detached
    setting's by exactly d/df mean((X_R - f)^2) = -2 (X_R - f) / numel at the same prior sample."""
    gaf = frame_gaf().train().set_phase("segment")
    grads = {}
    for detach in (False, True):
        maps = frame_inputs(requires_grad=True)
        torch.manual_seed(3)
        out = gaf.attend(maps, full_mask())
        assert all(o.target is x for o, x in zip(out.frame, maps))
        representation_loss(out.frame, detach_target=detach).backward()
        for head in gaf.attention_heads:
            assert head.score.weight.grad.abs().sum() > 0
        assert all(p.grad is None for p in [*gaf.classifiers.parameters(), *gaf.cvae_parameters()])
        grads[detach] = ([m.grad for m in maps], [h.score.weight.grad.clone() for h in gaf.attention_heads],
                         [o.reconstruction.detach() for o in out.frame])
        gaf.zero_grad(set_to_none=True)
    (attached, heads_attached, reconstructions), (detached, heads_detached, _) = grads[False], grads[True]
    assert all(torch.allclose(a, b) for a, b in zip(heads_attached, heads_detached))
    for x, a, d, x_r in zip(frame_inputs(), attached, detached, reconstructions):
        assert torch.allclose(a - d, -2 * (x_r - x) / x.numel(), atol=1e-7)
        assert (a - d).abs().sum() > 0


def test_padding_changes_nothing():
    torch.manual_seed(1)
    gaf = frame_gaf().train().set_phase("segment")
    maps = frame_inputs()
    mask = full_mask()
    mask[1, 12:] = False
    noisy = [m.clone() for m in maps]
    noisy[0][1, :, 3:] = 1e3 * torch.randn_like(noisy[0][1, :, 3:])
    noisy[1][1, :, 2:] = -5.0
    first, second = gaf.attend(maps, mask), gaf.attend(noisy, mask)
    for a, b in zip(first.segment.lambdas + first.segment.action_features + first.segment.nonaction_features
                    + first.features + first.nonaction_maps,
                    second.segment.lambdas + second.segment.action_features + second.segment.nonaction_features
                    + second.features + second.nonaction_maps):
        assert torch.allclose(a, b, atol=1e-5)
    # The padded window equals the window cut to its valid steps.
    cut = gaf.eval().attend([maps[0][1:, :, :3], maps[1][1:, :, :2]], full_mask(1, 12))
    padded = gaf.attend(maps, mask)
    assert torch.allclose(cut.segment.lambdas[0][0], padded.segment.lambdas[0][1, :3], atol=1e-6)
    assert torch.allclose(cut.segment.action_logits[1][0], padded.segment.action_logits[1][1], atol=1e-6)
    assert torch.allclose(cut.features[0][0], padded.features[0][1, :, :3], atol=1e-5)


@pytest.mark.parametrize("bias", [-100.0, 100.0])
def test_collapsed_lambda_stays_finite_and_is_flagged(bias):
    gaf, maps = frame_gaf().train().set_phase("segment"), frame_inputs(requires_grad=True)
    with torch.no_grad():
        for head in gaf.attention_heads:
            head.score.weight.zero_()
            head.score.bias.fill_(bias)
    out = gaf.attend(maps, full_mask())
    assert bool(out.segment.collapsed.all()) and out.num_collapsed == 4
    empty = out.segment.action_features if bias < 0 else out.segment.nonaction_features
    for values in out.segment.action_features + out.segment.nonaction_features + out.features + out.nonaction_maps:
        assert torch.isfinite(values).all()
    assert all(float(f.detach().abs().max()) < 1e-30 for f in empty)
    (segment_loss(out) + representation_loss(out.frame)).backward()
    assert all(torch.isfinite(p.grad).all() for p in gaf.segment_parameters())


def test_inference_is_deterministic_by_default_and_samples_on_request():
    gaf, maps, mask = frame_gaf().eval(), frame_inputs(), full_mask()
    with torch.no_grad():
        first, second = gaf(maps, mask), gaf(maps, mask)
        assert all(torch.equal(a, b) for a, b in zip(first, second))
        mean_a, mean_b = gaf.reconstruct(maps, mask), gaf.reconstruct(maps, mask)
        assert all(torch.equal(a.reconstruction, b.reconstruction) for a, b in zip(mean_a, mean_b))
        assert all(torch.equal(o.latent, o.prior_mean) for o in mean_a)
        sampled = gaf.reconstruct(maps, mask, sample=True)
        assert not torch.equal(sampled[0].reconstruction, mean_a[0].reconstruction)
        gaf.sample_prior_at_inference = True
        assert not torch.equal(gaf.reconstruct(maps, mask)[0].latent, mean_a[0].latent)


def test_the_default_prior_is_lambda_with_unit_variance():
    gaf, maps, mask = frame_gaf().train().set_phase("cvae"), frame_inputs(), full_mask()
    out = gaf.attend(maps, mask)
    for o, lam in zip(out.frame, out.segment.lambdas):
        assert torch.equal(o.prior_mean, lam.unsqueeze(-1).expand(-1, -1, 6))
        assert torch.equal(o.prior_logvar, torch.zeros_like(o.prior_logvar))


def test_masked_group_norm_equals_group_norm_and_ignores_padding():
    torch.manual_seed(0)
    norm = nn.GroupNorm(2, 6)
    nn.init.normal_(norm.weight)
    nn.init.normal_(norm.bias)
    x = torch.randn(3, 6, 10)
    assert torch.allclose(masked_group_norm(x, full_mask(3, 10), norm), norm(x), atol=1e-5)
    mask = full_mask(3, 10)
    mask[0, 7:] = False
    out = masked_group_norm(x, mask, norm)
    assert torch.allclose(out[0, :, :7], norm(x[:1, :, :7])[0], atol=1e-5)
    assert bool((out[0, :, 7:] == 0).all())


def test_attention_weights_sum_to_one_over_valid_steps():
    lam = torch.rand(2, 5)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    weights = attention_weights(lam, mask, 1e-6)
    assert torch.allclose(weights.sum(1), torch.ones(2), atol=1e-5) and bool((weights[1, 3:] == 0).all())


def test_bad_inputs_are_explained():
    gaf, maps = frame_gaf(), frame_inputs()
    with pytest.raises(ValueError, match="built for 2 maps, got 1"):
        gaf(maps[:1], full_mask())
    with pytest.raises(ValueError, match=r"features\[0\] \(2, 16, 8, 3, 3\) must be \(2, 16, 6, 3, 3\).*T = 24"):
        gaf(maps, full_mask(2, 24))
    with pytest.raises(ValueError, match=r"features\[1\] \(2, 24, 3, 2, 2\) must be \(2, 24, 4, 2, 2\)"):
        gaf([maps[0], maps[1][:, :, :3]], full_mask())
    with pytest.raises(ValueError, match=r"features\[0\] .* must be \(2, 16, 8, 3, 3\)"):
        gaf([torch.randn(2, 16, 8, 2, 2), maps[1]], full_mask())
    with pytest.raises(ValueError, match="bool"):
        gaf(maps, torch.ones(2, 32))
    with pytest.raises(ValueError, match="phase must be one of"):
        gaf.set_phase("joint")
    with pytest.raises(ValueError, match="needs the frame-level GAF"):
        frame_gaf(use_cvae=False).set_phase("cvae")
    with pytest.raises(ValueError, match="GroupNorm"):
        frame_gaf(attention_channels=9)


def test_without_cvae_and_after_deploy():
    maps, mask = frame_inputs(), full_mask()
    plain = frame_gaf(use_cvae=False).train()
    out = plain.attend(maps, mask)
    assert out.frame is None and out.nonaction_maps is not None and not plain.cvae_parameters()
    gaf = frame_gaf().eval()
    before = gaf(maps, mask)
    count = sum(p.numel() for p in gaf.parameters())
    gaf.deploy()
    assert sum(p.numel() for p in gaf.parameters()) < count and gaf.cvae is None
    assert all(torch.equal(a, b) for a, b in zip(before, gaf(maps, mask)))
    with pytest.raises(ValueError, match="needs the frame-level GAF"):
        gaf.reconstruct(maps, mask)


def test_float64_inputs_give_float64_outputs():
    gaf, maps = frame_gaf().double().train().set_phase("segment"), [m.double() for m in frame_inputs()]
    out = gaf.attend(maps, full_mask())
    assert all(t.dtype == torch.float64 for t in out.features + out.segment.lambdas + [out.frame[0].reconstruction])


def test_sized_from_an_afsd_head_and_used_by_the_detector():
    head = AFSDHead((16, 24), num_classes=3, in_strides=(4, 8), in_spatial=((3, 3), (2, 2)), num_levels=3,
                    channels=16, proposal_channels=8, frame_channels=16, norm_groups=4)
    gaf = gaf_for_head(head, **TINY)
    assert gaf.in_channels == (16, 24) and gaf.in_strides == (4, 8) and gaf.in_spatial == ((3, 3), (2, 2))
    assert gaf.num_classes == 3
    detector = TemporalDetector(head, attention=gaf).train()
    maps = frame_inputs()
    output = detector.head(detector.attention(maps, full_mask()), full_mask())
    assert detector.attention.last_output.phase == "segment"
    output.cls_logits.sum().backward()
    assert all(p.grad is not None for p in gaf.attention_heads.parameters())


def test_recognition_wrapper_shapes_interface_and_pooling():
    model = create_model("gaf_i3d", num_classes=4, num_frames=16, base_width=8, dropout=0.0).eval()
    clip = torch.randn(2, 3, 16, 32, 32)
    with torch.no_grad():
        out = model(clip, return_attention=True)
        assert torch.equal(model(clip), out.scores)
    assert out.scores.shape == (2, 4) and out.action_logits.shape == out.nonaction_logits.shape == (2, 5)
    assert torch.equal(out.scores, out.action_logits[:, 1:])
    assert out.lambdas.shape == (2, 2) and out.collapsed.shape == (2,)
    assert model.classifier_prefix == "trunk.logits." and model.feature_info == model.trunk.feature_info
    with torch.no_grad():
        features = model.forward_features(clip)
        pooled = features["Mixed_5c"].mean(dim=(3, 4))
        f_ai = (pooled * out.lambdas[:, None]).sum(-1) / (out.lambdas.sum(-1, keepdim=True) + model.eps)
        expected = model.trunk.logits(f_ai[:, :, None, None, None]).flatten(1)
    assert torch.allclose(out.action_logits, expected, atol=1e-5)
    model.reset_classifier(6)
    assert model(clip).shape == (2, 6)
    with pytest.raises(ValueError, match="one head"):
        create_model("gaf_i3d", num_classes=(3, 4), num_frames=16, base_width=8)



def test_recognition_enhanced_maps_weight_the_last_map_by_lambda():
    torch.manual_seed(0)
    model = create_model("gaf_tsm_r50", num_classes=3, num_frames=8, base_width=8, input_size=64, dropout=0.0).eval()
    clip = torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        features = model.forward_features(clip)
        original, action, nonaction, lambdas = model.enhanced_maps(features)
    steps = original.shape[2]
    assert original.shape == action.shape == nonaction.shape and lambdas.shape == (1, steps)
    assert torch.allclose(original, features[model.feature_name].mean(dim=(3, 4)))
    weights = lambdas / (lambdas.sum(-1, keepdim=True) + model.eps)
    assert torch.allclose(action, original * steps * weights[:, None], atol=1e-6)
    # The action- and non-action-weighted maps add up to twice the map where lambda is constant.
    torch.nn.init.zeros_(model.attention_head.score.weight)
    with torch.no_grad():
        original, action, nonaction, lambdas = model.enhanced_maps(features)
    assert torch.allclose(lambdas, lambdas[:, :1].expand_as(lambdas))
    assert torch.allclose(action, original, atol=1e-5) and torch.allclose(nonaction, original, atol=1e-5)

def test_recognition_wrapper_trains():
    torch.manual_seed(0)
    model = create_model("gaf_i3d", num_classes=3, num_frames=16, base_width=8, dropout=0.0).train()
    clip, labels = torch.randn(2, 3, 16, 32, 32), torch.tensor([0, 2])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(4):
        loss, terms = gaf_recognition_loss(model(clip, return_attention=True), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]
    assert set(terms) == {"clf_ai", "clf_nai"}
    assert model.attention_head.score.weight.grad.abs().sum() > 0


def test_backbone_weights_load_into_the_trunk_of_a_gaf_classifier():
    from vidaction.models import create_model, load_pretrained

    torch.manual_seed(0)
    port = create_model("inception_i3d_tiny", num_classes=400, num_frames=8)
    wrapped = create_model("gaf_i3d", num_classes=5, num_frames=8, base_width=8)
    report = load_pretrained(wrapped, port.state_dict())
    assert not report.missing and not report.unexpected and any("classifier" in note for note in report.notes)
    own = wrapped.trunk.state_dict()
    assert all(torch.equal(value, own[key]) for key, value in port.state_dict().items() if not key.startswith("logits."))
    again = load_pretrained(create_model("gaf_i3d", num_classes=5, num_frames=8, base_width=8), wrapped.state_dict())
    assert again.clean


@pytest.mark.parametrize("preset, generic", [
    (("gaf_i3d", 8, {"base_width": 8}),
     ("i3d", {"base_width": 8, "in_channels": 3}, {"attention_channels": 64})),
    (("gaf_tsm_r50", 8, {"base_width": 8, "input_size": 64, "shift_div": 4, "dropout": 0.2}),
     ("tsm_r50", {"base_width": 8, "input_size": 64, "shift_div": 4, "in_channels": 3},
      {"attention_channels": 64, "dropout": 0.2})),
])
def test_presets_are_the_generic_wrapper(preset, generic):
    name, frames, options = preset
    torch.manual_seed(0)
    expected = create_model(name, num_classes=5, num_frames=frames, **options)
    backbone, backbone_options, wrapper_options = generic
    torch.manual_seed(0)
    model = create_model("gaf_classifier", 5, frames, backbone=backbone, backbone_options=backbone_options,
                         **wrapper_options)
    state, again = expected.state_dict(), model.state_dict()
    assert list(state) == list(again) and all(torch.equal(state[key], again[key]) for key in state)
    assert expected.arch["name"] == name and model.arch["kwargs"]["backbone"] == backbone
    assert model.trunk.arch["name"] == backbone and model.trunk.arch["kwargs"]["num_classes"] == 6


def test_generic_wrapper_attends_an_earlier_stage_with_a_classifier_of_its_own():
    torch.manual_seed(0)
    model = create_model("gaf_classifier", 3, 8, backbone="i3d_tiny", stage="layer3", dropout=0.0).eval()
    channels = {info["name"]: info["num_chs"] for info in model.feature_info}["layer3"]
    assert model.feature_name == "layer3" and model.classifier_prefix == "classifier."
    assert model.classifier.in_features == channels and model.attention_head.theta.in_channels == channels
    assert model.attention_head.theta.out_channels == channels // 2
    clip = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        out = model(clip, return_attention=True)
        pooled = model.forward_features(clip)["layer3"].mean(dim=(3, 4))
    f_ai = (pooled * out.lambdas[:, None]).sum(-1) / (out.lambdas.sum(-1, keepdim=True) + model.eps)
    assert torch.allclose(out.action_logits, model.classifier(f_ai), atol=1e-5) and out.scores.shape == (2, 3)
    model.reset_classifier(4)
    assert model.classifier.out_features == 5 and model(clip).shape == (2, 4)
    with pytest.raises(ValueError, match="stage 'layer9' is not a stage of the backbone"):
        create_model("gaf_classifier", 3, 8, backbone="i3d_tiny", stage="layer9")
    with pytest.raises(ValueError, match="dropout as its own argument"):
        create_model("gaf_classifier", 3, 8, backbone="i3d_tiny", backbone_options={"dropout": 0.1})


def test_sized_from_input_specs():
    specs = AFSDHead((16, 24), num_classes=3, in_strides=(4, 8), in_spatial=((3, 3), None), num_levels=3,
                     channels=16, proposal_channels=8, frame_channels=16, norm_groups=4).input_spec
    gaf = GenerativeAttention.for_inputs(specs, 3, **TINY)
    assert gaf.in_channels == (16, 24) and gaf.in_strides == (4, 8) and gaf.in_spatial == ((3, 3), None)
