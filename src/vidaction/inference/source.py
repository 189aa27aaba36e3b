"""Frames from a video file, a network stream or a camera, decoded in a thread for online recognition.

``FrameSource(source)`` opens ``source`` with PyAV (FFmpeg): a file path, a URL FFmpeg reads
(``rtsp://``, ``http(s)://`` including HLS playlists, ``udp://``, ...), or a V4L2 camera
(``/dev/videoN``, PyAV's ``v4l2`` input format). A thread decodes frames to RGB ``uint8 (H, W, 3)``
arrays and hands them to the consumer (the model, in the main thread) in one of two ways:

- a file is read as fast as the consumer takes frames, through a short queue: the decoder waits,
  nothing is dropped; with ``realtime=True`` it is instead played at its frame rate, as if live;
- a live source (URL, camera), and a file with ``realtime``, is paced to its timestamps and handed
  over in a one-frame slot: when the consumer is slower than the source, the frame it has not taken
  yet is replaced by the newer one and counted in ``dropped``, so results never lag behind the
  source (the cause of webcam demos running tens of seconds late).

A live source that fails to open or breaks off with an error is reopened, up to ``reconnect``
times in a row (the count restarts with every decoded frame), ``retry_delay`` seconds apart; then
iteration raises :class:`StreamError` naming the source and FFmpeg's reason. A file is not
reopened. The normal end of a stream (end of file, a server that closes a finite stream) ends
iteration.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Iterator, NamedTuple

import av
import numpy as np

from vidaction.data.errors import VideoDecodeError

NETWORK_PREFIXES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")
FILE_QUEUE = 4
# A timestamp further ahead of the wall clock than this is a discontinuity (a reconnection, a
# wrapped counter), not a reason to wait: the pacing clock restarts there.
MAX_AHEAD_S = 2.0


class StreamError(VideoDecodeError):
    """A source that cannot be opened, or a live stream lost beyond its reconnection tries."""


def source_kind(source: str) -> str:
    """``"camera"`` (``/dev/video*``), ``"url"`` (a network protocol) or ``"file"``."""
    if source.startswith("/dev/video"):
        return "camera"
    return "url" if source.lower().startswith(NETWORK_PREFIXES) else "file"


class Frame(NamedTuple):
    """One decoded frame: its index among the decoded frames, RGB ``uint8 (H, W, 3)``, time in seconds."""

    index: int
    image: np.ndarray
    time: float | None


class _Handoff:
    """Decoder-to-consumer hand-over: a queue of ``capacity`` frames that blocks the producer, or (``drop``)
    replaces the oldest waiting frame and counts it."""

    def __init__(self, capacity: int, drop: bool) -> None:
        self.items: deque = deque()
        self.capacity, self.drop = capacity, drop
        self.dropped = 0
        self.closed = False
        self.condition = threading.Condition()

    def put(self, item: object, final: bool = False) -> None:
        with self.condition:
            while not (self.drop or final) and len(self.items) >= self.capacity and not self.closed:
                self.condition.wait()
            if self.drop and not final and len(self.items) >= self.capacity:
                self.items.popleft()
                self.dropped += 1
            self.items.append(item)
            self.condition.notify_all()

    def get(self) -> object:
        with self.condition:
            while not self.items:
                self.condition.wait()
            item = self.items.popleft()
            self.condition.notify_all()
            return item

    def close(self) -> None:
        with self.condition:
            self.closed = True
            self.condition.notify_all()


_END = object()


class FrameSource:
    """Iterate over the frames of ``source`` (module docstring); use as a context manager or call
    :meth:`close`.

    Args:
        source: a file path, a URL, or ``/dev/videoN``.
        realtime: play a file at its frame rate, dropping frames the consumer misses (live sources always are).
        reconnect: how many times in a row a live source is reopened after an error.
        retry_delay: seconds between reopening attempts.
        timeout: seconds FFmpeg waits to open, or for data, before it gives up.
    """

    def __init__(self, source: str, realtime: bool = False, reconnect: int = 3, retry_delay: float = 1.0,
                 timeout: float = 10.0) -> None:
        self.source = source
        self.kind = source_kind(source)
        self.live = self.kind != "file" or realtime
        self.reconnect, self.retry_delay, self.timeout = reconnect, retry_delay, timeout
        self.fps: float | None = None
        self.reconnects = 0
        self._handoff = _Handoff(1 if self.live else FILE_QUEUE, drop=self.live)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._decode, name="frame-source", daemon=True)

    @property
    def dropped(self) -> int:
        """Frames decoded but replaced by a newer one before the consumer took them."""
        return self._handoff.dropped

    def __iter__(self) -> Iterator[Frame]:
        if self._thread.ident is not None:
            raise RuntimeError("a FrameSource is iterated once; open the source again")
        self._thread.start()
        while True:
            item = self._handoff.get()
            if item is _END:
                return
            if isinstance(item, StreamError):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._handoff.close()
        if self._thread.is_alive():  # a decoder blocked in FFmpeg ends with its read timeout; it is a daemon
            self._thread.join(timeout=1.0)

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _open(self) -> av.container.InputContainer:
        options = {"rtsp_transport": "tcp"} if self.source.startswith(("rtsp://", "rtsps://")) else {}
        return av.open(self.source, format="v4l2" if self.kind == "camera" else None, options=options,
                       timeout=self.timeout)

    def _decode(self) -> None:
        failures, index = 0, 0
        while not self._stop.is_set():
            try:
                with self._open() as container:
                    if not container.streams.video:
                        self._handoff.put(StreamError(self.source, "no video stream"), final=True)
                        return
                    stream = container.streams.video[0]
                    stream.thread_type = "SLICE" if self.live else "AUTO"  # frame threads delay frames
                    rate = stream.average_rate or stream.guessed_rate
                    self.fps = float(rate) if rate else None
                    clock = None
                    for frame in container.decode(stream):
                        if self._stop.is_set():
                            return
                        failures = 0
                        clock = self._pace(frame.time, clock)
                        self._handoff.put(Frame(index, frame.to_ndarray(format="rgb24"), frame.time))
                        index += 1
                self._handoff.put(_END, final=True)
                return
            except (av.FFmpegError, OSError) as exc:
                failures += 1
                if self.kind == "file" or failures > self.reconnect:
                    tries = "" if self.kind == "file" else f"; gave up after {self.reconnect} reconnection tries"
                    self._handoff.put(StreamError(self.source, f"{_reason(exc)}{tries}"), final=True)
                    return
                self.reconnects += 1
                self._stop.wait(self.retry_delay)
            except Exception as exc:  # never leave the consumer waiting: any other failure ends the stream
                self._handoff.put(StreamError(self.source, f"{type(exc).__name__}: {exc}"), final=True)
                return
        self._handoff.put(_END, final=True)

    def _pace(self, timestamp: float | None, clock: tuple[float, float] | None) -> tuple[float, float] | None:
        """Wait until ``timestamp`` (seconds) is due on the wall clock ``(wall, stream time)`` started at
        the first frame; returns the clock. Files without ``realtime`` are not paced."""
        if not self.live or timestamp is None:
            return clock
        now = time.perf_counter()
        if clock is None or timestamp - clock[1] - (now - clock[0]) > MAX_AHEAD_S or timestamp < clock[1]:
            return now, timestamp
        self._stop.wait(max(0.0, timestamp - clock[1] - (now - clock[0])))
        return clock


def _reason(exc: BaseException) -> str:
    """FFmpeg's message without PyAV's errno prefix and the file name it repeats."""
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).strip()
