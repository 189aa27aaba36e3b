"""PyAV decoding: exact frame indexing across containers and seeks, variable frame rate, bad files."""

import pickle

import numpy as np
import pytest

from vidaction.data.errors import VideoDecodeError
from vidaction.data.video import VideoReader
from vidaction.data.writer import write_video

# Short GOPs and B-frames so that most reads seek to a keyframe and reorder frames.
CONTAINERS = {
    "mp4-h264": ("mp4", "libx264", {"g": "6", "bf": "3"}),
    "mkv-h264": ("mkv", "libx264", {"g": "6", "bf": "3"}),
    "webm-vp9": ("webm", "libvpx-vp9", {"g": "6"}),
    "avi-mpeg4": ("avi", "mpeg4", {"g": "6", "bf": "2", "qmin": "1", "qmax": "2"}),
}


def test_constant_rate_properties_and_random_access(tmp_path, ramp):
    reader = VideoReader(ramp.write(tmp_path / "ramp.mp4", 30))
    assert (reader.num_frames, reader.fps) == (30, 25.0)
    assert reader.duration == pytest.approx(30 / 25)
    assert np.allclose(reader.timestamps(), np.arange(30) / 25)
    wanted = [29, 0, 15, 15, 3, 28]
    frames = reader.get_frames(wanted)
    assert frames.shape == (6, 32, 32, 3) and frames.dtype == np.uint8
    assert ramp.ids(frames) == wanted


@pytest.mark.parametrize("kind", list(CONTAINERS))
def test_every_frame_is_exact_after_seeking(tmp_path, ramp, kind):
    extension, codec, options = CONTAINERS[kind]
    path = ramp.encode(tmp_path / f"ramp.{extension}", ramp.frames(40), codec=codec, options=options)
    reader = VideoReader(path)
    assert reader.num_frames == 40
    assert [ramp.ids(reader.get_frames([i]))[0] for i in range(40)] == list(range(40))
    wanted = [37, 5, 5, 22, 0, 39, 13, 22]
    assert ramp.ids(reader.get_frames(wanted)) == wanted


def test_variable_frame_rate_is_indexed_by_presentation_order(tmp_path, ramp):
    gaps = [1, 1, 3, 1, 5, 1, 1, 2, 1, 4, 1, 1]
    pts = np.concatenate([[0], np.cumsum(gaps[:-1])]).tolist()
    path = ramp.encode(tmp_path / "vfr.mp4", ramp.frames(12), pts=pts, rate=30, options={"g": "4", "bf": "2"})
    reader = VideoReader(path)
    assert reader.num_frames == 12
    assert ramp.ids(reader.get_frames(range(12))) == list(range(12))
    assert ramp.ids(reader.get_frames([11, 4, 9])) == [11, 4, 9]
    assert np.allclose(reader.timestamps() * 30, pts)


@pytest.mark.parametrize("content", [b"", b"this is not a video at all\n" * 10], ids=["zero-bytes", "text"])
def test_unreadable_files_raise_with_the_path(tmp_path, content):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoDecodeError, match="cannot open as video") as info:
        VideoReader(path)
    assert str(info.value).startswith(f"{path}: ") and info.value.path == str(path)


def test_zero_frame_video(tmp_path):
    import av

    path = tmp_path / "empty.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = 32
        container.start_encoding()
    with pytest.raises(VideoDecodeError, match="no video stream|no frames"):
        VideoReader(path)


def test_missing_file(tmp_path):
    with pytest.raises(VideoDecodeError, match="nope.mp4: file not found"):
        VideoReader(tmp_path / "nope.mp4")


def test_truncated_files(tmp_path, ramp):
    frames = np.random.default_rng(0).integers(0, 255, (40, 48, 48, 3), dtype=np.uint8)
    # index (moov) at the end, as write_video leaves it: a cut file has no index at all
    data = ramp.encode(tmp_path / "full.mp4", frames, options={"g": "8"}).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoDecodeError, match="cut.mp4: cannot open as video"):
        VideoReader(tmp_path / "cut.mp4")
    # index first (+faststart): the container lists frames the file no longer holds
    data = ramp.encode(tmp_path / "fast.mp4", frames, options={"g": "8"},
                       container_options={"movflags": "+faststart"}).read_bytes()
    (tmp_path / "fast_cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoDecodeError, match=r"truncated: the container lists 40 frames, \d+ are in the file"):
        VideoReader(tmp_path / "fast_cut.mp4")


def test_stream_that_stops_decoding_reports_how_far_it_got(tmp_path, ramp):
    frames = np.random.default_rng(0).integers(0, 255, (40, 48, 48, 3), dtype=np.uint8)
    data = bytearray(ramp.encode(tmp_path / "full.mp4", frames, options={"g": "8"}).read_bytes())
    middle = slice(len(data) * 2 // 5, len(data) * 3 // 5)
    data[middle] = bytes(middle.stop - middle.start)
    (tmp_path / "holed.mp4").write_bytes(data)
    reader = VideoReader(tmp_path / "holed.mp4")
    assert reader.num_frames == 40
    assert reader.get_frames([0, 3]).shape == (2, 48, 48, 3)
    with pytest.raises(VideoDecodeError, match=r"holed.mp4: truncated: decoded \d+ of 40 frames \(InvalidDataError"):
        reader.get_frames([2, 25])


def test_indices_outside_the_video(tmp_path, ramp):
    reader = VideoReader(ramp.write(tmp_path / "ramp.mp4", 30))
    with pytest.raises(VideoDecodeError, match=r"frame index 30 outside \[0, 30\)"):
        reader.get_frames([3, 30])
    with pytest.raises(VideoDecodeError, match=r"frame index -1 outside"):
        reader.get_frames([-1])
    with pytest.raises(ValueError, match="no frame indices"):
        reader.get_frames([])


def test_reader_pickles_for_dataloader_workers(tmp_path, ramp):
    reader = VideoReader(ramp.write(tmp_path / "ramp.mp4", 10))
    clone = pickle.loads(pickle.dumps(reader))
    assert ramp.ids(clone.get_frames([7, 2])) == [7, 2]


def test_writing_the_same_frames_twice_gives_the_same_file(tmp_path):
    # 64 px, the synthetic datasets' size: at widths whose chroma rows are not 32-byte multiples
    # (32 px), x264 output still varies with the contents of uninitialised frame padding.
    from vidaction.data.synthetic import render_motion_clip

    frames = render_motion_clip("appear", np.random.default_rng(0), 64, 16)
    first = write_video(tmp_path / "a.mp4", frames, fps=12).read_bytes()
    for k in range(3):
        VideoReader(tmp_path / "a.mp4").get_frames(range(16))
        assert write_video(tmp_path / f"{k}.mp4", frames, fps=12).read_bytes() == first
