"""Encoded image bytes -> BGR pixels, refusing what is not a whole JPEG or PNG.

The pixels come from OpenCV's decoder, as export-deploy reads images (cv2.imread), so the detections are
the parity check's. OpenCV fills a truncated JPEG with grey and says nothing; Pillow decodes it (at 1/8
scale for a JPEG: the DCT scaling still reads every byte) to find that out.
"""

from __future__ import annotations

import io

import numpy as np

MAX_PIXELS = 64 * 1024 * 1024
_FORMATS = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG"}


class BadImage(ValueError):
    pass


def sniff(data: bytes) -> str | None:
    for magic, name in _FORMATS.items():
        if data.startswith(magic):
            return name
    return None


def check_complete(data: bytes, kind: str) -> tuple[int, int]:
    """Decode fully with Pillow; raises BadImage for a truncated or corrupt file. Returns (width, height)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise BadImage(f"{width}x{height} pixels is more than the {MAX_PIXELS} allowed")
            if kind == "JPEG":
                image.draft(image.mode, (max(1, width // 8), max(1, height // 8)))
            image.load()
    except BadImage:
        raise
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError... for broken files
        detail = str(exc) or type(exc).__name__
        if "truncated" in detail:
            raise BadImage(f"truncated {kind} ({len(data)} bytes): {detail}") from exc
        raise BadImage(f"corrupt {kind} ({len(data)} bytes): {detail}") from exc
    return width, height


def decode(data: bytes) -> np.ndarray:
    """HxWx3 BGR uint8, or BadImage saying what is wrong."""
    import cv2

    if not data:
        raise BadImage("empty (0 bytes)")
    kind = sniff(data)
    if kind is None:
        raise BadImage(f"not a JPEG or PNG image (starts with {data[:8]!r}, {len(data)} bytes)")
    check_complete(data, kind)
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise BadImage(f"OpenCV cannot decode this {kind} ({len(data)} bytes)")
    return image
