"""Annotated frames for online recognition: the top label and its score, a status line and a confidence
bar drawn in three rows of a band under the frame (PIL; no OpenCV), for
:class:`vidaction.data.writer.VideoWriter` to encode one at a time.

``annotate(image, label, score, status)``: ``uint8 (H, W, 3) -> uint8 (H + band, W', 3)``, the band's
height ``max(36, H // 5)`` and both sides rounded up to even numbers (H.264 with 4:2:0 chroma needs them).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

BAR_COLOUR = (46, 160, 67)
TEXT_COLOUR = (0, 0, 0)
BAND_COLOUR = (255, 255, 255)


def annotate(image: np.ndarray, label: str, score: float, status: str = "") -> np.ndarray:
    """``image`` with a white band below: ``label`` and ``score`` (in ``[0, 1]``) as text, ``status``
    (e.g. latency and fps) under them, and ``score`` as a bar across the band."""
    height, width = image.shape[:2]
    band = max(36, height // 5)
    canvas = Image.new("RGB", (width + width % 2, height + band + (height + band) % 2), BAND_COLOUR)
    canvas.paste(Image.fromarray(np.ascontiguousarray(image)), (0, 0))
    draw = ImageDraw.Draw(canvas)
    row = band // 3
    font = ImageFont.load_default(size=max(8, row - 2))
    draw.text((2, height), f"{label} {score:.2f}", fill=TEXT_COLOUR, font=font)
    draw.text((2, height + row), status, fill=TEXT_COLOUR, font=font)
    draw.rectangle((0, height + 2 * row, round(width * min(max(score, 0.0), 1.0)), height + band - 1),
                   fill=BAR_COLOUR)
    return np.asarray(canvas)
