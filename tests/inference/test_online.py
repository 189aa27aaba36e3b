"""Online recognition: frame-by-frame outputs with cached shift buffers equal the offline online-shift
model's per-frame logits (TSM-R50 and TSM-MobileNetV2), the module follows TSM's online demo, traces
to TorchScript and exports to ONNX with the same numbers, and uint8 frames get the checkpoint's
preprocessing."""

import io
import warnings

import numpy as np
import pytest
import torch

from vidaction.config import DataConfig
from vidaction.data.transforms import build_test_transform
from vidaction.inference import FramePreprocess, OnlineRecognizer, OnlineTSM
from vidaction.models import create_model

T, SIZE = 4, 32
BUILDS = {"tsm_r50": {"base_width": 8}, "tsm_mobilenet_v2": {"width_mult": 0.25}}


def online_model(name):
    """A tiny online-shift model in eval mode with non-trivial BN statistics and logits of unit scale."""
    torch.manual_seed(0)
    model = create_model(name, num_classes=3, num_frames=T, shift_mode="online", **BUILDS[name]).eval()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    torch.nn.init.normal_(model.fc.weight)
    with torch.no_grad():
        model.fc.weight /= model(torch.randn(1, 3, T, SIZE, SIZE)).abs().max()
    return model


@pytest.fixture(scope="module")
def models():
    return {name: online_model(name) for name in BUILDS}


@pytest.fixture(scope="module")
def clip():
    torch.manual_seed(1)
    return torch.randn(2, 3, T, SIZE, SIZE)


@pytest.mark.parametrize("name", list(BUILDS))
def test_frame_by_frame_equals_the_offline_per_frame_logits(name, models, clip):
    model = models[name]
    with torch.no_grad():
        offline = model.frame_logits(model.forward_features(clip))
        consensus = model(clip)
    recognizer = OnlineRecognizer(model)
    for stream in range(2):
        recognizer.reset()
        online = torch.stack([recognizer(clip[stream, :, t]) for t in range(T)])
        torch.testing.assert_close(online, offline[stream], atol=1e-5, rtol=0)
    both = OnlineRecognizer(model, smooth=T)  # two streams in step; smooth=T: the clip prediction
    for t in range(T):
        scores = both(clip[:, :, t])
    torch.testing.assert_close(scores, consensus, atol=1e-5, rtol=0)
    assert offline.abs().mean() > 0.1


def test_buffered_module_is_tsm_online_demo_forward(models, clip):
    """online_demo/mobilenet_v2_tsm.py: a shifted block returns ``x + conv(cat(buffer, x[:, c//8:]))`` and
    the new buffer ``x[:, :c//8]``; the other blocks are plain; logits of the mean-pooled last feature map."""
    model = models["tsm_mobilenet_v2"]
    online = OnlineTSM(model).eval()
    buffers, state = None, ()
    with torch.no_grad():
        for t in range(3):
            x, new = clip[:1, :, t], []
            for layer in model.features:
                if getattr(layer, "shift", None) is None:
                    x = layer(x)
                    continue
                c = x.shape[1]
                shifted = torch.cat((buffers[len(new)] if buffers else torch.zeros_like(x[:, :c // 8]),
                                     x[:, c // 8:]), dim=1)
                new.append(x[:, :c // 8])
                x = x + layer.conv(shifted)
            reference, buffers = model.fc(x.mean((2, 3))), new
            scores, *state = online(clip[:1, :, t], *state)
            torch.testing.assert_close(scores, reference, atol=1e-5, rtol=0)
            assert all(torch.equal(a, b) for a, b in zip(state, buffers)) and len(state) == 10


def test_traced_and_onnx_buffered_modules_give_the_same_outputs(models, clip):
    import onnxruntime

    online = OnlineTSM(models["tsm_mobilenet_v2"]).eval()
    frame = clip[:1, :, 0]
    zeros = online.zero_buffers(frame)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on the clip model's shape checks
        traced = torch.jit.trace(online, (frame, *zeros), check_trace=False)
        file = io.BytesIO()
        names = [f"buffer{i}" for i in range(len(zeros))]
        # The TorchScript-based exporter, as TSM's demo: torch.export's takes ~10x longer for this graph.
        torch.onnx.export(traced, (frame, *zeros), file, input_names=["frame", *names],
                          output_names=["scores", *[f"new_{n}" for n in names]], dynamo=False)
    session = onnxruntime.InferenceSession(file.getvalue(), providers=["CPUExecutionProvider"])
    eager_state, traced_state, onnx_state = zeros, zeros, [z.numpy() for z in zeros]
    for t in range(T):
        frame = clip[:1, :, t]
        with torch.no_grad():
            eager, *eager_state = online(frame, *eager_state)
            script, *traced_state = traced(frame, *traced_state)
        exported, *onnx_state = session.run(None, {"frame": frame.numpy(), **dict(zip(names, onnx_state))})
        torch.testing.assert_close(script, eager, atol=1e-5, rtol=0)
        torch.testing.assert_close(torch.from_numpy(exported), eager, atol=1e-5, rtol=0)
        assert all(np.allclose(a, b.numpy(), atol=1e-5) for a, b in zip(onnx_state, eager_state))


def test_uint8_frames_get_the_checkpoints_test_preprocessing(models):
    cfg = DataConfig(input_size=SIZE, resize_short=40, mean=[0.4, 0.5, 0.6], std=[0.2, 0.25, 0.3])
    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    preprocess = FramePreprocess(cfg.mean, cfg.std, cfg.input_size, cfg.resize_short)
    expected, _ = build_test_transform(cfg)(torch.from_numpy(image)[None], 0, None)
    torch.testing.assert_close(preprocess(image), expected[:, 0])
    model = models["tsm_r50"]
    model.pretrained_cfg = {"mean": cfg.mean, "std": cfg.std, "input_size": SIZE, "resize_short": 40}
    from_image, from_tensor = OnlineRecognizer(model), OnlineRecognizer(model)
    torch.testing.assert_close(from_image(image), from_tensor(expected[:, 0]))


def test_models_that_see_the_future_are_refused():
    with pytest.raises(ValueError, match="shift_mode='online'"):
        OnlineTSM(create_model("tsm_tiny", num_classes=2, num_frames=T))
    with pytest.raises(ValueError, match="without attention blocks"):
        OnlineTSM(create_model("tsm_tiny", num_classes=2, num_frames=T, shift_mode="online", attention="nonlocal"))
    with pytest.raises(ValueError, match="3D convolutions"):
        OnlineTSM(create_model("i3d_tiny", num_classes=2, num_frames=8))
