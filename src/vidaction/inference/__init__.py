"""Inference on streams: TSM's online recognition with cached shift buffers (:mod:`.online`), frame
sources decoded in a thread (:mod:`.source`), the recognition loop (:mod:`.live`) and annotated
output (:mod:`.overlay`)."""

from vidaction.inference.live import StreamResult, recognize_stream
from vidaction.inference.online import BufferedShift, FramePreprocess, OnlineRecognizer, OnlineTSM, check_online
from vidaction.inference.source import Frame, FrameSource, StreamError, source_kind

__all__ = ["BufferedShift", "Frame", "FramePreprocess", "FrameSource", "OnlineRecognizer", "OnlineTSM",
           "StreamError", "StreamResult", "check_online", "recognize_stream", "source_kind"]
