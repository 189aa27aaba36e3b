"""TV-L1 flow (``vidaction.data.flow_extraction``, ``vidaction.data.flow``): the solver on a known shift,
the JPEG coding, extraction to jpg / npy, resampling, resumption, unreadable videos, and the
flow-stream reader."""

import json

import numpy as np
import pytest

from vidaction.data.errors import VideoDecodeError
from vidaction.data.flow import (FlowReader, FlowSettings, codes_to_flow, flow_is_complete, flow_output_paths,
                                 flow_to_codes)
from vidaction.data.flow_extraction import extract_flows, extract_video_flow, tvl1_flow
from vidaction.data.inputs import DuplicateVideoIdError, check_unique_ids, find_inputs
from vidaction.data.writer import write_video

cv2 = pytest.importorskip("cv2")


def smooth_texture(size, seed=0, sigma=2.0):
    """A blurred random texture ``(size, size) uint8`` spanning 0..255."""
    noise = (np.random.default_rng(seed).random((size, size)) * 255).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), sigma)
    return cv2.normalize(blurred, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def translating_frames(num_frames, size=48, dx=2, dy=-1, seed=0):
    """RGB frames ``(num_frames, size, size, 3)`` of a texture moving ``(dx, dy)`` px per frame."""
    margin = 4 + num_frames * max(abs(dx), abs(dy))
    big = smooth_texture(size + 2 * margin, seed)
    frames = []
    for k in range(num_frames):
        top, left = margin - k * dy, margin - k * dx
        frames.append(np.repeat(big[top:top + size, left:left + size, None], 3, axis=2))
    return np.stack(frames)


@pytest.mark.parametrize("dx, dy", [(2, -1), (-3, 2), (0, 1)])
def test_tvl1_recovers_the_shift_of_a_translating_texture(dx, dy):
    frames = translating_frames(2, 64, dx, dy)[..., 0]
    flow = tvl1_flow(frames[0], frames[1])
    assert flow.shape == (64, 64, 2) and flow.dtype == np.float32
    inner = flow[8:-8, 8:-8]
    assert np.median(inner[..., 0]) == pytest.approx(dx, abs=0.15)
    assert np.median(inner[..., 1]) == pytest.approx(dy, abs=0.15)
    assert np.abs(inner - [dx, dy]).mean() < 0.3


def test_codes_round_trip_within_half_a_step_and_clip_at_the_bound():
    bound = 20.0
    flow = np.linspace(-bound, bound, 10001, dtype=np.float32)
    decoded = codes_to_flow(flow_to_codes(flow, bound), bound)
    step = 2 * bound / 255
    assert np.abs(decoded - flow).max() <= step / 2 + 1e-5
    assert flow_to_codes(np.array([-50.0, -20.0, 0.0, 20.0, 50.0]), bound).tolist() == [0, 0, 128, 255, 255]
    assert codes_to_flow(np.array([0, 255], dtype=np.uint8), bound).tolist() == [-20.0, 20.0]


def test_jpeg_round_trip_is_within_one_code_step(tmp_path):
    bound = 20.0
    step = 2 * bound / 255
    yy, xx = np.mgrid[0:64, 0:80].astype(np.float32)
    flow = 12 * np.sin(xx / 9.0) * np.cos(yy / 13.0) + 3  # smooth, as real flow mostly is
    codes = flow_to_codes(flow, bound)
    path = tmp_path / "x_00001.jpg"
    assert cv2.imwrite(str(path), codes, [cv2.IMWRITE_JPEG_QUALITY, 95])
    stored = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    # JPEG at quality 95 moves each code by at most one quantisation step ...
    assert np.abs(stored.astype(int) - codes).max() <= 1
    # ... so the decoded flow is within that step plus the half step of the uint8 coding itself
    error = np.abs(codes_to_flow(stored, bound) - flow)
    assert error.max() <= 1.5 * step + 1e-5 and error.mean() < 0.5 * step


@pytest.fixture
def moving_video(tmp_path):
    """12 frames at 10 fps of a texture moving (+2, -1) px per frame."""
    return write_video(tmp_path / "moving.mp4", translating_frames(12, 48, 2, -1), fps=10, crf=10)


def test_jpg_extraction_layout_marker_and_reader(moving_video, tmp_path):
    out = tmp_path / "flow"
    marker = extract_video_flow(moving_video, out, FlowSettings(format="jpg"))
    folder = out / "moving"
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["flow.json"] + [f"{axis}_{k:05d}.jpg" for axis in "xy" for k in range(1, 12)]
    assert marker["num_flows"] == 11 and marker["fps"] == 10.0 and (marker["height"], marker["width"]) == (48, 48)
    assert json.loads((folder / "flow.json").read_text()) == marker
    reader = FlowReader(folder)
    assert reader.num_frames == 12 and reader.fps == 10.0
    frames = reader.get_frames(range(12))
    assert frames.shape == (12, 48, 48, 2) and frames.dtype == np.float32
    assert frames.min() >= -1 and frames.max() <= 1
    inner = frames[:, 8:-8, 8:-8] * 20.0
    assert np.median(inner[..., 0]) == pytest.approx(2.0, abs=0.3)
    assert np.median(inner[..., 1]) == pytest.approx(-1.0, abs=0.3)
    assert np.array_equal(frames[11], frames[10])  # the last field repeats


def test_npy_extraction_resampled_and_resized(moving_video, tmp_path):
    settings = FlowSettings(fps=5.0, short_side=24, format="npy")
    extract_video_flow(moving_video, tmp_path, settings)
    data, _ = flow_output_paths(tmp_path, "moving", "npy")
    flow = np.load(data)
    # 12 frames at 10 fps resampled to 5 fps: 6 frames, 5 fields; the shift doubles, the resize halves it
    assert flow.shape == (5, 2, 24, 24) and flow.dtype == np.float16
    inner = flow[:, :, 4:-4, 4:-4].astype(np.float32)
    assert np.median(inner[:, 0]) == pytest.approx(2.0, abs=0.3)
    assert np.median(inner[:, 1]) == pytest.approx(-1.0, abs=0.3)
    reader = FlowReader(data)
    assert reader.num_frames == 6 and reader.fps == 5.0
    assert np.allclose(reader.get_flow([0]), flow[0].transpose(1, 2, 0)[None].astype(np.float32))
    assert np.allclose(reader.get_frames([2]), np.clip(flow[2].astype(np.float32), -20, 20).transpose(1, 2, 0) / 20)


def test_extraction_resumes_skips_complete_and_redoes_partial(moving_video, tmp_path):
    out = tmp_path / "flow"
    settings = FlowSettings(format="jpg")
    first = extract_flows([moving_video], out, settings, progress=False)
    assert first.extracted == ["moving"] and not first.skipped and not first.failed
    marker = out / "moving" / "flow.json"
    stamp = marker.stat().st_mtime_ns
    again = extract_flows([moving_video], out, settings, progress=False)
    assert again.skipped == ["moving"] and not again.extracted
    assert marker.stat().st_mtime_ns == stamp
    # a run killed midway leaves files without a marker: the video is redone from scratch
    marker.unlink()
    (out / "moving" / "x_00004.jpg").unlink()
    (out / "moving" / "stale.jpg").write_bytes(b"")
    assert not flow_is_complete(out, "moving", settings)
    redo = extract_flows([moving_video], out, settings, progress=False)
    assert redo.extracted == ["moving"] and (out / "moving" / "x_00004.jpg").is_file()
    assert not (out / "moving" / "stale.jpg").exists()
    # other settings are not "complete"
    assert not flow_is_complete(out, "moving", FlowSettings(format="jpg", bound=15.0))
    assert flow_is_complete(out, "moving", settings)


def test_unreadable_videos_are_reported_and_leave_no_output(moving_video, tmp_path):
    garbage = tmp_path / "broken.mp4"
    garbage.write_bytes(b"not a video" * 50)
    out = tmp_path / "flow"
    summary = extract_flows([garbage, moving_video, tmp_path / "absent.mp4"], out, FlowSettings(format="npy"),
                            progress=False)
    assert summary.extracted == ["moving"] and len(summary.failed) == 2
    assert "broken.mp4: cannot open as video" in summary.failed[0] and "file not found" in summary.failed[1]
    assert sorted(p.name for p in out.iterdir()) == ["moving.json", "moving.npy"]


def test_reader_rejects_incomplete_output(tmp_path):
    folder = tmp_path / "vid"
    folder.mkdir()
    (folder / "x_00001.jpg").write_bytes(b"")
    with pytest.raises(VideoDecodeError, match="flow extraction incomplete"):
        FlowReader(folder)
    with pytest.raises(VideoDecodeError, match="flow not found"):
        FlowReader(tmp_path / "nothing.npy")


def test_inputs_expand_folders_recursively_and_duplicate_ids_are_refused(tmp_path):
    (tmp_path / "a" / "deeper").mkdir(parents=True)
    (tmp_path / "b").mkdir()
    for name in ("a/v1.mp4", "a/deeper/v2.avi", "a/notes.txt", "b/v1.mkv"):
        (tmp_path / name).write_bytes(b"")
    found = find_inputs([tmp_path / "a", tmp_path / "a" / "v1.mp4"])
    assert [p.name for p in found] == ["v2.avi", "v1.mp4"]
    with pytest.raises(DuplicateVideoIdError, match=r"share the video id 'v1'; redo"):
        check_unique_ids(find_inputs([tmp_path / "a", tmp_path / "b"]), "redo")


def test_settings_are_checked():
    with pytest.raises(ValueError, match="format"):
        FlowSettings(format="png")
    with pytest.raises(ValueError, match="bound"):
        FlowSettings(bound=0)
    with pytest.raises(ValueError, match="short_side"):
        FlowSettings(square=True)


def test_reader_rejects_a_marker_without_its_fields(tmp_path):
    path = tmp_path / "v.npy"
    np.save(path, np.zeros((2, 2, 4, 4), dtype=np.float16))
    path.with_suffix(".json").write_text(json.dumps({"fps": 10.0, "bound": 20.0}))
    with pytest.raises(VideoDecodeError, match="marker lacks a valid 'num_flows'"):
        FlowReader(path)
    path.with_suffix(".json").write_text(json.dumps({"fps": 10.0, "bound": 20.0, "num_flows": 3, "height": 4,
                                                      "width": 4}))
    with pytest.raises(VideoDecodeError, match=r"flow array has shape \(2, 2, 4, 4\)"):
        FlowReader(path)
