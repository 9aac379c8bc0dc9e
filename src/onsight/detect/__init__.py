"""Object detection: one Detector protocol, a model registry, onnxruntime and OpenCV backends."""

from onsight.detect.factory import make_detector
from onsight.detect.protocol import Detector
from onsight.detect.registry import MODELS

__all__ = ["MODELS", "Detector", "make_detector"]
