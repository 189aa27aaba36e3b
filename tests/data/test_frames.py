"""Frame folders: Something-Something v1 and TSN naming, counting, gaps and broken images."""

import numpy as np
import pytest
from PIL import Image

from vidaction.data.errors import VideoDecodeError
from vidaction.data.frames import FrameFolderReader


def write_frames(folder, frames, template="{:05d}.jpg", start=1):
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(frames):
        Image.fromarray(image).save(folder / template.format(start + i), quality=95)
    return folder


def test_something_v1_folder(tmp_path, ramp):
    reader = FrameFolderReader(write_frames(tmp_path / "100218", ramp.frames(6)))
    assert (reader.num_frames, reader.fps, reader.duration) == (6, 12.0, 0.5)
    assert np.allclose(reader.timestamps(), np.arange(6) / 12)
    frames = reader.get_frames([5, 0, 2, 2])
    assert frames.shape == (4, 32, 32, 3) and frames.dtype == np.uint8
    assert ramp.ids(frames) == [5, 0, 2, 2]


def test_tsn_template_counts_only_its_own_frames(tmp_path, ramp):
    folder = write_frames(tmp_path / "v_Archery_g01_c01", ramp.frames(5), template="img_{:05d}.jpg")
    write_frames(folder, ramp.frames(4), template="flow_x_{:05d}.jpg")
    (folder / "img_7.jpg").write_bytes(b"not named like the template")
    reader = FrameFolderReader(folder, template="img_{:05d}.jpg", fps=25)
    assert reader.num_frames == 5 and reader.duration == pytest.approx(0.2)
    assert ramp.ids(reader.get_frames([4, 1])) == [4, 1]


def test_gaps_and_numbering_are_errors(tmp_path, ramp):
    folder = write_frames(tmp_path / "gap", ramp.frames(6))
    (folder / "00003.jpg").unlink()
    with pytest.raises(VideoDecodeError, match=r"gap: frame '00003.jpg' missing \(5 frames, numbered 1..6\)"):
        FrameFolderReader(folder)
    zero_based = write_frames(tmp_path / "zero", ramp.frames(3), start=0)
    with pytest.raises(VideoDecodeError, match="first frame is '00000.jpg', expected '00001.jpg'"):
        FrameFolderReader(zero_based)
    assert FrameFolderReader(zero_based, start_index=0).num_frames == 3


def test_broken_image_names_the_file(tmp_path, ramp):
    folder = write_frames(tmp_path / "broken", ramp.frames(4))
    (folder / "00003.jpg").write_bytes(b"broken")
    reader = FrameFolderReader(folder)
    assert ramp.ids(reader.get_frames([0, 3])) == [0, 3]
    with pytest.raises(VideoDecodeError, match=r"00003.jpg: unreadable frame"):
        reader.get_frames([2])
    with pytest.raises(VideoDecodeError, match=r"frame index 4 outside \[0, 4\)"):
        reader.get_frames([4])


def test_missing_or_empty_folder(tmp_path):
    with pytest.raises(VideoDecodeError, match="frame folder not found"):
        FrameFolderReader(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoDecodeError, match="no frames named like '00001.jpg'"):
        FrameFolderReader(tmp_path / "empty")
    with pytest.raises(ValueError, match="exactly one"):
        FrameFolderReader(tmp_path / "empty", template="frame.jpg")
