"""Image encoding. Private to `privacy/`: only redacted images reach these functions.

An architecture test checks that no module outside `privacy/` encodes images.
"""

from __future__ import annotations

from pathlib import Path

import cv2

from onsight.types import Image


def encode(image: Image, suffix: str, quality: int = 85) -> bytes:
    """Encode to `.jpg` or `.png` bytes."""
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if suffix == ".jpg" else []
    ok, data = cv2.imencode(suffix, image, params)
    if not ok:
        raise OSError(f"cannot encode a {suffix} image")
    return bytes(data.tobytes())


def write(path: Path, image: Image, quality: int = 85) -> None:
    """Write `image` to `path` (JPEG or PNG by suffix), creating the parent directory."""
    suffix = path.suffix.lower()
    if suffix in (".jpeg", ".jpg"):
        suffix = ".jpg"
    elif suffix != ".png":
        raise OSError(f"{path}: unsupported image type (use .jpg or .png)")
    data = encode(image, suffix, quality)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
