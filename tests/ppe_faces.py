"""A labelled mask evaluation set made in memory: synthetic masks painted onto real faces.

The faces are the CC BY faces of the Intel sample GIFs in the shared assets (people walking
down a corridor, a classroom). Each face, found with CenterFace's landmarks on the clean
image, is shown three ways: bare, a mask worn correctly (nose bridge to chin, cheek to
cheek) and a mask pulled below the nose (mouth and chin covered, nose visible). Colours,
patterns, shapes, lighting and face sizes vary with a fixed seed; some mask styles are held
out of any tuning. Nothing is written to disk: images exist only while a test runs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from onsight.ppe.masks import DECISIONS, FaceReading
from onsight.privacy.faces import FaceDetector

Truth = Literal["unmasked", "masked", "below_nose"]
TRUTHS: tuple[Truth, ...] = ("unmasked", "masked", "below_nose")
Image = npt.NDArray[np.uint8]

# (name, BGR colour(s), pattern). The last three are held out of any tuning.
STYLES: list[tuple[str, tuple[tuple[int, int, int], ...], str]] = [
    ("surgical_blue", ((225, 200, 150),), "pleats"),
    ("white", ((236, 238, 240),), "plain"),
    ("black", ((32, 30, 30),), "plain"),
    ("grey", ((150, 150, 148),), "plain"),
    ("navy", ((90, 45, 30),), "plain"),
    ("striped", ((200, 90, 40), (235, 235, 235)), "stripes"),
    ("surgical_green", ((170, 200, 150),), "pleats"),
    ("pink_dots", ((190, 160, 235), (255, 255, 255)), "dots"),
    ("red_check", ((40, 40, 170), (30, 30, 30)), "check"),
]
HELD_OUT_STYLES = {"surgical_green", "pink_dots", "red_check"}
CLIPS = {  # clip -> frames used
    "face-demographics-walking.gif": range(0, 35, 3),
    "classroom.gif": range(0, 45, 11),
}


@dataclass(frozen=True, slots=True)
class PaintedFace:
    box: tuple[float, float, float, float]  # normalised xyxy in its sample image
    truth: Truth
    style: str
    held_out: bool
    face_px: float  # the face box's smaller side in pixels


@dataclass(slots=True)
class Sample:
    image: Image
    faces: list[PaintedFace] = field(default_factory=list)


def frames(assets: Path, clip: str) -> list[Image]:
    cap = cv2.VideoCapture(str(assets / "video" / clip))
    out: list[Image] = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        out.append(frame)
    cap.release()
    return out


CANVAS = 320  # every sample has one size: OpenCV DNN re-plans its net on each new shape


def build(
    assets: Path,
    detector: FaceDetector,
    seed: int = 14,
    sizes: tuple[float, float] = (24, 110),
) -> list[Sample]:
    """Three images per face and frame, one per variant (bare, masked, below the nose), each
    a CANVAS-square view around the face, rescaled so that faces span `sizes` px."""
    rng = np.random.default_rng(seed)
    samples: list[Sample] = []
    for clip, wanted in CLIPS.items():
        clip_frames = frames(assets, clip)
        for index in wanted:
            frame = clip_frames[index]
            height, width = frame.shape[:2]
            found = detector.detect_landmarks(frame, 0.5)
            for box in found.boxes * np.array([width, height, width, height]):
                target = float(rng.uniform(*sizes))  # face side in the sample, pixels
                side = min(box[2] - box[0], box[3] - box[1])
                scale = target / max(side, 1.0)
                centre = (box[:2] + box[2:]) / 2 + rng.uniform(-0.2, 0.2, 2) * CANVAS / scale
                base = _view(frame, centre, scale)
                clean = detector.detect_landmarks(base, 0.5)
                if len(clean.boxes) == 0:
                    continue
                i = int(np.argmin(np.abs(clean.boxes[:, :2].mean(axis=1) - 0.5)))
                b = clean.boxes[i]
                face_px = float(min(b[2] - b[0], b[3] - b[1]) * CANVAS)
                if face_px < sizes[0]:
                    continue
                name, colours, pattern = STYLES[int(rng.integers(len(STYLES)))]
                for truth in TRUTHS:
                    image = base.astype(np.float32)
                    if truth != "unmasked":
                        _paint(image, clean.landmarks[i] * CANVAS, truth, colours, pattern, rng)
                    painted = PaintedFace(
                        (float(b[0]), float(b[1]), float(b[2]), float(b[3])),
                        truth,
                        name if truth != "unmasked" else "none",
                        name in HELD_OUT_STYLES,
                        face_px,
                    )
                    samples.append(Sample(_relight(image, rng), [painted]))
    return samples


def _view(frame: Image, centre: npt.NDArray[np.float64], scale: float) -> Image:
    """A CANVAS-square view of the frame centred on `centre`, magnified `scale` times."""
    matrix = np.array(
        [[scale, 0, CANVAS / 2 - scale * centre[0]], [0, scale, CANVAS / 2 - scale * centre[1]]]
    )
    flags = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
    return cv2.warpAffine(
        frame, matrix, (CANVAS, CANVAS), flags=flags, borderMode=cv2.BORDER_REFLECT
    )


def _paint(
    image: npt.NDArray[np.float32],
    marks: npt.NDArray[np.float32],
    truth: Truth,
    colours: tuple[tuple[int, int, int], ...],
    pattern: str,
    rng: np.random.Generator,
) -> None:
    """Paint one mask in place, using the face's landmarks for its geometry."""
    eyes, nose, mouth = marks[:2], marks[2], marks[3:].mean(axis=0)
    eye_mid = eyes.mean(axis=0)
    span = float(np.hypot(*(eyes[1] - eyes[0])))
    down = (mouth - eye_mid) / max(np.hypot(*(mouth - eye_mid)), 1e-3)
    right = np.array([-down[1], down[0]]) * -1  # perpendicular, toward the image's right
    if np.dot(right, eyes[1] - eyes[0]) < 0:
        right = -right
    n = float(np.dot(nose - eye_mid, down)) / span
    m = float(np.dot(mouth - eye_mid, down)) / span
    chin = m + (m - n) * rng.uniform(1.3, 1.7)
    worn = truth == "masked"
    top = n * rng.uniform(0.25, 0.5) if worn else n + (m - n) * rng.uniform(0.2, 0.45)
    half = rng.uniform(0.85, 1.05)
    sag = rng.uniform(0.08, 0.2)  # the top edge drops toward the cheeks
    xs = np.linspace(-half, half, 15)
    top_edge = [(x, top + sag * (abs(x) / half) ** 1.5) for x in xs]
    bottom = [
        (half * np.cos(t), m + (chin - m) * np.sin(t)) for t in np.linspace(0.05, np.pi - 0.05, 15)
    ]
    side_y = max(m, top + sag + 0.2)
    outline = [*top_edge, (half, side_y), *bottom, (-half, side_y)]
    points = np.array([eye_mid + (right * x + down * y) * span for x, y in outline])

    height, width = image.shape[:2]
    alpha = np.zeros((height, width), np.float32)
    cv2.fillPoly(alpha, [np.round(points * 16).astype(np.int32)], 1.0, cv2.LINE_AA, shift=4)
    alpha = cv2.GaussianBlur(alpha, (0, 0), max(0.5, 0.02 * span))

    ys, xs_grid = np.mgrid[0:height, 0:width].astype(np.float32)
    rel = np.stack([xs_grid - eye_mid[0], ys - eye_mid[1]], axis=-1) / span
    u = rel @ right.astype(np.float32)  # across the face
    v = rel @ down.astype(np.float32)  # down the face
    fill = np.empty_like(image)
    fill[:] = colours[0]
    if pattern == "stripes":
        fill[(np.floor(v * 6) % 2) == 1] = colours[1]
    elif pattern == "dots":
        dots = np.hypot((u * 5) % 1 - 0.5, (v * 5) % 1 - 0.5) < 0.22
        fill[dots] = colours[1]
    elif pattern == "check":
        fill[((np.floor(u * 4) + np.floor(v * 4)) % 2) == 1] = colours[1]
    # Shading: follow the face's own lighting, darker toward the chin and the cheeks; pleats.
    lum = cv2.GaussianBlur(image.mean(axis=2), (0, 0), max(1.0, 0.15 * span))
    lum = lum / max(float(np.percentile(lum, 90)), 1.0)
    shade = (0.55 + 0.5 * np.clip(lum, 0, 1.2)) * (1 - 0.12 * np.clip(v - m, 0, 1))
    shade *= 1 - 0.15 * np.clip(np.abs(u) - 0.4, 0, 1)
    if pattern == "pleats":
        shade *= 1 - 0.12 * (np.abs(np.sin((v - top) * np.pi * 3.5)) > 0.9)
    shade *= rng.uniform(0.85, 1.1)
    fill = fill * shade[..., None] + rng.normal(0, 3, fill.shape).astype(np.float32)
    image[:] = image * (1 - alpha[..., None]) + fill * alpha[..., None]


def _relight(image: npt.NDArray[np.float32], rng: np.random.Generator) -> Image:
    """A different exposure and white balance per image, a little blur and noise."""
    gain = rng.uniform(0.75, 1.2) * rng.uniform(0.92, 1.08, size=3)
    out = 255.0 * np.power(np.clip(image * gain / 255.0, 0, 1), rng.uniform(0.85, 1.15))
    out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.4, 0.9))
    out += rng.normal(0, 2.0, out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


# ---- scoring -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    face: PaintedFace
    decision: str  # one of DECISIONS, or "missed"
    mask_prob: float = 0.5


def match(samples: list[Sample], readings: list[list[FaceReading]]) -> list[Outcome]:
    """Pair painted faces with readings (IoU >= 0.3, best first)."""
    outcomes = []
    for sample, found in zip(samples, readings, strict=True):
        used: set[int] = set()
        for face in sample.faces:
            best, best_iou = None, 0.3
            for k, reading in enumerate(found):
                overlap = _iou(face.box, reading.box)
                if k not in used and overlap >= best_iou:
                    best, best_iou = k, overlap
            if best is None:
                outcomes.append(Outcome(face, "missed"))
            else:
                used.add(best)
                outcomes.append(Outcome(face, found[best].decision, found[best].mask_prob))
    return outcomes


def alone(outcomes: list[Outcome]) -> list[Outcome]:
    """What the classifier alone would have said: the colour checks (nose bare, nose and
    mouth covered) only ever change a counted face's decision, never its `mask_prob`."""
    return [
        Outcome(o.face, ("masked" if o.mask_prob >= 0.5 else "unmasked"), o.mask_prob)
        if o.decision in ("masked", "unmasked", "below_nose")
        else o
        for o in outcomes
    ]


def split(outcomes: list[Outcome], held_out: bool) -> list[Outcome]:
    """The faces whose mask style is (or is not) held out of any tuning."""
    return [o for o in outcomes if o.face.held_out is held_out]


@dataclass(frozen=True, slots=True)
class Figures:
    faces: int
    recall: float  # found / painted
    counted: int  # found and not unsure
    accuracy: float  # 3-way, over counted faces
    binary_accuracy: float  # correctly worn vs not, over counted faces
    confusion: dict[str, dict[str, int]]  # truth -> decision -> count
    share_error_mean: float
    share_error_max: float


def figures(outcomes: list[Outcome], mixes: int = 20, seed: int = 7) -> Figures:
    found = [o for o in outcomes if o.decision != "missed"]
    counted = [o for o in found if o.decision != "unsure"]
    confusion = {t: dict.fromkeys((*DECISIONS, "missed"), 0) for t in TRUTHS}
    for o in outcomes:
        confusion[o.face.truth][o.decision] += 1
    right = sum(o.decision == o.face.truth for o in counted)
    binary = sum((o.decision == "masked") == (o.face.truth == "masked") for o in counted)
    errors = share_errors(outcomes, mixes, seed)
    return Figures(
        len(outcomes),
        len(found) / max(1, len(outcomes)),
        len(counted),
        right / max(1, len(counted)),
        binary / max(1, len(counted)),
        confusion,
        float(np.mean(errors)),
        float(np.max(errors)),
    )


def share_errors(outcomes: list[Outcome], mixes: int, seed: int) -> list[float]:
    """Groups of 10-30 faces with a known share of correctly worn masks (bare and
    below-the-nose faces make up the rest); |measured share - true share| per group."""
    rng = np.random.default_rng(seed)
    pools = {t: [o for o in outcomes if o.face.truth == t] for t in TRUTHS}
    errors = []
    for _ in range(mixes):
        n = int(rng.integers(10, 31))
        k = round(rng.uniform(0, 1) * n)
        below = int(rng.integers(0, n - k + 1))
        group = [
            *rng.choice(np.array(pools["masked"], dtype=object), k),
            *rng.choice(np.array(pools["below_nose"], dtype=object), below),
            *rng.choice(np.array(pools["unmasked"], dtype=object), n - k - below),
        ]
        seen = Counter(o.decision for o in group)
        counted = sum(v for d, v in seen.items() if d not in ("unsure", "missed"))
        measured = seen["masked"] / counted if counted else 0.0
        errors.append(abs(measured - k / n))
    return errors


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
