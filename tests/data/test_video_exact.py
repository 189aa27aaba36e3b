"""Frame-exact decoding: for every container the datasets use, and for files whose timestamps are
wrong on purpose, ``VideoReader.get_frames`` on random index sets equals decoding the whole file
in order with PyAV (exact pixels) and ``num_frames`` equals the number of frames that decode."""

from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tests.media import decode_all, encode, gray_ramp, remux
from vidaction.data.errors import VideoDecodeError
from vidaction.data.video import VideoReader

FRAMES = 40
GOP = {"g": "8"}


def n_vop(time_increment_bits: int = 5) -> bytes:
    """An MPEG-4 Part 2 'not coded' P-VOP: the placeholder packed bitstreams put after a packed pair."""
    bits = "01" + "0" + "1" + "0" * time_increment_bits + "1" + "0"
    bits += "0" + "1" * (-(len(bits) + 1) % 8)
    return b"\x00\x00\x01\xb6" + int(bits, 2).to_bytes(len(bits) // 8, "big")


def packed_avi(path: Path, frames: np.ndarray, rate: int = 25) -> Path:
    """MPEG-4 ASP in AVI with DivX/XviD-style packed B-frames (UCF101's files): each B-frame rides in
    the packet of the reference frame decoded before it, an N-VOP fills its slot, a ``DivX503b1393p``
    user-data string marks the stream packed, and every chunk's timestamp is its position."""
    time_base = Fraction(1, rate)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=rate)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = time_base
        stream.options = {"bf": "1", "g": "8", "qmin": "1", "qmax": "2"}
        encoded = []
        for i, image in enumerate([*frames, None]):
            frame = None
            if image is not None:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
                frame.pts, frame.time_base = i, time_base
            encoded += [(bytes(packet), packet.pts, packet.is_keyframe) for packet in stream.encode(frame)]
        chunks: list[tuple[bytes, bool]] = []
        shown = -1
        for data, pts, key in encoded:
            if pts < shown:
                chunks[-1] = (chunks[-1][0] + data, chunks[-1][1])
                chunks.append((n_vop(), False))
            else:
                chunks.append((data, key))
            shown = max(shown, pts)
        chunks[0] = (b"\x00\x00\x01\xb2DivX503b1393p" + chunks[0][0], True)
        for k, (data, key) in enumerate(chunks):
            packet = av.Packet(data)
            packet.pts = packet.dts = k
            packet.time_base, packet.stream, packet.is_keyframe = time_base, stream, key
            container.mux(packet)
    return path


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


def read(path: Path, indices) -> tuple[VideoReader, np.ndarray, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reader = VideoReader(path)
        frames = reader.get_frames(indices)
    return reader, frames, [str(w.message) for w in caught]


@pytest.mark.parametrize("name", list(FILES))
def test_random_index_sets_equal_decoding_everything(media, name):
    path = media[name]
    reference = decode_all(path)
    rng = np.random.default_rng(sorted(FILES).index(name))
    for size in (1, 1, 1, 1, 3, 8, len(reference)):
        indices = rng.integers(0, len(reference), size).tolist() if size < len(reference) else list(range(size))
        reader, frames, said = read(path, indices)
        assert reader.num_frames == len(reference)
        np.testing.assert_array_equal(frames, reference[indices])
        assert bool(said) is reader.decode_order and all(str(path) in s and "unreliable timestamps" in s for s in said)
    # the last read decoded every frame: a decoder contradicting the timestamps has shown it by then
    assert reader.decode_order is not FILES[name][1]


def test_wrong_timestamps_are_numbered_by_what_the_decoder_shows(media):
    for name in ("no_timestamps.h264", "pts_out_of_order.mkv", "packed_bframes.avi", "pts_reversed_in_gops.mkv"):
        reader, frames, _ = read(media[name], [0, FRAMES // 2, FRAMES - 1])
        assert reader.num_frames == FRAMES and np.allclose(reader.timestamps()[:2], [0, 1 / reader.fps])
        assert [round(f.mean() / 5) for f in frames] == [0, FRAMES // 2, FRAMES - 1]


def test_file_cut_at_a_packet_boundary_reads_what_it_holds(tmp_path):
    source = encode(tmp_path / "fast.mp4", gray_ramp(FRAMES), options={**GOP, "bf": "2"},
                    container_options={"movflags": "+faststart"})
    path = cut_at_packet(source, tmp_path / "cut.mp4", 27)
    reference = decode_all(path)
    reader, frames, said = read(path, range(len(reference)))
    assert reader.num_frames == len(reference) >= 24
    np.testing.assert_array_equal(frames, reference)
    assert said == [f"{path}: the container lists {FRAMES} frames, the file holds 27 packets; reading those"]


def test_file_cut_inside_a_packet_is_truncated(tmp_path):
    source = encode(tmp_path / "fast.mp4", gray_ramp(FRAMES), options=GOP, container_options={"movflags": "+faststart"})
    path = cut_at_packet(source, tmp_path / "cut.mp4", 27)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(VideoDecodeError, match=r"truncated: the container lists 40 frames, 27 are in the file"):
        VideoReader(path)


def test_avi_header_overstating_its_length_is_read_with_a_warning(tmp_path):
    import struct

    path = encode(tmp_path / "long.avi", gray_ramp(12), codec="mpeg4", options={"qmin": "1", "qmax": "2"})
    data = bytearray(path.read_bytes())
    for tag, offset in ((b"avih", 24), (b"strh", 40)):  # the file's and the stream's frame counts
        struct.pack_into("<I", data, data.find(tag) + offset, 2**31 - 1)
    path.write_bytes(bytes(data))
    reader, frames, said = read(path, range(12))
    assert reader.num_frames == 12
    np.testing.assert_array_equal(frames, decode_all(path))
    assert said == [f"{path}: the container lists {2**31 - 1} frames, the file holds 12 packets; reading those"]


@pytest.mark.parametrize("extension, codec", [("mp4", "libx264"), ("avi", "mpeg4"), ("webm", "libvpx-vp9")])
def test_sparse_reads_seek_between_frames_and_equal_decoding_through(tmp_path, extension, codec):
    frames = np.random.default_rng(0).integers(0, 256, (150, 16, 16, 3), dtype=np.uint8)
    path = encode(tmp_path / f"long.{extension}", frames, codec=codec, options={"g": "12", "bf": "2"}
                  if codec != "libvpx-vp9" else {"g": "12"})
    reference = decode_all(path)
    seeking, through = VideoReader(path), VideoReader(path, sparse_seek=False)
    tsn = (np.arange(8) * len(reference) // 8 + 5).tolist()
    assert len(seeking.decode_plan(tsn)) == 8 and len(through.decode_plan(tsn)) == 1
    assert seeking.decode_plan(range(40, 56)) == [list(range(40, 56))]
    rng = np.random.default_rng(1)
    for indices in [tsn, [149, 0, 75, 75], *(rng.integers(0, len(reference), 6).tolist() for _ in range(4))]:
        np.testing.assert_array_equal(seeking.get_frames(indices), reference[indices])
        np.testing.assert_array_equal(through.get_frames(indices), reference[indices])
