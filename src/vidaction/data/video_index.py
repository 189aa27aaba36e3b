"""The packet index of a video stream, built by demuxing without decoding, and the checks that
decide whether its timestamps can be trusted to give the display order.

A decoder outputs pictures in display order whatever the container says, so timestamps only serve
to number frames without decoding. They cannot serve when a packet has no presentation timestamp,
two packets share one, a packet is shown before it is decoded, a keyframe is shown before a packet
decoded ahead of it (decoding cannot start there then), or a packet's rank among the sorted
timestamps is further than a decoder's reorder buffer (16 pictures, H.264's largest) from its
place in the stream, or the stream is MPEG-4 Part 2 with DivX/XviD "packed" B-frames (marked, as
FFmpeg detects it, by a ``DivX<version>b<build>p`` user-data string: a B-frame rides in the packet
of the frame decoded before it, and an N-VOP placeholder takes its timestamp): the reader then
numbers frames in decode order (:mod:`vidaction.data.video`).

:class:`FileCache` keeps what such scans found for the files used last, so that a reader created per
clip (as DataLoader workers do) demuxes or decodes a file once, not once per clip.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import av
import numpy as np

MAX_REORDER = 16
PACKED_BFRAMES = re.compile(rb"DivX\d+(?:Build|b)\d+p")


@dataclass(frozen=True)
class PacketIndex:
    """What demuxing one video stream found.

    ``pts``: presentation timestamps of the picture packets in stream (decode) order; ``dts`` the
    same packets' decoding timestamps (``None`` where absent); ``keyframes``: positions of keyframe
    packets in that order; ``packets``: every packet read (pictures, drop-frame placeholders);
    ``cut``: the last packet ends short of the size the container gave it (the file stops inside it);
    ``packed``: MPEG-4 Part 2 with packed B-frames.
    """

    pts: list[int | None]
    dts: list[int | None]
    keyframes: list[int]
    packets: int
    cut: bool
    packed: bool

    def unreliable(self) -> str | None:
        """Why the timestamps cannot give the display order, ``None`` when they can."""
        if self.packed:
            return "DivX-style packed B-frames"
        if any(t is None for t in self.pts):
            return "packets without presentation timestamps"
        pts = np.array(self.pts, dtype=np.int64)
        if len(np.unique(pts)) < len(pts):
            return "packets that share a presentation timestamp"
        if any(d is not None and p < d for p, d in zip(self.pts, self.dts)):
            return "packets shown before they are decoded"
        shown_before = np.maximum.accumulate(pts)
        if any(k > 0 and shown_before[k - 1] > pts[k] for k in self.keyframes):
            return "a keyframe shown before frames decoded ahead of it"
        rank = np.argsort(np.argsort(pts, kind="stable"), kind="stable")
        if np.abs(rank - np.arange(len(pts))).max(initial=0) > MAX_REORDER:
            return f"timestamps reordered by more than {MAX_REORDER} frames"
        return None

    def leading_pictures(self) -> bool:
        """Whether a packet decoded after a keyframe, before the next one, is shown before it (open GOPs)."""
        bounds = [*self.keyframes, len(self.pts)]
        return any(t is not None and self.pts[k] is not None and t < self.pts[k]
                   for k, end in zip(bounds, bounds[1:]) for t in self.pts[k + 1:end])


def index_packets(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> PacketIndex:
    """Demux ``stream`` without decoding."""
    pts: list[int | None] = []
    dts: list[int | None] = []
    keyframes: list[int] = []
    packets = 0
    cut = False
    packed = stream.codec_context.name == "mpeg4" and bool(PACKED_BFRAMES.search(stream.codec_context.extradata or b""))
    for packet in container.demux(stream):
        if packet.size == 0 and packet.dts is None:
            continue  # PyAV's end-of-stream marker, not a packet of the file
        packets += 1
        cut = packet.is_corrupt
        if packet.size == 0 or packet.is_discard:
            continue  # no picture: AVI drop-frame placeholders, edit-list leaders
        if packet.is_keyframe:
            keyframes.append(len(pts))
        if not pts and stream.codec_context.name == "mpeg4":
            packed = packed or bool(PACKED_BFRAMES.search(bytes(packet)))
        pts.append(packet.pts)
        dts.append(packet.dts)
    return PacketIndex(pts, dts, keyframes, packets, cut, packed)


def stated_duration(stream: av.video.stream.VideoStream) -> float | None:
    """Seconds in the stream's ``DURATION`` tag (``HH:MM:SS.fraction``, written per track by Matroska
    muxers), ``None`` when absent or unreadable."""
    try:
        tag = stream.metadata.get("DURATION", "")
    except (UnicodeDecodeError, ValueError):
        return None
    match = re.fullmatch(r"(\d+):(\d\d):(\d\d(?:\.\d+)?)", tag.strip())
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


class FileCache:
    """Values computed from files, for the most recently used files holding at most ``capacity``
    units in all (each value's ``size``: its frame count for packet indexes). A file whose inode,
    size or modification time changed since is a miss."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, tuple[tuple[int, int, int] | None, Any, int]] = OrderedDict()
        self._held = 0

    def get(self, path: str) -> Any | None:
        entry = self._entries.get(path)
        if entry is None:
            return None
        if entry[0] is None or entry[0] != _identity(path):
            self._drop(path)
            return None
        self._entries.move_to_end(path)
        return entry[1]

    def put(self, path: str, value: Any, size: int = 1) -> None:
        self._drop(path)
        self._entries[path] = (_identity(path), value, size)
        self._held += size
        while self._held > self.capacity and len(self._entries) > 1:
            self._drop(next(iter(self._entries)))

    def _drop(self, path: str) -> None:
        entry = self._entries.pop(path, None)
        if entry is not None:
            self._held -= entry[2]


def _identity(path: str) -> tuple[int, int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_ino, status.st_size, status.st_mtime_ns
