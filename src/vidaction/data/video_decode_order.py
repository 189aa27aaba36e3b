"""Frames numbered in decode order, for videos whose timestamps cannot be trusted
(:mod:`vidaction.data.video`): frame ``i`` is the ``i``-th picture the decoder outputs decoding the
whole file, ``read`` returns them as ``{i: (H, W, 3) uint8}`` RGB.

:func:`scan_decode_order` decodes the whole file once: it counts the frames, keeps a 64-bit
fingerprint of each (CRC-32 and Adler-32 of the decoded planes, without row padding, which FFmpeg
leaves uninitialised), and for every keyframe packet with a timestamp proposes the frame a decode
starting there outputs first: the picture the decoder stamped with that packet's timestamp, else the
count of frames output before the packet went in. Only proposals: the timestamps are wrong in these
files, but demuxers still seek by them and decoders still stamp a picture with its packet's.

:meth:`DecodeOrderIndex.read` seeks to the keyframe before a wanted frame when that keyframe starts
after the previous wanted frame (the rule of timestamp mode's ``decode_plan``), learns where the
seek landed from the fingerprint of the first picture out, and compares every later picture's
fingerprint with the scan's, so the frames it returns are those of decoding everything. A landing
after the wanted frame is remembered (the next plan picks an earlier keyframe); a picture that
differs from the scan's (leading B-frames of an open GOP, a seek the demuxer cannot do) marks the
keyframe unusable; either way that read decodes from the start. DivX/XviD packed bitstreams (UCF101's
AVIs: a B-frame in the packet of the frame decoded before it, an N-VOP placeholder in its own slot)
need no special case: the fingerprints decide. The index is shared by every reader of the file
(:class:`vidaction.data.video_index.FileCache`), so what one read learns serves the next.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import NamedTuple

import av
import numpy as np

OpenVideo = Callable[[], tuple[av.container.InputContainer, av.video.stream.VideoStream]]


class DecodedInOrder(NamedTuple):
    """Wanted frames found, how many frames were decoded to find them, the error that stopped decoding."""

    frames: dict[int, np.ndarray]
    reached: int
    error: av.FFmpegError | None


class _Mismatch(Exception):
    """A decode after a seek is not the scan's: read from the start instead."""


def fingerprint(frame: av.VideoFrame) -> int:
    """64 bits identifying a decoded picture: CRC-32 and Adler-32 of its planes."""
    try:
        data = frame.to_ndarray()
    except ValueError:  # a pixel format numpy cannot hold as it is
        data = frame.to_ndarray(format="rgb24")
    data = np.ascontiguousarray(data)
    return zlib.crc32(data) << 32 | zlib.adler32(data)


class DecodeOrderIndex:
    """What :func:`scan_decode_order` found: ``fingerprints`` ``(num_frames,) uint64`` in output order,
    ``key_ts`` the seek timestamps of keyframe packets and ``key_start`` the frame each lands on
    (proposed by the scan, corrected by reads; -1: unusable)."""

    def __init__(self, fingerprints: np.ndarray, key_ts: np.ndarray, key_start: np.ndarray) -> None:
        self.fingerprints = fingerprints
        self.key_ts = key_ts
        self.key_start = key_start

    @property
    def num_frames(self) -> int:
        return len(self.fingerprints)

    def plan(self, wanted: Sequence[int], sparse: bool = True) -> list[tuple[int | None, list[int]]]:
        """``(keyframe to seek to, None: go on decoding, from the start for the first run), run)`` for
        the sorted distinct ``wanted``; without ``sparse`` only the first run seeks."""
        runs: list[tuple[int | None, list[int]]] = []
        for i in sorted({int(i) for i in wanted}):
            key = self._key_before(i) if sparse or not runs else None
            start = 0 if key is None else int(self.key_start[key])
            if runs and start <= runs[-1][1][-1] + 1:
                runs[-1][1].append(i)
            else:
                runs.append((key if start > 0 else None, [i]))
        return runs

    def _key_before(self, i: int) -> int | None:
        """The keyframe landing latest at or before frame ``i``."""
        usable = np.flatnonzero((self.key_start >= 0) & (self.key_start <= i))
        return int(usable[np.argmax(self.key_start[usable])]) if len(usable) else None

    def read(self, open_video: OpenVideo, wanted: Sequence[int], sparse: bool = True) -> DecodedInOrder:
        """Decode the frames at ``wanted`` (inside ``[0, num_frames)``)."""
        plan = self.plan(wanted, sparse)
        if plan[0][0] is not None or len(plan) > 1:
            try:
                frames = self._read_seeking(open_video, plan)
                return DecodedInOrder(frames, max(frames) + 1, None)
            except (_Mismatch, av.FFmpegError):
                pass
        return read_from_start(open_video, {int(i) for i in wanted})

    def _read_seeking(self, open_video: OpenVideo, plan: list[tuple[int | None, list[int]]]) -> dict[int, np.ndarray]:
        frames: dict[int, np.ndarray] = {}
        container, stream = open_video()
        with container:
            for key, run in plan:
                if key is not None:
                    self._seek(container, stream, key)
                wanted = set(run)
                position = None if key is not None else 0
                for frame in container.decode(stream):
                    if position is None:
                        position = self._landing(key, fingerprint(frame), run[0])
                    elif key is not None and (position >= self.num_frames
                                              or self.fingerprints[position] != fingerprint(frame)):
                        self.key_start[key] = -1
                        raise _Mismatch
                    if position in wanted:
                        frames[position] = frame.to_ndarray(format="rgb24")
                    if position == run[-1]:
                        break
                    position += 1
                if position is None:  # nothing came out after the seek
                    self.key_start[key] = -1
                if position != run[-1]:
                    raise _Mismatch
        return frames

    def _seek(self, container: av.container.InputContainer, stream: av.video.stream.VideoStream, key: int) -> None:
        try:
            container.seek(int(self.key_ts[key]), stream=stream, backward=True, any_frame=False)
        except av.FFmpegError as exc:
            self.key_start[key] = -1
            raise _Mismatch from exc

    def _landing(self, key: int, print_: int, first: int) -> int:
        """The frame a seek to ``key`` landed on, from the fingerprint of the first picture out."""
        start = int(self.key_start[key])
        if self.fingerprints[start] != print_:
            same = np.flatnonzero(self.fingerprints == np.uint64(print_))
            if not len(same):
                self.key_start[key] = -1
                raise _Mismatch
            start = int(same[np.argmin(np.abs(same - start))])
            self.key_start[key] = start
        if start > first:
            raise _Mismatch
        return start


def scan_decode_order(open_video: OpenVideo) -> tuple[DecodeOrderIndex, av.FFmpegError | None]:
    """Decode the whole file once (see the module docstring); the error that stopped it early, if any."""
    prints: list[int] = []
    keys: list[tuple[int, int | None, int]] = []
    stamped: dict[int, int] = {}
    error = None
    try:
        container, stream = open_video()
        with container:
            for packet in container.demux(stream):
                if packet.size and packet.is_keyframe and not packet.is_discard:
                    ts = packet.dts if packet.dts is not None else packet.pts
                    if ts is not None:
                        keys.append((ts, packet.pts, len(prints)))
                for frame in packet.decode():
                    if frame.pts is not None:
                        stamped.setdefault(frame.pts, len(prints))
                    prints.append(fingerprint(frame))
    except av.FFmpegError as exc:
        error = exc
    starts = [max(before, stamped.get(pts, before)) if pts is not None else before for _, pts, before in keys]
    keys = [(ts, pts, start) for (ts, pts, _), start in zip(keys, starts) if start < len(prints)]
    index = DecodeOrderIndex(np.array(prints, dtype=np.uint64), np.array([k[0] for k in keys], dtype=np.int64),
                             np.array([k[2] for k in keys], dtype=np.int64))
    return index, error


def read_from_start(open_video: OpenVideo, wanted: set[int]) -> DecodedInOrder:
    """Decode from the start to the last wanted frame, frame ``i`` being the ``i``-th output."""
    frames: dict[int, np.ndarray] = {}
    last = max(wanted)
    count = 0
    try:
        container, stream = open_video()
        with container:
            for frame in container.decode(stream):
                if count in wanted:
                    frames[count] = frame.to_ndarray(format="rgb24")
                count += 1
                if count > last:
                    break
    except av.FFmpegError as exc:
        return DecodedInOrder(frames, count, exc)
    return DecodedInOrder(frames, count, None)
