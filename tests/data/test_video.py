"""PyAV decoding: exact frame indexing (also VFR), bad files, frame folders."""

from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

from tests.conftest import frame_index_of, gray_ramp
from vidaction.data.errors import VideoDecodeError
from vidaction.data.frames import FrameFolderReader
from vidaction.data.video import VideoReader


def test_frame_accurate_random_access(ramp_video):
    reader = VideoReader(ramp_video)
    assert reader.num_frames == 30 and reader.fps == 25
    assert reader.duration == pytest.approx(30 / 25)
    wanted = [29, 0, 15, 15, 3, 28]
    assert frame_index_of(reader.get_frames(wanted)) == wanted
    assert reader.get_frames([5]).shape == (1, 32, 32, 3)


def test_variable_frame_rate_is_indexed_by_presentation_order(tmp_path):
    path = tmp_path / "vfr.mp4"
    frames = gray_ramp(12)
    gaps = [1, 1, 3, 1, 5, 1, 1, 2, 1, 4, 1, 1]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, 30)
        pts = 0
        for image, gap in zip(frames, gaps):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 30)
            pts += gap
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    reader = VideoReader(path)
    assert reader.num_frames == 12
    assert frame_index_of(reader.get_frames(range(12))) == list(range(12))
    times = reader.timestamps()
    assert np.allclose(np.diff(times) * 30, gaps[:-1])


@pytest.mark.parametrize("content, reason", [(b"", "cannot open|no frames|no video"),
                                             (b"this is not a video at all" * 10, "cannot open")])
def test_unreadable_files_raise_with_the_path(tmp_path, content, reason):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoDecodeError, match=reason) as info:
        VideoReader(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(VideoDecodeError, match="file not found"):
        VideoReader(tmp_path / "nope.mp4")


def test_truncated_file_fails_on_missing_frames(tmp_path):
    rng = np.random.default_rng(0)
    from vidaction.data.writer import write_video

    path = write_video(tmp_path / "full.mp4", rng.integers(0, 255, (40, 64, 64, 3), dtype=np.uint8))
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoDecodeError) as info:
        reader = VideoReader(cut)
        reader.get_frames([reader.num_frames - 1, 39])
    assert "cut.mp4" in str(info.value)


def test_index_outside_video(ramp_video):
    with pytest.raises(VideoDecodeError, match=r"frame index 30 outside \[0, 30\)"):
        VideoReader(ramp_video).get_frames([30])


def test_frame_folder(tmp_path):
    folder = tmp_path / "100218"
    folder.mkdir()
    for i, image in enumerate(gray_ramp(6)):
        Image.fromarray(image).save(folder / f"{i + 1:05d}.jpg", quality=95)
    reader = FrameFolderReader(folder)
    assert reader.num_frames == 6
    assert frame_index_of(reader.get_frames([5, 0, 2])) == [5, 0, 2]
    (folder / "00003.jpg").write_bytes(b"broken")
    with pytest.raises(VideoDecodeError, match="00003.jpg"):
        reader.get_frames([2])
    with pytest.raises(VideoDecodeError, match="frame folder not found"):
        FrameFolderReader(tmp_path / "missing")
