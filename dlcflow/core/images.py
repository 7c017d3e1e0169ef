"""Image facts without decoding: a PNG's size from its header, any other image via OpenCV."""

from __future__ import annotations

import os
import struct

import cv2

__all__ = ["ImageError", "image_shape", "image_size", "png_shape", "png_size"]


class ImageError(ValueError):
    """An image that cannot be read; the message names the file."""


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # IHDR colour type -> bands (as PIL counts)


def png_shape(path: str | os.PathLike[str]) -> tuple[int, int, int]:
    """(channels, height, width) of a PNG from its IHDR header (reads 26 bytes)."""
    with open(path, "rb") as fh:
        head = fh.read(26)
    if len(head) < 26 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise ImageError(f"{path}: not a PNG image")
    width, height = struct.unpack(">II", head[16:24])
    return _PNG_CHANNELS.get(head[25], 3), int(height), int(width)


def png_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(width, height) of a PNG from its header."""
    _, height, width = png_shape(path)
    return width, height


def image_shape(path: str | os.PathLike[str]) -> tuple[int, int, int]:
    """(channels, height, width) of an image, DLC's ``size``: PNG header, else OpenCV."""
    try:
        return png_shape(path)
    except ImageError:
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise ImageError(f"{path}: image cannot be read") from None
        channels = 1 if img.ndim == 2 else int(img.shape[2])
        return channels, int(img.shape[0]), int(img.shape[1])


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(width, height) of an image."""
    _, height, width = image_shape(path)
    return width, height
