"""Loading official TSM checkpoints, torchvision ResNets and our own format, checked numerically.

The key layouts are written here from the published architectures (not from our model), and the
reference forward is a functional re-statement of TSM from the raw official-layout tensors.
"""

import pytest
import torch
import torch.nn.functional as F

from vidaction.models import create_model, load_pretrained
from vidaction.models.pretrained import convert_checkpoint

SPECS = {"r18": ("basic", (2, 2, 2, 2)), "r50": ("bottleneck", (3, 4, 6, 3))}


def resnet_layout(depth, num_classes, width=64):
    """torchvision ResNet parameter names and shapes (v1.5), in order."""
    kind, layers = SPECS[depth]
    expansion = 4 if kind == "bottleneck" else 1
    shapes = {"conv1.weight": (width, 3, 7, 7)}

    def bn(prefix, c):
        for k in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.{k}"] = (c,)
        shapes[f"{prefix}.num_batches_tracked"] = ()

    bn("bn1", width)
    cin = width
    for i, count in enumerate(layers):
        planes = width * 2 ** i
        for b in range(count):
            p = f"layer{i + 1}.{b}"
            if kind == "basic":
                convs = [(planes, cin, 3), (planes, planes, 3)]
            else:
                convs = [(planes, cin, 1), (planes, planes, 3), (planes * 4, planes, 1)]
            for j, (co, ci, k) in enumerate(convs, 1):
                shapes[f"{p}.conv{j}.weight"] = (co, ci, k, k)
                bn(f"{p}.bn{j}", co)
            if b == 0 and (i > 0 or cin != planes * expansion):
                shapes[f"{p}.downsample.0.weight"] = (planes * expansion, cin, 1, 1)
                bn(f"{p}.downsample.1", planes * expansion)
            cin = planes * expansion
    shapes["fc.weight"] = (num_classes, cin)
    shapes["fc.bias"] = (num_classes,)
    return shapes


def random_state(shapes, seed=0):
    g = torch.Generator().manual_seed(seed)
    state = {}
    for k, s in shapes.items():
        if k.endswith("num_batches_tracked"):
            state[k] = torch.tensor(100)
        elif k.endswith("running_var"):
            state[k] = torch.rand(s, generator=g) + 0.5
        elif k.endswith(("bn1.weight", "bn2.weight", "bn3.weight", "1.weight")) and len(s) == 1:
            state[k] = torch.rand(s, generator=g) + 0.5
        else:
            state[k] = torch.randn(s, generator=g) * (0.1 if len(s) == 4 else 0.05)
    return state


def to_official_tsm(state):
    """Rename a torchvision-layout state dict the way the official TSM repository saves it."""
    out = {}
    for k, v in state.items():
        if k.startswith("fc."):
            out["module.new_fc." + k[3:]] = v
            continue
        parts = k.split(".")
        if parts[0].startswith("layer") and parts[2] == "conv1":
            k = ".".join(parts[:3] + ["net"] + parts[3:])
        out["module.base_model." + k] = v
    return {"epoch": 50, "arch": "resnet", "state_dict": out, "best_prec1": 0.0}


def reference_tsm(state, x, num_frames, depth):
    """TSM forward from raw torchvision-layout tensors with torch.nn.functional only."""
    kind, layers = SPECS[depth]

    def bn(t, p):
        return F.batch_norm(t, state[f"{p}.running_mean"], state[f"{p}.running_var"], state[f"{p}.weight"],
                            state[f"{p}.bias"], False, 0.0, 1e-5)

    def shift(t):
        nt, c, h, w = t.shape
        v = t.view(nt // num_frames, num_frames, c, h, w)
        fold = c // 8
        out = torch.zeros_like(v)
        out[:, :-1, :fold] = v[:, 1:, :fold]
        out[:, 1:, fold:2 * fold] = v[:, :-1, fold:2 * fold]
        out[:, :, 2 * fold:] = v[:, :, 2 * fold:]
        return out.view(nt, c, h, w)

    n, c, t, h, w = x.shape
    out = x.transpose(1, 2).reshape(n * t, c, h, w)
    out = F.max_pool2d(F.relu(bn(F.conv2d(out, state["conv1.weight"], stride=2, padding=3), "bn1")), 3, 2, 1)
    for i, count in enumerate(layers):
        for b in range(count):
            p = f"layer{i + 1}.{b}"
            stride = 2 if (i > 0 and b == 0) else 1
            identity = out
            if f"{p}.downsample.0.weight" in state:
                identity = bn(F.conv2d(out, state[f"{p}.downsample.0.weight"], stride=stride), f"{p}.downsample.1")
            r = shift(out)
            if kind == "basic":
                r = F.relu(bn(F.conv2d(r, state[f"{p}.conv1.weight"], stride=stride, padding=1), f"{p}.bn1"))
                r = bn(F.conv2d(r, state[f"{p}.conv2.weight"], padding=1), f"{p}.bn2")
            else:
                r = F.relu(bn(F.conv2d(r, state[f"{p}.conv1.weight"]), f"{p}.bn1"))
                r = F.relu(bn(F.conv2d(r, state[f"{p}.conv2.weight"], stride=stride, padding=1), f"{p}.bn2"))
                r = bn(F.conv2d(r, state[f"{p}.conv3.weight"]), f"{p}.bn3")
            out = F.relu(r + identity)
    pooled = out.mean(dim=(2, 3))
    logits = F.linear(pooled, state["fc.weight"], state["fc.bias"])
    return logits.view(n, t, -1).mean(1)


@pytest.mark.parametrize("depth", ["r18", "r50"])
def test_official_tsm_checkpoint_loads_and_matches_reference(depth):
    state = random_state(resnet_layout(depth, num_classes=7))
    model = create_model(f"tsm_{depth}", num_classes=7, num_frames=4).eval()
    report = load_pretrained(model, to_official_tsm(state))
    assert report.source_format == "official TSM"
    assert report.clean and report.loaded == len(state), str(report)
    x = torch.randn(2, 3, 4, 64, 64)
    with torch.no_grad():
        ours = model(x)
    assert torch.allclose(ours, reference_tsm(state, x, 4, depth), atol=1e-4, rtol=1e-4)


def test_torchvision_imagenet_weights_skip_classifier_with_a_note(tmp_path):
    state = random_state(resnet_layout("r18", num_classes=1000))
    path = tmp_path / "resnet18.pth"
    torch.save(state, path)
    model = create_model("tsn_r18", num_classes=10, num_frames=2)
    report = load_pretrained(model, path)
    assert report.source_format == "torchvision"
    assert report.clean and report.loaded == len(state) - 2
    assert any("classifier" in note for note in report.notes)
    assert torch.equal(model.layer3[1].conv2.weight, state["layer3.1.conv2.weight"])


def test_mismatched_and_unexpected_keys_are_reported_not_loaded():
    state = random_state(resnet_layout("r18", num_classes=4))
    state["layer1.0.conv1.weight"] = torch.zeros(3, 3, 3, 3)
    state["extra.weight"] = torch.zeros(1)
    model = create_model("tsm_r18", num_classes=4, num_frames=2)
    before = model.layer1[0].conv1.weight.clone()
    report = load_pretrained(model, state)
    assert report.unexpected == ["extra.weight"]
    assert report.mismatched and report.mismatched[0].startswith("layer1.0.conv1.weight")
    assert torch.equal(model.layer1[0].conv1.weight, before)
    assert "1 unexpected" in str(report)
    with pytest.raises(ValueError, match="does not match"):
        load_pretrained(model, state, strict=True)


def test_convert_checkpoint_round_trip(tmp_path):
    state = random_state(resnet_layout("r18", num_classes=5))
    src, dst = tmp_path / "official.pth", tmp_path / "ours.pth"
    torch.save(to_official_tsm(state), src)
    report = convert_checkpoint(src, dst, "tsm_r18", num_classes=5, num_frames=4)
    assert report.clean
    model = create_model("tsm_r18", num_classes=5, num_frames=4)
    again = load_pretrained(model, dst)
    assert again.source_format == "vidaction" and again.clean
    assert torch.equal(model.fc.weight, state["fc.weight"])


def test_missing_or_foreign_file_is_explained(tmp_path):
    model = create_model("tsm_tiny", num_classes=2, num_frames=2)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_pretrained(model, tmp_path / "nope.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(FileNotFoundError, match="not a loadable weights file"):
        load_pretrained(model, junk)
