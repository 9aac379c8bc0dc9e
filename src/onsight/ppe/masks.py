"""Mask compliance per face: CenterFace faces, the AIZOO mask classifier, and a nose check.

Privacy (rules 1 and 3): faces are looked at, never kept. A face crop lives only inside
`MaskReader.read` and is dropped before it returns; the reader holds models and constants,
no pixels, and it computes no embedding or anything that could tell two people apart. What
comes out is a box, a detector score, a mask probability and one of four words.

Decisions:
- "masked": the classifier says Mask and the nose looks covered.
- "below_nose": the mouth/chin region does not look like the face's skin, but the nose patch
  does (it matches the skin between the eyes). A mask below the nose is not a mask. This
  overrides a Mask verdict; it also relabels a NoMask verdict, which leaves the share as is.
- "unmasked": the classifier says NoMask.
- "unsure": the face is too small (< `min_face_px`), or the classifier finds no face at the
  crop centre. Unsure faces are not counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from onsight.detect.registry import find_checked
from onsight.errors import ModelError
from onsight.ppe import _aizoo
from onsight.privacy import faces
from onsight.types import FloatArray, Image

MASK_WEIGHTS = "face_mask_aizoo_260.onnx"
MASK_SHA256 = "f068531edaddf55d8b92b3fa291f50388b090704c2573201160c1dea3e424fe3"

Decision = Literal["masked", "unmasked", "below_nose", "unsure"]
DECISIONS: tuple[Decision, ...] = ("masked", "unmasked", "below_nose", "unsure")

_CROP_EXPAND = 1.6  # the classifier sees the face with some context, as in its training
_LANDMARKS = 5
_LEFT_EYE, _RIGHT_EYE, _NOSE, _LEFT_MOUTH, _RIGHT_MOUTH = range(_LANDMARKS)


def find_mask_weights(model_dir: Path | None = None) -> Path:
    """Locate face_mask_aizoo_260.onnx and check its sha256."""
    origin = "AIZOOTech/FaceMaskDetection's TFLite model converted to ONNX, MIT"
    return find_checked(MASK_WEIGHTS, MASK_SHA256, "mask model", origin, model_dir)


@dataclass(frozen=True, slots=True)
class FaceReading:
    """One face: where it is (normalised xyxy), how sure the face detector was, the
    classifier's P(mask) (0.5 when it did not run), and the decision."""

    box: tuple[float, float, float, float]
    score: float
    mask_prob: float
    decision: Decision
    person: int | None = None  # index into `person_boxes`, when given

    @property
    def counted(self) -> bool:
        """Unsure faces are left out of every count."""
        return self.decision != "unsure"

    @property
    def masked(self) -> bool:
        return self.decision == "masked"


@dataclass(frozen=True, slots=True)
class NoseCheck:
    """Colour distances (weighted Lab) between three patches of one face."""

    nose_to_skin: float  # nose tip vs the skin between the eyes
    nose_to_mouth: float  # nose tip vs the mouth/chin region (the mask, if any)
    mouth_to_skin: float
    nose_to_brow: float = 0.0  # nose tip vs the forehead just above the brows
    mouth_to_brow: float = 0.0

    @property
    def mouth_covered(self) -> bool:
        """The mouth region does not look like the face's own skin."""
        return self.mouth_to_skin >= _COVER_DISTANCE

    @property
    def nose_bare(self) -> bool:
        """The nose looks like the skin between the eyes, not like the mask below it."""
        return (
            self.mouth_covered
            and self.nose_to_skin < _COVER_DISTANCE
            and self.nose_to_skin < _NOSE_SKIN_RATIO * self.nose_to_mouth
        )

    @property
    def covered(self) -> bool:
        """Nose and mouth both look unlike the face's skin, against both skin references
        (between the eyes and the forehead, so that a glasses bridge or a fringe alone
        cannot make a bare face look covered): something covers the nose and the mouth."""
        return (
            min(self.nose_to_skin, self.nose_to_brow, self.mouth_to_skin, self.mouth_to_brow)
            >= _COVERED_DISTANCE
        )


_COVER_DISTANCE = 12.0  # weighted Lab units; skin-vs-skin differences on a face sit below this
_NOSE_SKIN_RATIO = 0.8
_L_WEIGHT = 0.5  # lightness varies with shading on one face; chroma much less
# Bare faces in the painted set reach at most 8.8 on the smallest of the four distances,
# correctly worn masks 23.6 at the median. 15 missed grey masks (little chroma); 12, chosen
# on the tuning draw, called no bare face masked on five other draws (651 faces).
_COVERED_DISTANCE = 12.0


def nose_check(image: Image, landmarks_px: FloatArray) -> NoseCheck | None:
    """Compare the nose patch with the skin between the eyes and the mouth/chin region.

    `landmarks_px` is (5, 2) in pixels of `image` (BGR). None when the patches do not fit
    in the image or the face is too small to sample.
    """
    eyes = landmarks_px[[_LEFT_EYE, _RIGHT_EYE]]
    mouth = landmarks_px[[_LEFT_MOUTH, _RIGHT_MOUTH]]
    nose = landmarks_px[_NOSE]
    eye_mid, mouth_mid = eyes.mean(axis=0), mouth.mean(axis=0)
    span = float(np.hypot(*(eyes[1] - eyes[0])))
    down = mouth_mid - eye_mid  # the face's own "down" (handles a tilted head)
    length = float(np.hypot(*down))
    if span < 4.0 or length < 4.0:
        return None
    unit = down / length
    radius = max(1.0, 0.1 * span)
    centres = {
        "skin": eye_mid - unit * 0.1 * span,  # between the eyes, just above the eye line
        "nose": nose - unit * 0.1 * span,  # the nose tip and the lower bridge
        "mouth": mouth_mid + unit * 0.15 * span,  # lips and just below: under any mask
    }
    height, width = image.shape[:2]
    points = np.array(list(centres.values()))
    x0, y0 = np.floor(points.min(axis=0) - radius - 1).astype(int)
    x1, y1 = np.ceil(points.max(axis=0) + radius + 2).astype(int)
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        return None
    brow = eye_mid - unit * 0.45 * span  # forehead just above the brows; optional
    bx0, by0 = np.floor(np.minimum(points.min(axis=0), brow) - radius - 1).astype(int)
    bx1, by1 = np.ceil(np.maximum(points.max(axis=0), brow) + radius + 2).astype(int)
    if bx0 >= 0 and by0 >= 0 and bx1 <= width and by1 <= height:
        centres["brow"] = brow
        x0, y0, x1, y1 = bx0, by0, bx1, by1
    region = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2LAB).astype(np.float32)
    colour = {}
    for name, (cx, cy) in centres.items():
        px, py = cx - x0, cy - y0
        patch = region[
            max(0, round(py - radius)) : round(py + radius) + 1,
            max(0, round(px - radius)) : round(px + radius) + 1,
        ].reshape(-1, 3)
        # OpenCV's 8-bit Lab: L scaled to 0..255, a and b offset by 128
        lab = np.median(patch, axis=0) * np.array([100 / 255, 1.0, 1.0], np.float32)
        colour[name] = lab * np.array([_L_WEIGHT, 1.0, 1.0], np.float32)
    del region

    def dist(a: str, b: str) -> float:
        return float(np.linalg.norm(colour[a] - colour[b]))

    has_brow = "brow" in colour  # without it, `covered` stays False (the cautious side)
    return NoseCheck(
        dist("nose", "skin"),
        dist("nose", "mouth"),
        dist("mouth", "skin"),
        dist("nose", "brow") if has_brow else 0.0,
        dist("mouth", "brow") if has_brow else 0.0,
    )


class MaskReader:
    """Faces and whether each wears a mask over the nose. Not thread-safe.

    Holds only the two models and constants; each `read` keeps nothing of the image.

    Faces come from CenterFace and, as a second finder, from the AIZOO model itself (an SSD
    face detector trained on WIDER FACE + MAFA, so on masked faces, which CenterFace misses
    more often than bare ones). The second finder runs once on the whole frame, or, when
    person boxes are given, once per person head region where CenterFace found no face.
    """

    def __init__(
        self,
        face_weights: Path,
        mask_weights: Path,
        *,
        face_threshold: float = 0.3,
        min_face_px: int = 18,
        mask_threshold: float = 0.5,
        nose_check: bool = True,
        colour_cover: bool = True,
        second_finder: bool = True,
        second_threshold: float = 0.5,
        max_heads: int = 16,
        max_side: int = 1280,
        max_upscale: float = 2.0,
    ) -> None:
        self._faces = faces.FaceDetector(face_weights, max_side=max_side)
        try:
            self._classifier = cv2.dnn.readNetFromONNX(str(mask_weights))
        except cv2.error as exc:
            raise ModelError(f"OpenCV DNN cannot load {mask_weights}: {exc}") from None
        self._blank = np.zeros((1, 3, _aizoo.INPUT, _aizoo.INPUT), np.float32)
        self._anchors = _aizoo.anchors()
        self._face_threshold = face_threshold
        self._min_face_px = min_face_px
        self._mask_threshold = mask_threshold
        self._nose_check = nose_check
        self._colour_cover = colour_cover
        self._second_finder = second_finder
        self._second_threshold = second_threshold
        self._max_heads = max_heads
        self._max_upscale = max_upscale

    @classmethod
    def from_dir(cls, model_dir: Path | None = None, **options: object) -> MaskReader:
        """Find and verify both models (sha256) in the usual model folders."""
        return cls(
            faces.find_weights(model_dir),
            find_mask_weights(model_dir),
            **options,  # type: ignore[arg-type]
        )

    def read(
        self,
        image: Image,
        person_boxes: Sequence[Sequence[float]] | FloatArray | None = None,
        *,
        loose: bool = False,
    ) -> list[FaceReading]:
        """Read every face in `image` (BGR). With `person_boxes` (normalised xyxy), only faces
        whose centre lies in the upper half of a person box are read, each tagged with it;
        with `loose` as well, faces outside every person box too (`person` None): a face
        close up or in a crowd is a person the person detector may not have found."""
        height, width = image.shape[:2]
        found = self._faces.detect_landmarks(image, self._face_threshold, self._max_upscale)
        scale = np.array([width, height], np.float32)
        scale4 = np.concatenate([scale, scale])
        people = None if person_boxes is None else np.asarray(person_boxes, np.float32)
        people = None if people is None else people.reshape(-1, 4)
        readings: list[FaceReading] = []
        for box, marks, score in zip(found.boxes, found.landmarks, found.scores, strict=True):
            person = None
            if people is not None:
                person = _person_of(box, people)
                if person is None and not (loose and _outside(box, people)):
                    continue
            readings.append(
                self._read_face(image, box * scale4, marks * scale, float(score), person)
            )
        if self._second_finder:
            extra = self._second_faces(image, people, found.boxes)
            if loose and people is not None:
                known = np.concatenate([found.boxes, *(e[0][None] for e in extra)])
                extra += [
                    face
                    for face in self._second_faces(image, None, known)
                    if _outside(face[0], people)
                ]
            for box, score, mask_prob, person in extra:
                marks = box[:2] + _TEMPLATE * (box[2:] - box[:2])  # no landmarks: a template
                readings.append(
                    self._read_face(image, box * scale4, marks * scale, score, person, mask_prob)
                )
        return readings

    def classify(self, image: Image, box_px: FloatArray) -> _aizoo.CropVerdict:
        """The classifier alone on one face box (pixels, xyxy) of `image`."""
        crop = _square_crop(image, box_px, _CROP_EXPAND)
        boxes, scores = self._run(crop)
        del crop
        return _aizoo.centre_verdict(boxes, scores)

    def _run(self, view: Image) -> tuple[FloatArray, FloatArray]:
        """The AIZOO net on `view` resized to its input: decoded boxes (normalised to the
        view) and (Mask, NoMask) scores."""
        rgb = cv2.cvtColor(
            cv2.resize(view, (_aizoo.INPUT, _aizoo.INPUT), interpolation=cv2.INTER_LINEAR),
            cv2.COLOR_BGR2RGB,
        )
        blob = (rgb.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        del rgb
        self._classifier.setInput(blob)
        offsets, scores = self._classifier.forward(_aizoo.OUTPUTS)
        self._classifier.setInput(self._blank)  # the net keeps no face as its input
        del blob
        return _aizoo.decode(self._anchors, offsets[0]), np.asarray(scores[0], np.float32)

    def _second_faces(
        self, image: Image, people: FloatArray | None, known: FloatArray
    ) -> list[tuple[FloatArray, float, float, int | None]]:
        """Faces the AIZOO detector finds and CenterFace did not: (normalised xyxy box,
        detector score, P(mask), person index)."""
        height, width = image.shape[:2]
        out: list[tuple[FloatArray, float, float, int | None]] = []
        if people is None:
            boxes, scores = self._run(image)
            for box, score, mask_prob in _aizoo.detections(boxes, scores, self._second_threshold):
                if not _overlaps(box, known):
                    out.append((box, score, mask_prob, None))
            return out
        covered = {_person_of(box, people) for box in known}
        for person in range(min(len(people), self._max_heads)):
            if person in covered:
                continue
            x0, y0, x1, _ = people[person]
            # A square over the head: as wide as the person box, from its top edge.
            side = max(x1 - x0, 1e-3) * width
            head = np.array([x0 * width, y0 * height, x1 * width, y0 * height + side])
            head_view = _square_crop(image, head, 1.0)
            boxes, scores = self._run(head_view)
            del head_view
            hx0 = (x0 + x1) / 2 * width - side / 2
            hy0 = y0 * height
            best = None
            for box, score, mask_prob in _aizoo.detections(boxes, scores, self._second_threshold):
                frame_box = (box * side + np.array([hx0, hy0, hx0, hy0])) / np.array(
                    [width, height, width, height]
                )
                frame_box = np.clip(frame_box, 0.0, 1.0).astype(np.float32)
                if _person_of(frame_box, people[person : person + 1]) is None:
                    continue
                if _overlaps(frame_box, known):
                    continue
                if best is None or score > best[1]:
                    best = (frame_box, score, mask_prob, person)
            if best is not None:
                out.append(best)
        return out

    def _read_face(
        self,
        image: Image,
        box_px: FloatArray,
        marks_px: FloatArray,
        score: float,
        person: int | None,
        mask_prob: float | None = None,
    ) -> FaceReading:
        """One face. `mask_prob` is the second finder's own P(mask), when it found the face
        (then no crop is classified again)."""
        h, w = image.shape[:2]
        norm = box_px / np.array([w, h, w, h], np.float32)
        box = (float(norm[0]), float(norm[1]), float(norm[2]), float(norm[3]))
        side = min(box_px[2] - box_px[0], box_px[3] - box_px[1])
        if side < self._min_face_px:
            return FaceReading(box, score, 0.5, "unsure", person)
        if mask_prob is None:
            verdict = self.classify(image, box_px)
            if not verdict.found:
                return FaceReading(box, score, verdict.mask_prob, "unsure", person)
            mask_prob = verdict.mask_prob
        says_mask = mask_prob >= self._mask_threshold
        decision: Decision = "masked" if says_mask else "unmasked"
        if self._nose_check:
            check = nose_check(image, marks_px)
            # Mask over the mouth, bare nose: below the nose, whatever the classifier said
            # (a NoMask verdict on such a face is right for the share, but not the reason).
            if check is not None and check.nose_bare:
                decision = "below_nose"
            # The classifier says NoMask, but nose and mouth are both clearly not skin
            # (bold or patterned masks, which the classifier rarely saw): masked.
            elif check is not None and self._colour_cover and not says_mask and check.covered:
                decision = "masked"
        return FaceReading(box, score, mask_prob, decision, person)


# Where CenterFace's 5 landmarks sit inside an AIZOO face box (fractions of its width and
# height; medians over the tuning styles of the painted set), for faces only AIZOO finds.
_TEMPLATE = np.array(
    [[0.225, 0.414], [0.669, 0.396], [0.442, 0.605], [0.277, 0.765], [0.646, 0.752]], np.float32
)


def _overlaps(box: FloatArray, others: FloatArray, min_iou: float = 0.2) -> bool:
    """Whether `box` overlaps any of `others` (normalised xyxy) by IoU >= `min_iou`, or
    holds one's centre."""
    if len(others) == 0:
        return False
    x0 = np.maximum(box[0], others[:, 0])
    y0 = np.maximum(box[1], others[:, 1])
    x1 = np.minimum(box[2], others[:, 2])
    y1 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    iou = inter / np.maximum(area + areas - inter, 1e-9)
    cx, cy = (others[:, 0] + others[:, 2]) / 2, (others[:, 1] + others[:, 3]) / 2
    holds = (box[0] <= cx) & (cx <= box[2]) & (box[1] <= cy) & (cy <= box[3])
    return bool((iou >= min_iou).any() or holds.any())


def _square_crop(image: Image, box_px: FloatArray, expand: float) -> Image:
    """A square around the box, `expand` times its larger side, edges replicated."""
    cx, cy = (box_px[0] + box_px[2]) / 2, (box_px[1] + box_px[3]) / 2
    half = max(box_px[2] - box_px[0], box_px[3] - box_px[1]) * expand / 2
    x0, y0 = round(cx - half), round(cy - half)
    x1, y1 = round(cx + half), round(cy + half)
    height, width = image.shape[:2]
    pad = (max(0, -y0), max(0, y1 - height), max(0, -x0), max(0, x1 - width))
    inner = image[max(0, y0) : min(height, y1), max(0, x0) : min(width, x1)]
    if any(pad):
        return np.asarray(cv2.copyMakeBorder(inner, *pad, cv2.BORDER_REPLICATE), np.uint8)
    return inner.copy()


def _outside(face: FloatArray, people: FloatArray) -> bool:
    """Whether the face's centre lies in no person box at all."""
    cx, cy = (face[0] + face[2]) / 2, (face[1] + face[3]) / 2
    inside = (people[:, 0] <= cx) & (cx <= people[:, 2]) & (people[:, 1] <= cy)
    return not bool((inside & (cy <= people[:, 3])).any())


def _person_of(face: FloatArray, people: FloatArray) -> int | None:
    """The smallest person box whose upper half holds the face centre."""
    cx, cy = (face[0] + face[2]) / 2, (face[1] + face[3]) / 2
    inside = (
        (people[:, 0] <= cx)
        & (cx <= people[:, 2])
        & (people[:, 1] <= cy)
        & (cy <= (people[:, 1] + people[:, 3]) / 2)
    )
    if not inside.any():
        return None
    areas = (people[:, 2] - people[:, 0]) * (people[:, 3] - people[:, 1])
    candidates = np.nonzero(inside)[0]
    return int(candidates[np.argmin(areas[candidates])])
