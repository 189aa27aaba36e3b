"""``vidaction extract-features`` and :mod:`vidaction.engine.feature_extraction`: shapes, the sidecar's
time grid and contract, equality with a naive per-window reference and, bit for bit, with the whole
video in memory, memory that does not grow with the video, resumption, bad videos, flow input."""

import hashlib
import json
import math
import tracemalloc

import numpy as np
import pytest
import torch

from tests.processes import torchrun_two
from vidaction.cli.main import main
from vidaction.data.inputs import find_inputs
from vidaction.data.sampling import indices_at_fps
from vidaction.data.transforms import resize_frames
from vidaction.data.video import VideoReader
from vidaction.data.writer import write_video
from vidaction.engine import feature_extraction
from vidaction.engine.feature_extraction import FeatureExtractor, feature_times, load_backbone, window_starts
from vidaction.models import create_model

FPS = 25.0


def _frames(count, height=48, width=64, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(1, height // 8, width // 8, 3)).repeat(8, 1).repeat(8, 2)
    shift = np.arange(count)[:, None, None, None] * 3
    return ((base + shift) % 256).astype(np.uint8)


@pytest.fixture()
def tiny_i3d(tmp_path):
    """A random inception_i3d_tiny saved as the port saves its weights (a flat state dict)."""
    torch.manual_seed(0)
    model = create_model("inception_i3d_tiny", num_classes=5, num_frames=8).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm3d):
                module.running_mean.normal_(0.0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    path = tmp_path / "tiny_i3d.pt"
    torch.save(model.state_dict(), path)
    return path, model


@pytest.fixture()
def videos(tmp_path):
    """Two short mp4s at 30 fps (20 and 45 frames) in a nested folder, plus a non-video file."""
    folder = tmp_path / "videos"
    write_video(folder / "a.mp4", _frames(20, seed=1), fps=30)
    write_video(folder / "sub" / "b.mp4", _frames(45, seed=2), fps=30)
    (folder / "notes.txt").write_text("not a video")
    return folder


def _run(*args):
    return main(["extract-features", *map(str, args), "--device", "cpu", "--no-progress"])


def _naive_features(model, video, window, stride, size, endpoint="Mixed_5c"):
    """Each window decoded, resized and normalised on its own, then the endpoint averaged."""
    reader = VideoReader(video)
    indices = indices_at_fps(reader.timestamps(), FPS, reader.duration)
    rows = []
    for start in window_starts(len(indices), window, stride):
        frames = torch.from_numpy(reader.get_frames(indices[start:start + window]))
        clip = resize_frames(frames, size, size).permute(3, 0, 1, 2).float() / 255.0
        clip = (clip - 0.5) / 0.5
        with torch.no_grad():
            rows.append(model.forward_features(clip[None], until=endpoint)[endpoint].mean(dim=(2, 3, 4))[0])
    return torch.stack(rows).numpy()


def test_window_grid_and_centre_times():
    assert window_starts(40, 16, 4).tolist() == [0, 4, 8, 12, 16, 20, 24]
    assert window_starts(10, 16, 4).tolist() == [0]          # one padded window
    assert np.allclose(feature_times(3, 25.0, 16, 4), [0.32, 0.48, 0.64])


def test_extracts_every_video_with_the_sidecar_time_grid(tmp_path, tiny_i3d, videos, monkeypatch, capsys):
    checkpoint, model = tiny_i3d
    monkeypatch.setattr(feature_extraction, "DECODE_CHUNK", 7)   # windows straddle decode chunks
    out = tmp_path / "features"
    assert _run(checkpoint, videos, "--out", out, "--size", "32", "--window", "8", "--stride", "4") == 0
    assert "2 videos: 2 extracted, 0 already complete, 0 failed" in capsys.readouterr().out
    for name, source_frames in (("a", 20), ("b", 45)):
        features = np.load(out / f"{name}.npy")
        sidecar = json.loads((out / f"{name}.json").read_text())
        num_frames = math.ceil(source_frames / 30 * FPS - 1e-9)
        count = (num_frames - 8) // 4 + 1
        assert features.shape == (count, 128) and features.dtype == np.float32
        assert sidecar["shape"] == [count, 128] and sidecar["num_features"] == count
        assert sidecar["num_frames"] == num_frames and sidecar["num_source_frames"] == source_frames
        assert sidecar["feature_fps"] == FPS / 4 and sidecar["endpoint"] == "Mixed_5c"
        assert np.allclose(sidecar["feature_times"], (np.arange(count) * 4 + 4) / FPS)
        assert sidecar["checkpoint"] == "tiny_i3d.pt" and sidecar["input_size"] == [32, 32]
        assert (sidecar["stream"], sidecar["layout"], sidecar["extractor"]) == ("rgb", "TC", "InceptionI3d")
        assert sidecar["weights_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
        video = videos / ("a.mp4" if name == "a" else "sub/b.mp4")
        expected = _naive_features(model, video, 8, 4, 32)
        # Batched and single-window convolutions sum in different orders: float32 noise of the largest value.
        np.testing.assert_allclose(features, expected, rtol=1e-4, atol=1e-6 * np.abs(expected).max())


def test_resumes_skipping_complete_videos_and_redoing_missing_or_broken_ones(tmp_path, tiny_i3d, videos, capsys):
    checkpoint, _ = tiny_i3d
    out = tmp_path / "features"
    args = (checkpoint, videos, "--out", out, "--size", "32", "--window", "8", "--stride", "4")
    assert _run(*args) == 0
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    capsys.readouterr()
    assert _run(*args) == 0
    assert "0 extracted, 2 already complete" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps
    (out / "a.npy").unlink()
    np.save(out / "b.npy", np.zeros((1, 128), np.float32))   # shape differs from its sidecar: incomplete
    assert _run(*args) == 0
    assert "2 extracted, 0 already complete" in capsys.readouterr().out
    assert np.load(out / "b.npy").shape == tuple(json.loads((out / "b.json").read_text())["shape"])
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*"))


def test_other_settings_stop_the_run_unless_overwrite(tmp_path, tiny_i3d, videos, capsys):
    checkpoint, _ = tiny_i3d
    out = tmp_path / "features"
    assert _run(checkpoint, videos, "--out", out, "--size", "32", "--window", "8", "--stride", "4") == 0
    capsys.readouterr()
    assert _run(checkpoint, videos, "--out", out, "--size", "32", "--window", "8", "--stride", "2") == 2
    assert "stride 4 -> 2" in capsys.readouterr().err
    assert _run(checkpoint, videos, "--out", out, "--size", "32", "--window", "8", "--stride", "2",
                "--overwrite") == 0
    assert json.loads((out / "b.json").read_text())["stride"] == 2


def test_a_corrupt_video_is_reported_and_skipped(tmp_path, tiny_i3d, videos, capsys):
    checkpoint, _ = tiny_i3d
    (videos / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    out = tmp_path / "features"
    assert _run(checkpoint, videos, "--out", out, "--size", "32", "--window", "8", "--stride", "4") == 1
    captured = capsys.readouterr()
    assert "3 videos: 2 extracted, 0 already complete, 1 failed" in captured.out
    assert "failed: " in captured.out and "broken.mp4" in captured.out
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "a.npy", "b.json", "b.npy"]


def test_spatial_features_keep_the_endpoint_map_on_the_same_time_grid(tmp_path, tiny_i3d, videos):
    checkpoint, _ = tiny_i3d
    common = (checkpoint, videos / "sub", "--size", "64", "--window", "8", "--stride", "8", "--endpoint", "Mixed_4f")
    assert _run(*common, "--out", tmp_path / "vectors") == 0
    assert _run(*common, "--out", tmp_path / "maps", "--spatial") == 0
    vectors, maps = np.load(tmp_path / "vectors" / "b.npy"), np.load(tmp_path / "maps" / "b.npy")
    count = (math.ceil(45 / 30 * FPS - 1e-9) - 8) // 8 + 1
    assert vectors.shape == (count, 104) and maps.shape == (104, count, 4, 4)
    np.testing.assert_allclose(maps.mean(axis=(2, 3)).T, vectors, rtol=1e-5, atol=1e-6)
    assert json.loads((tmp_path / "maps" / "b.json").read_text())["layout"] == "CTHW"


def test_a_video_shorter_than_a_window_gives_one_padded_feature(tmp_path, tiny_i3d):
    checkpoint, _ = tiny_i3d
    write_video(tmp_path / "short.mp4", _frames(6), fps=25)
    assert _run(checkpoint, tmp_path / "short.mp4", "--out", tmp_path / "f", "--size", "32", "--window", "8") == 0
    sidecar = json.loads((tmp_path / "f" / "short.json").read_text())
    assert np.load(tmp_path / "f" / "short.npy").shape == (1, 128)
    assert (sidecar["num_frames"], sidecar["padded_frames"]) == (6, 2)


def _write_npy_flow(folder, video_id, num_flows, height=32, width=40, fps=25.0, seed=0):
    """Flow stored as vidaction.data.flow documents its npy format: <id>.npy + <id>.json marker."""
    folder.mkdir(parents=True, exist_ok=True)
    flow = np.random.default_rng(seed).normal(0, 8, size=(num_flows, 2, height, width)).astype(np.float16)
    np.save(folder / f"{video_id}.npy", flow)
    marker = {"video_id": video_id, "fps": fps, "requested_fps": fps, "num_flows": num_flows, "height": height,
              "width": width, "bound": 20.0, "format": "npy"}
    (folder / f"{video_id}.json").write_text(json.dumps(marker))
    return flow


def test_flow_stream_reads_stored_flow(tmp_path, capsys):
    torch.manual_seed(0)
    model = create_model("inception_i3d_tiny", num_classes=3, num_frames=8, in_channels=2).eval()
    checkpoint = tmp_path / "flow_tiny.pt"
    torch.save(model.state_dict(), checkpoint)
    flow = _write_npy_flow(tmp_path / "flow", "v1", num_flows=19)
    out = tmp_path / "features"
    assert _run(checkpoint, tmp_path / "flow", "--out", out, "--modality", "flow", "--short-side", "0", "--crop", "32",
                "--window", "8", "--stride", "4") == 0
    features = np.load(out / "v1.npy")
    assert features.shape == ((20 - 8) // 4 + 1, 128)
    # Window 0 by hand: the reader's [-1, 1] input (20 frames, the last field repeated), centre crop 32 x 32.
    clip = np.clip(flow[:8].astype(np.float32), -20, 20) / 20
    clip = torch.from_numpy(clip[:, :, :, 4:36]).transpose(0, 1)[None]
    with torch.no_grad():
        expected = model.forward_features(clip, until="Mixed_5c")["Mixed_5c"].mean(dim=(2, 3, 4))[0]
    np.testing.assert_allclose(features[0], expected.numpy(), rtol=1e-4, atol=1e-6 * expected.abs().max().item())
    capsys.readouterr()
    rgb = tmp_path / "rgb_tiny.pt"
    torch.save(create_model("inception_i3d_tiny", num_classes=3, num_frames=8).state_dict(), rgb)
    assert _run(rgb, tmp_path / "flow", "--out", out, "--modality", "flow") == 2
    assert "flow input has 2 channels, the model takes 3" in capsys.readouterr().err


def test_inputs_and_checkpoints_are_checked(tmp_path, tiny_i3d, videos):
    assert [p.name for p in find_inputs([videos])] == ["a.mp4", "b.mp4"]
    with pytest.raises(FileNotFoundError, match="no such video or folder"):
        find_inputs([tmp_path / "nothing_here"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no video"):
        find_inputs([tmp_path / "empty"])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(FileNotFoundError, match="not a loadable weights file"):
        load_backbone(garbage)
    foreign = tmp_path / "resnet.pt"
    torch.save({"fc.weight": torch.zeros(2, 3)}, foreign)
    with pytest.raises(FileNotFoundError, match="not Inception-I3D weights"):
        load_backbone(foreign)
    _, model = tiny_i3d
    converted = tmp_path / "converted.pt"
    torch.save({"format": "vidaction", "arch": "inception_i3d_tiny", "num_classes": 5, "num_frames": 8,
                "model": model.state_dict(), "pretrained_cfg": model.pretrained_cfg}, converted)
    loaded = load_backbone(converted)
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    with pytest.raises(ValueError, match="no endpoint 'Mixed_6a'"):
        FeatureExtractor(loaded, endpoint="Mixed_6a")


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    """A 45-frame, 30 fps mp4: 38 frames at 25 fps."""
    return write_video(tmp_path_factory.mktemp("long") / "long.mp4", _frames(45, seed=3), fps=30)


def _whole_video_features(model, video, window, stride, batch_size, spatial):
    """Every resampled frame in memory at once, resized to 32 x 32 and normalised, then the windows in
    batches of ``batch_size`` through the backbone: what extraction computes, without streaming."""
    reader = VideoReader(video)
    frames = torch.from_numpy(reader.get_frames(indices_at_fps(reader.timestamps(), FPS, reader.duration)))
    clip = (resize_frames(frames, 32, 32).permute(0, 3, 1, 2).float() / 255.0 - 0.5) / 0.5
    starts = window_starts(len(clip), window, stride)
    rows = []
    for first in range(0, len(starts), batch_size):
        batch = torch.stack([clip[s:s + window] for s in starts[first:first + batch_size]]).transpose(1, 2)
        with torch.inference_mode():
            out = model.forward_features(batch, until="Mixed_5c")["Mixed_5c"]
        rows.append(out.mean(dim=2) if spatial else out.mean(dim=(2, 3, 4)))
    features = torch.cat(rows).numpy()
    return features.transpose(1, 0, 2, 3) if spatial else features


@pytest.mark.parametrize("window, stride, batch_size, spatial", [(8, 3, 3, False), (8, 10, 2, True)])
def test_streamed_features_equal_the_whole_video_in_memory_bit_for_bit(long_video, monkeypatch, window, stride,
                                                                        batch_size, spatial):
    torch.manual_seed(0)
    model = create_model("inception_i3d_tiny", num_classes=5, num_frames=8).eval()
    monkeypatch.setattr(feature_extraction, "DECODE_CHUNK", 5)   # batches straddle decode chunks
    extractor = FeatureExtractor(model, fps=FPS, window=window, stride=stride, size=32, crop=0, spatial=spatial,
                                 batch_size=batch_size)
    features, sidecar = extractor.extract(long_video)
    assert np.array_equal(features, _whole_video_features(model, long_video, window, stride, batch_size, spatial))
    assert sidecar.shape == list(features.shape) and sidecar.settings["layout"] == ("CTHW" if spatial else "TC")


class _SpatialMean(torch.nn.Module):
    """A stand-in backbone: its one endpoint is its input, so extraction costs only decoding and buffering."""

    in_channels = 3
    feature_info = [{"name": "input", "num_chs": 3, "reduction_t": 1, "reduction_s": 1}]

    def forward_features(self, x):
        return {"input": x}


def test_memory_does_not_grow_with_the_video(tmp_path, monkeypatch):
    """Python-level peak (decoded frames are NumPy arrays) and the float buffer behind each batch of
    windows, for a video and one four times as long: the same, not four times as much."""
    monkeypatch.setattr(feature_extraction, "DECODE_CHUNK", 16)
    window, stride, batch_size = 8, 4, 2
    extractor = FeatureExtractor(_SpatialMean(), endpoint="input", fps=FPS, window=window, stride=stride, size=16,
                                 crop=0, batch_size=batch_size)
    buffers = []
    embed = extractor.embed

    def watched(windows):
        buffers.append(windows[0].untyped_storage().nbytes())
        return embed(windows)

    extractor.embed = watched
    videos = [write_video(tmp_path / f"{count}.mp4", _frames(count, 64, 64), fps=FPS) for count in (48, 192)]
    extractor.extract(videos[0])   # first-call allocations (decoder, lazy imports) out of the measurement
    peaks = []
    for video in videos:
        tracemalloc.start()
        extractor.extract(video)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 1.3 * peaks[0], peaks          # the whole video in memory: 4 times as much
    assert max(buffers) <= ((batch_size - 1) * stride + window) * 3 * 16 * 16 * 4


@pytest.mark.slow
def test_two_torchrun_processes_extract_what_one_process_extracts(tmp_path, tiny_i3d, videos):
    checkpoint, _ = tiny_i3d
    write_video(videos / "c.mp4", _frames(30, seed=3), fps=30)
    options = ["--size", "32", "--window", "8", "--stride", "4", "--device", "cpu", "--no-progress"]
    assert _run(checkpoint, videos, "--out", tmp_path / "single", *options[:-3]) == 0
    proc = torchrun_two("-m", "vidaction.cli.main", "extract-features", checkpoint, videos, "--out",
                        tmp_path / "shared", *options)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("3 videos: 3 extracted, 0 already complete, 0 failed") == 1  # rank 0 reports all
    for name in ("a", "b", "c"):
        assert np.array_equal(np.load(tmp_path / "shared" / f"{name}.npy"), np.load(tmp_path / "single" / f"{name}.npy"))
        single, shared = (json.loads((tmp_path / run / f"{name}.json").read_text()) for run in ("single", "shared"))
        assert shared == single
