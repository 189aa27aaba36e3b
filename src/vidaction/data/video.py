"""Frame-accurate random access to video files with PyAV: ``get_frames`` returns
``(len(indices), H, W, 3) uint8`` RGB.

Frame ``i`` is the ``i``-th picture the decoder outputs when it decodes the whole file in order
(its display order). Where the container's timestamps can be trusted the reader numbers frames
without decoding: it demuxes the packets once and sorts their presentation timestamps
(:mod:`vidaction.data.video_index`), which also serves variable frame rate and B-frames, and
``get_frames`` seeks to the last keyframe at or before the first wanted frame and decodes forward.
Demuxers disagree on what a seek timestamp means (MP4 and Matroska seek by presentation time, AVI
by decoding time), so a seek that lands after the wanted frame is retried at the keyframe's
decoding time and finally from the start of the file.

Timestamps are not trusted when the index shows them wrong (missing, shared, shown before decoded,
reordered beyond a decoder's reach, DivX-style packed B-frames), or when the decoder contradicts
them: it outputs a picture whose timestamp is not in the index or not the one after the previous
picture's, or it reaches the end of the stream
without error and without a wanted frame (B-frames muxed without composition offsets, DivX/XviD
packed B-frames in AVI). The reader then warns, and numbers frames in decode order, as players do:
one scan decodes the whole file to count and fingerprint its frames, and later reads seek to
keyframes, checked against those fingerprints (:mod:`vidaction.data.video_decode_order`).

What probing found (packet index, warnings, the decode-order scan) is kept per file for the files
used last (:data:`PROBES`, up to 4M frames' worth, some 8-16 bytes a frame, in each process), so the
reader a DataLoader worker creates for every clip neither demuxes nor scans a file again; each
reader repeats the file's warnings.

Truncation is an error, an overstated header is not. Truncated: the file stops inside a packet
(the demuxer returns it short), a WebM/Matroska track's ``DURATION`` tag states more time than its
packets span (by more than two frames), or the decoder fails before a wanted frame; these raise
:class:`VideoDecodeError` with a ``truncated: ...`` reason. Overstated: the header lists more frames
than the file's complete packets (an AVI header claiming 2^31 frames, a file cut at a packet
boundary); the frames that are there are read and a warning names the file. A Matroska file
without that tag (e.g. recorded live) states neither count nor duration, so its truncation at a
packet boundary cannot be told from a shorter video. A still image (PNG, JPEG, ... whatever its
file name) is not a video: FFmpeg would read it as one frame, the reader refuses it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np

from vidaction.data.errors import VideoDecodeError
from vidaction.data.video_decode_order import DecodeOrderIndex, scan_decode_order
from vidaction.data.video_index import FileCache, PacketIndex, index_packets, stated_duration

PROBES = FileCache(capacity=2**22)


class _Decoded(NamedTuple):
    frames: dict[int, np.ndarray]
    first_pts: int | None
    last_pts: int | None
    error: av.FFmpegError | None


class _Unreliable(Exception):
    """The decoder contradicts the packet timestamps."""


@dataclass
class Probe:
    """What probing one file found, shared by its readers: the sorted presentation timestamps
    ``pts`` ``(num_frames,)`` and those of the keyframes (``key_pts``, their decoding times
    ``key_dts``, their ranks ``key_index`` in ``pts``), whether a picture decoded after a keyframe is
    shown before it (``leading_pictures``), the warnings each reader repeats (``notes``) and, once the
    timestamps proved unreliable, the decode-order scan (``order``)."""

    fps: float
    time_base: float
    pts: np.ndarray
    key_pts: np.ndarray
    key_dts: np.ndarray
    key_index: np.ndarray
    leading_pictures: bool
    notes: list[str] = field(default_factory=list)
    order: DecodeOrderIndex | None = None


class VideoReader:
    """Random access to the RGB frames of one video file.

    Holds only the path and what probing found (no open container), so it is cheap to create per
    item and safe to use in forked DataLoader workers. ``thread_type`` is FFmpeg's decoder
    threading; the default ``"SLICE"`` (FFmpeg's own) beat ``"AUTO"`` (frame threads too) on a
    2-core machine for one clip, 30 vs 41 ms for 64 frames of 320x256 and 270 vs 318 ms for 45
    of 1280x720, and DataLoader workers already fill the cores. ``sparse_seek``: seek again between
    far-apart wanted frames (:meth:`decode_plan`), else seek once and decode through. ``decode_order``
    is ``True`` when the timestamps were found unreliable and frames are numbered in decode order.
    """

    def __init__(self, path: str | Path, thread_type: str = "SLICE", sparse_seek: bool = True) -> None:
        self.path = str(path)
        self.thread_type = thread_type
        self.sparse_seek = sparse_seek
        if not Path(self.path).is_file():
            raise VideoDecodeError(self.path, "file not found")
        probe = PROBES.get(self.path)
        if probe is None:
            probe = self._probe()
            PROBES.put(self.path, probe, len(probe.pts))
        self.probe = probe
        self.fps = probe.fps
        for note in probe.notes:
            warnings.warn(note, stacklevel=2)

    def _probe(self) -> Probe:
        try:
            with av.open(self.path) as container:
                demuxer = container.format.name
                if demuxer == "image2" or demuxer.endswith("_pipe"):
                    raise VideoDecodeError(self.path, f"a still image ({demuxer.removesuffix('_pipe')}), not a video")
                if not container.streams.video:
                    kinds = ", ".join(sorted({s.type for s in container.streams}))
                    raise VideoDecodeError(self.path, "no video stream" + (f" (only {kinds})" if kinds else ""))
                stream = container.streams.video[0]
                fps = float(stream.average_rate or stream.guessed_rate or 0.0)
                time_base = float(stream.time_base)
                listed = stream.frames
                stated = stated_duration(stream)
                index = index_packets(container, stream)
        except av.FFmpegError as exc:
            raise VideoDecodeError(self.path, f"cannot open as video ({_describe(exc)})") from exc
        if not index.pts:
            raise VideoDecodeError(self.path, "video has no frames")
        notes = self._check_length(index, listed, stated, fps, time_base)
        pts = np.array(sorted(t for t in index.pts if t is not None), dtype=np.int64)
        keys = sorted((index.pts[k], index.dts[k]) for k in index.keyframes if index.pts[k] is not None)
        key_pts = np.array([k[0] for k in keys], dtype=np.int64)
        key_dts = np.array([k[1] if k[1] is not None else k[0] for k in keys], dtype=np.int64)
        probe = Probe(fps, time_base, pts, key_pts, key_dts, np.searchsorted(pts, key_pts),
                      index.leading_pictures(), notes)
        reason = index.unreliable()
        if reason is not None:
            self.probe = probe
            self._use_decode_order(reason)
        return probe

    def _check_length(self, index: PacketIndex, listed: int, stated: float | None, fps: float,
                      time_base: float) -> list[str]:
        """Raise if the file is truncated; the warning to give if its header overstates its length."""
        notes = []
        if listed > index.packets:
            if index.cut:
                raise VideoDecodeError(self.path, f"truncated: the container lists {listed} frames, "
                                                  f"{index.packets} are in the file (the last one cut)")
            notes.append(f"{self.path}: the container lists {listed} frames, the file holds "
                         f"{index.packets} packets; reading those")
        times = [t for t in index.pts if t is not None]
        if stated is not None and times:
            end = max(times) * time_base + (1.0 / fps if fps else 0.0)
            if stated - end > max(2.0 / fps if fps else 0.5, 0.1):
                raise VideoDecodeError(self.path, f"truncated: the container states {stated:.2f} s of video, "
                                                  f"the file holds {end:.2f} s")
        return notes

    def _use_decode_order(self, reason: str) -> str:
        """Number frames in decode order from now on (scanning the whole file); the warning to give."""
        order, error = scan_decode_order(self._open)
        if error is not None and order.num_frames == 0:
            raise VideoDecodeError(self.path, f"truncated: decoded 0 frames ({_describe(error)})")
        if order.num_frames == 0:
            raise VideoDecodeError(self.path, "video has no frames")
        note = f"{self.path}: unreliable timestamps ({reason}); frames are numbered in decode order"
        self.probe.order = order
        self.probe.notes.append(note)
        return note

    @property
    def decode_order(self) -> bool:
        return self.probe.order is not None

    @property
    def num_frames(self) -> int:
        return self.probe.order.num_frames if self.probe.order is not None else len(self.probe.pts)

    @property
    def duration(self) -> float:
        """Seconds from the first frame to the end of the last (one nominal frame long)."""
        return float(self.timestamps()[-1] + (1.0 / self.fps if self.fps else 0.0))

    def timestamps(self) -> np.ndarray:
        """Presentation time of every frame in seconds from the first, ``(num_frames,)`` float64;
        nominal (``i / fps``) where frames are numbered in decode order."""
        if self.decode_order:
            return np.arange(self.num_frames) / (self.fps or 1.0)
        return (self.probe.pts - self.probe.pts[0]) * self.probe.time_base

    def get_frames(self, indices: Sequence[int]) -> np.ndarray:
        """Frames at ``indices`` (any order, repeats allowed) as ``(len(indices), H, W, 3) uint8`` RGB."""
        indices = [int(i) for i in indices]
        if not indices:
            raise ValueError("no frame indices requested")
        if not self.decode_order:
            try:
                return self._get_by_timestamp(indices)
            except _Unreliable as why:
                warnings.warn(self._use_decode_order(str(why)), stacklevel=2)
        self._check_inside(indices)
        decoded = self.probe.order.read(self._open, indices, self.sparse_seek)
        if len(decoded.frames) < len(set(indices)):
            cause = f" ({_describe(decoded.error)})" if decoded.error is not None else ""
            raise VideoDecodeError(self.path, f"truncated: decoded {decoded.reached} of {self.num_frames} frames{cause}")
        return np.stack([decoded.frames[i] for i in indices])

    def _check_inside(self, indices: list[int]) -> None:
        outside = [i for i in indices if not 0 <= i < self.num_frames]
        if outside:
            raise VideoDecodeError(self.path, f"frame index {outside[0]} outside [0, {self.num_frames})")

    def _get_by_timestamp(self, indices: list[int]) -> np.ndarray:
        self._check_inside(indices)
        wanted = {int(self.probe.pts[i]) for i in indices}
        decoded = self._decode(indices)
        if len(decoded.frames) < len(wanted):
            if decoded.error is None:
                raise _Unreliable("wanted frames absent from the decoded stream")
            raise VideoDecodeError(self.path, self._missing_reason(wanted, decoded))
        return np.stack([decoded.frames[int(self.probe.pts[i])] for i in indices])

    def _seek_targets(self, first: int) -> list[int]:
        """Timestamps to seek to for the frame shown at ``first``, best first; empty: decode from the start."""
        k = int(np.searchsorted(self.probe.key_pts, first, side="right")) - 1
        if k < 0 or self.probe.key_pts[k] <= self.probe.pts[0]:
            return []
        if self.probe.key_dts[k] < self.probe.key_pts[k]:
            return [int(self.probe.key_pts[k]), int(self.probe.key_dts[k])]
        return [int(self.probe.key_pts[k])]

    def decode_plan(self, indices: Sequence[int]) -> list[list[int]]:
        """How ``get_frames`` reads ``indices``: runs of their sorted distinct values, each decoded
        forward after one seek to the keyframe before its first frame. A frame starts a new run when
        its gap from the previous wanted frame exceeds its distance from its keyframe by more than
        one: decoding on would pass through frames that the seek skips. One run without
        ``sparse_seek``; in decode order the keyframes are where the scan found seeks land."""
        if self.probe.order is not None:
            return [run for _, run in self.probe.order.plan(indices, self.sparse_seek)]
        wanted = sorted({int(i) for i in indices})
        if not self.sparse_seek:
            return [wanted]
        runs = [wanted[:1]]
        for i in wanted[1:]:
            k = int(np.searchsorted(self.probe.key_index, i, side="right")) - 1
            if k >= 0 and i - runs[-1][-1] > i - self.probe.key_index[k] + 1:
                runs.append([i])
            else:
                runs[-1].append(i)
        return runs

    def _decode(self, indices: list[int]) -> _Decoded:
        runs = [{int(self.probe.pts[i]) for i in run} for run in self.decode_plan(indices)]
        if len(runs) > 1:
            decoded = self._decode_runs(runs)
            if decoded is not None:
                return decoded
        wanted = set().union(*runs)
        first = min(wanted)
        for target in self._seek_targets(first):
            decoded = self._decode_from(target, wanted)
            if decoded.first_pts is not None and decoded.first_pts <= first:
                return decoded
        return self._decode_from(None, wanted)

    def _decode_runs(self, runs: list[set[int]]) -> _Decoded | None:
        """Each run after its own seek, in one open file; ``None`` when a seek lands after its run's
        first frame (the caller then decodes through from one seek)."""
        frames: dict[int, np.ndarray] = {}
        first_pts = None
        try:
            container, stream = self._open()
            with container:
                for run in runs:
                    for target in self._seek_targets(min(run)) or [None]:
                        decoded = self._run(container, stream, target, run)
                        if decoded.error is not None or (decoded.first_pts is not None
                                                         and decoded.first_pts <= min(run)):
                            break
                    else:
                        return None
                    frames.update(decoded.frames)
                    first_pts = decoded.first_pts if first_pts is None else first_pts
                    if decoded.error is not None or len(decoded.frames) < len(run):
                        break
        except av.FFmpegError as exc:
            return _Decoded(frames, first_pts, None, exc)
        return _Decoded(frames, first_pts, decoded.last_pts, decoded.error)

    def _open(self) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
        container = av.open(self.path)
        stream = container.streams.video[0]
        stream.thread_type = self.thread_type
        return container, stream

    def _decode_from(self, target: int | None, wanted: set[int]) -> _Decoded:
        try:
            container, stream = self._open()
        except av.FFmpegError as exc:
            return _Decoded({}, None, None, exc)
        with container:
            return self._run(container, stream, target, wanted)

    def _run(self, container: av.container.InputContainer, stream: av.video.stream.VideoStream,
             target: int | None, wanted: set[int]) -> _Decoded:
        """Seek to ``target`` (``None``: no seek) and decode forward to the last ``wanted`` timestamp."""
        first, last = min(wanted), max(wanted)
        frames: dict[int, np.ndarray] = {}
        first_pts = last_pts = None
        try:
            if target is not None:
                container.seek(target, stream=stream, backward=True, any_frame=False)
            for frame in container.decode(stream):
                pts = frame.pts
                if first_pts is None:
                    first_pts = pts
                    if pts is not None and target is not None and pts > first:
                        break
                self._check_follows(last_pts, pts)
                last_pts = pts
                if pts in wanted:
                    frames[pts] = frame.to_ndarray(format="rgb24")
                if pts >= last:
                    break
        except av.FFmpegError as exc:
            return _Decoded(frames, first_pts, last_pts, exc)
        return _Decoded(frames, first_pts, last_pts, None)

    def _check_follows(self, previous: int | None, pts: int | None) -> None:
        """Raise :class:`_Unreliable` unless a decoded ``pts`` is in the index and, after ``previous``,
        the next one: a decoder outputs every picture, in display order."""
        at = int(np.searchsorted(self.probe.pts, pts)) if pts is not None else len(self.probe.pts)
        if at == len(self.probe.pts) or self.probe.pts[at] != pts:
            raise _Unreliable("decoded timestamps absent from the packets")
        if previous is not None and (at == 0 or self.probe.pts[at - 1] != previous):
            raise _Unreliable("decoded timestamps out of order")

    def _missing_reason(self, wanted: set[int], decoded: _Decoded) -> str:
        cause = f" ({_describe(decoded.error)})" if decoded.error is not None else ""
        if decoded.last_pts is None or decoded.last_pts < max(wanted):
            reached = 0 if decoded.last_pts is None else int(np.searchsorted(self.probe.pts, decoded.last_pts, "right"))
            return f"truncated: decoded {reached} of {self.num_frames} frames{cause}"
        missing = sorted(int(np.searchsorted(self.probe.pts, p)) for p in wanted - decoded.frames.keys())
        return f"frames {missing} missing from the decoded stream (corrupt){cause}"


def _describe(exc: av.FFmpegError) -> str:
    return f"{exc.__class__.__name__}: {exc.strerror or exc}"
