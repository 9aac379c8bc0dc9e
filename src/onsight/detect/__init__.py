"""Object detection: one Detector protocol, a model registry, onnxruntime and OpenCV backends
(the names load on first use: the registry must not pull in the backends)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from onsight._lazy import lazy_exports

if TYPE_CHECKING:
    from onsight.detect.factory import make_detector
    from onsight.detect.protocol import Detector
    from onsight.detect.registry import MODELS

_EXPORTS = {
    "make_detector": "onsight.detect.factory",
    "Detector": "onsight.detect.protocol",
    "MODELS": "onsight.detect.registry",
}

__all__ = ["MODELS", "Detector", "make_detector"]

__getattr__ = lazy_exports(_EXPORTS)
