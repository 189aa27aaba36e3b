"""Frame-exact decoding: for every container the datasets use, and for files whose timestamps are
wrong on purpose, ``VideoReader.get_frames`` on random index sets equals decoding the whole file
in order with PyAV (exact pixels) and ``num_frames`` equals the number of frames that decode."""

from __future__ import annotations

import warnings
from pathlib import Path

import av
import numpy as np
import pytest

from tests.media import decode_all, encode, gray_ramp, packed_avi, remux
from vidaction.data.errors import VideoDecodeError
from vidaction.data.video import VideoReader

FRAMES = 40
GOP = {"g": "8"}


def cut_at_packet(source: Path, path: Path, keep: int) -> Path:
    """``source`` (index first) cut right after its ``keep``-th packet in file order."""
    with av.open(str(source)) as container:
        ends = sorted(p.pos + p.size for p in container.demux(video=0) if p.size and p.pos is not None)
    path.write_bytes(source.read_bytes()[:ends[keep - 1]])
    return path


def _h264(tmp: Path) -> Path:
    return encode(tmp / "b.mp4", gray_ramp(FRAMES), options={**GOP, "bf": "2"})


def _block_shuffled(k: int, pts: int, dts: int) -> tuple[int, int]:
    """Presentation order shuffled within blocks of four packets, never before the decoding time."""
    return (4 * (k // 4) + (2, 0, 3, 1)[k % 4] + 4) * 512, k * 512


def _reversed_within_gops(tmp: Path) -> Path:
    """Each GOP's non-key packets given their presentation times in reverse: the index looks sound,
    only the decoder shows the timestamps wrong."""
    source = _h264(tmp)
    with av.open(str(source)) as container:
        keys = [p.is_keyframe for p in container.demux(video=0) if p.dts is not None]
    starts = [k for k, key in enumerate(keys) if key] + [len(keys)]
    order = list(range(len(keys)))
    for start, end in zip(starts, starts[1:]):
        order[start + 1:end] = order[start + 1:end][::-1]
    return remux(source, tmp / "r.mkv", lambda k, pts, dts: (order[k] * 512, (k - 16) * 512))


VFR = np.concatenate([[0], np.cumsum(np.resize([1, 1, 3, 1, 5, 2], FRAMES - 1))]).tolist()

# name: (writer, timestamps trusted)
FILES = {
    "h264_bframes.mp4": (_h264, True),
    "mpeg4_bframes.avi": (lambda t: encode(t / "m.avi", gray_ramp(FRAMES), codec="mpeg4",
                                           options={**GOP, "bf": "2", "qmin": "1", "qmax": "2"}), True),
    "vp8.webm": (lambda t: encode(t / "v.webm", gray_ramp(FRAMES), codec="libvpx", options=GOP), True),
    "vp9.webm": (lambda t: encode(t / "v.webm", gray_ramp(FRAMES), codec="libvpx-vp9", options=GOP), True),
    "mjpeg.avi": (lambda t: encode(t / "j.avi", gray_ramp(FRAMES), codec="mjpeg", pix_fmt="yuvj420p"), True),
    "variable_rate.mp4": (lambda t: encode(t / "vfr.mp4", gray_ramp(FRAMES), pts=VFR, rate=30,
                                           options={**GOP, "bf": "2"}), True),
    "pts_equal_dts.mkv": (lambda t: remux(_h264(t), t / "d.mkv", lambda k, p, d: (k * 512, k * 512)), True),
    "no_timestamps.h264": (lambda t: encode(t / "raw.h264", gray_ramp(FRAMES), options={**GOP, "bf": "2"}), False),
    "pts_out_of_order.mkv": (lambda t: remux(_h264(t), t / "s.mkv", _block_shuffled), False),
    "pts_out_of_order.mp4": (lambda t: remux(_h264(t), t / "s.mp4", _block_shuffled), False),
    "packed_bframes.avi": (lambda t: packed_avi(t / "p.avi", gray_ramp(FRAMES)), False),
    "pts_reversed_in_gops.mkv": (_reversed_within_gops, False),
}


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    files = {}
    for name, (write, _) in FILES.items():
        folder = tmp_path_factory.mktemp(name.replace(".", "_"))
        files[name] = write(folder)
    return files


def read(path: Path, indices, reader_type=VideoReader) -> tuple[VideoReader, np.ndarray, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reader = reader_type(path)
        frames = reader.get_frames(indices)
    return reader, frames, [str(w.message) for w in caught]


def check_random_index_sets(path: Path, seed: int, reader_type=VideoReader) -> list[tuple[bool, list[str]]]:
    """Random index sets (single frames, 3, 8, then all), each read by a fresh reader, equal decoding
    the whole file in order and ``num_frames`` is the decoded count; per read, whether frames were
    numbered in decode order by then, and the warnings."""
    reference = decode_all(path)
    rng = np.random.default_rng(seed)
    reads = []
    for size in (1, 1, 1, 1, 3, 8, len(reference)):
        indices = rng.integers(0, len(reference), size).tolist() if size < len(reference) else list(range(size))
        reader, frames, said = read(path, indices, reader_type)
        assert reader.num_frames == len(reference)
        np.testing.assert_array_equal(frames, reference[indices])
        assert all(str(path) in s for s in said)
        reads.append((reader.decode_order, said))
    return reads


@pytest.mark.parametrize("name", list(FILES))
def test_random_index_sets_equal_decoding_everything(media, name):
    reads = check_random_index_sets(media[name], sorted(FILES).index(name))
    assert all(bool(said) is decode_order and all("unreliable timestamps" in s for s in said)
               for decode_order, said in reads)
    # the last read decoded every frame: a decoder contradicting the timestamps has shown it by then
    assert reads[-1][0] is not FILES[name][1]


def test_wrong_timestamps_are_numbered_by_what_the_decoder_shows(media):
    for name in ("no_timestamps.h264", "pts_out_of_order.mkv", "packed_bframes.avi", "pts_reversed_in_gops.mkv"):
        reader, frames, _ = read(media[name], [0, FRAMES // 2, FRAMES - 1])
        assert reader.num_frames == FRAMES and np.allclose(reader.timestamps()[:2], [0, 1 / reader.fps])
        assert [round(f.mean() / 5) for f in frames] == [0, FRAMES // 2, FRAMES - 1]


def test_decode_order_is_scanned_once_and_seeks_are_checked_by_fingerprint(tmp_path):
    path = packed_avi(tmp_path / "p.avi", gray_ramp(FRAMES))
    reference = decode_all(path)
    with pytest.warns(UserWarning, match="packed B-frames"):
        reader = VideoReader(path)
    order = reader.probe.order
    with pytest.warns(UserWarning, match="packed B-frames"):
        assert VideoReader(path).probe is reader.probe  # one scan serves every reader of the file
    assert reader.decode_plan([3, 20, 35]) == [[3], [20], [35]]  # keyframes every 8 frames
    np.testing.assert_array_equal(reader.get_frames([35, 3, 20]), reference[[35, 3, 20]])
    assert {8, 16, 24, 32} <= set(order.key_start.tolist())  # landings proposed by the scan
    # a wrong landing proposal is corrected, a keyframe whose decode differs from the scan is dropped
    key16, key32 = np.flatnonzero(order.key_start == 16)[0], np.flatnonzero(order.key_start == 32)[0]
    order.key_start[key16] = 19
    order.fingerprints[32] ^= np.uint64(1)
    np.testing.assert_array_equal(reader.get_frames([21, 39]), reference[[21, 39]])
    np.testing.assert_array_equal(reader.get_frames([33]), reference[[33]])
    assert (order.key_start[key16], order.key_start[key32]) == (16, -1)
    assert reader.decode_plan([33]) == [[33]] and order.plan([33])[0][0] != key32


def check_cut_at_packet_boundary(tmp_path: Path, reader_type=VideoReader) -> None:
    """A faststart MP4 cut right after a packet reads the frames it holds, with one warning."""
    source = encode(tmp_path / "fast.mp4", gray_ramp(FRAMES), options={**GOP, "bf": "2"},
                    container_options={"movflags": "+faststart"})
    path = cut_at_packet(source, tmp_path / "cut.mp4", 27)
    reference = decode_all(path)
    reader, frames, said = read(path, range(len(reference)), reader_type)
    assert reader.num_frames == len(reference) >= 24
    np.testing.assert_array_equal(frames, reference)
    assert said == [f"{path}: the container lists {FRAMES} frames, the file holds 27 packets; reading those"]


def check_cut_inside_a_packet(tmp_path: Path, reader_type=VideoReader) -> None:
    source = encode(tmp_path / "fast.mp4", gray_ramp(FRAMES), options=GOP, container_options={"movflags": "+faststart"})
    path = cut_at_packet(source, tmp_path / "cut.mp4", 27)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(VideoDecodeError, match=r"truncated: the container lists 40 frames, 27 are in the file"):
        reader_type(path)


def check_overstated_avi_header(tmp_path: Path, reader_type=VideoReader) -> None:
    """An AVI header claiming 2^31 frames: the 12 there are read, with one warning."""
    import struct

    path = encode(tmp_path / "long.avi", gray_ramp(12), codec="mpeg4", options={"qmin": "1", "qmax": "2"})
    data = bytearray(path.read_bytes())
    for tag, offset in ((b"avih", 24), (b"strh", 40)):  # the file's and the stream's frame counts
        struct.pack_into("<I", data, data.find(tag) + offset, 2**31 - 1)
    path.write_bytes(bytes(data))
    reader, frames, said = read(path, range(12), reader_type)
    assert reader.num_frames == 12
    np.testing.assert_array_equal(frames, decode_all(path))
    assert said == [f"{path}: the container lists {2**31 - 1} frames, the file holds 12 packets; reading those"]


def test_file_cut_at_a_packet_boundary_reads_what_it_holds(tmp_path):
    check_cut_at_packet_boundary(tmp_path)


def test_file_cut_inside_a_packet_is_truncated(tmp_path):
    check_cut_inside_a_packet(tmp_path)


def test_avi_header_overstating_its_length_is_read_with_a_warning(tmp_path):
    check_overstated_avi_header(tmp_path)


NOISE = np.random.default_rng(0).integers(0, 256, (150, 16, 16, 3), dtype=np.uint8)
LONG = {  # 150 frames, a keyframe every 12 (8 for the packed AVI)
    "mp4": lambda t: encode(t / "long.mp4", NOISE, options={"g": "12", "bf": "2"}),
    "avi": lambda t: encode(t / "long.avi", NOISE, codec="mpeg4", options={"g": "12", "bf": "2"}),
    "webm": lambda t: encode(t / "long.webm", NOISE, codec="libvpx-vp9", options={"g": "12"}),
    "packed_avi": lambda t: packed_avi(t / "packed.avi", NOISE),
}


def check_sparse_reads(path: Path, reader_type=VideoReader) -> None:
    """TSN-like and random sparse reads seeking between frames and seeking once equal the reference."""
    reference = decode_all(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the packed AVI's decode order
        seeking, through = reader_type(path), reader_type(path, sparse_seek=False)
    tsn = (np.arange(8) * len(reference) // 8 + 5).tolist()
    assert len(seeking.decode_plan(tsn)) == 8 and len(through.decode_plan(tsn)) == 1
    assert seeking.decode_plan(range(40, 56)) == [list(range(40, 56))]
    rng = np.random.default_rng(1)
    for indices in [tsn, [149, 0, 75, 75], *(rng.integers(0, len(reference), 6).tolist() for _ in range(4))]:
        np.testing.assert_array_equal(seeking.get_frames(indices), reference[indices])
        np.testing.assert_array_equal(through.get_frames(indices), reference[indices])


@pytest.mark.parametrize("kind", list(LONG))
def test_sparse_reads_seek_between_frames_and_equal_decoding_through(tmp_path, kind):
    check_sparse_reads(LONG[kind](tmp_path))
