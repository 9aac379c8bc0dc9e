"""The PPE app's readers: each check read on one frame, per person box (normalised xyxy):
True (wearing it), False (not) or None (cannot tell, and not counted)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from onsight.detect.protocol import Detector
from onsight.errors import ConfigError
from onsight.ppe.hivis import HivisJudge
from onsight.ppe.masks import MaskReader
from onsight.ppe.required import normalised_items, required_present, unknown_required, wearing_all
from onsight.types import FloatArray, Image

if TYPE_CHECKING:
    from onsight.apps.ppe import Check, LooseFace, PpeConfig, Reader
    from onsight.config.models import CameraConfig

_MIN_TORSO_PX = 24  # a person shorter than ~4x this in the frame is too far to judge colour
_MIN_PERSON_PX = 64  # smaller, a helmet or a vest is a few pixels: cannot tell
_EDGE = 0.005  # a box starting at the frame's top edge may have its head outside it
_WHITE_BALANCE_EVERY = 10  # frames between white-balance estimates (the light changes slowly)


class MaskCheck:
    """A mask over mouth and nose, per person whose face is seen (`MaskReader`)."""

    def __init__(self, reader: MaskReader) -> None:
        self._reader = reader

    def read(self, image: Image, boxes: FloatArray) -> list[bool | None]:
        return self.read_with_loose(image, boxes, loose=False)[0]

    def read_with_loose(
        self, image: Image, boxes: FloatArray, loose: bool = True
    ) -> tuple[list[bool | None], list[LooseFace]]:
        """Per person box as `read`, and (with `loose`) each readable face that lies in no
        person box: masked or not, and its centre (normalised)."""
        found: list[bool | None] = [None] * len(boxes)
        best = [0.0] * len(boxes)  # two faces in one person's box: the surer one decides
        alone: list[LooseFace] = []
        for face in self._reader.read(image, boxes, loose=loose):
            if not face.counted:
                continue
            if face.person is None:
                x0, y0, x1, y1 = face.box
                alone.append((face.masked, (x0 + x1) / 2, (y0 + y1) / 2))
            elif face.score > best[face.person]:
                found[face.person] = face.masked
                best[face.person] = face.score
        return found, alone


class HivisCheck:
    """Fluorescent material on the torso (`HivisJudge`), for people large enough to judge."""

    def __init__(self, judge: HivisJudge) -> None:
        self._judge = judge

    def read(self, image: Image, boxes: FloatArray) -> list[bool | None]:
        result = self._judge.judge(image, boxes)
        torso_px = (boxes[:, 3] - boxes[:, 1]) * image.shape[0] * 0.4
        return [
            bool(wearing) if tall >= _MIN_TORSO_PX else None
            for wearing, tall in zip(result.wearing, torso_px, strict=True)
        ]


class RequiredCheck:
    """Every required item of the site's own detector, where it belongs on the person."""

    def __init__(self, detector: Detector, class_names: list[str], required: list[str]) -> None:
        self._detector = detector
        self._names = class_names
        self._required = required

    def read(self, image: Image, boxes: FloatArray) -> list[bool | None]:
        height, width = image.shape[:2]
        items, names = normalised_items(self._detector.detect(image), self._names, width, height)
        present = required_present(boxes, items, names, self._required)
        wearing = wearing_all(present, self._required)
        # Too small, or cut by the frame's top edge (head out of view): cannot tell.
        tall = (boxes[:, 3] - boxes[:, 1]) * height
        return [
            None if px < _MIN_PERSON_PX or box[1] <= _EDGE else bool(ok)
            for ok, px, box in zip(wearing, tall, boxes, strict=True)
        ]


def make_readers(camera: CameraConfig, config: PpeConfig) -> dict[Check, Reader]:
    """The readers `config` asks for, models loaded and checked (ModelError, ConfigError)."""
    readers: dict[Check, Reader] = {}
    if config.masks:
        readers["mask"] = MaskCheck(MaskReader.from_dir())
    if config.hivis:
        readers["hivis"] = HivisCheck(HivisJudge(refresh_every=_WHITE_BALANCE_EVERY))
    if config.required:
        readers["required"] = _required(camera, config)
    return readers


def _required(camera: CameraConfig, config: PpeConfig) -> RequiredCheck:
    from onsight.detect.user_models import load_user_model, user_detector

    entry = config.resolved_model
    if entry is None:  # the runner resolves it from `models:`; a caller that did not, did wrong
        raise ConfigError(f"camera {camera.name!r}: ppe.model {config.model!r} is not resolved")
    model = load_user_model(entry, Path(entry.path).parent)
    names = list(model.class_names)
    missing = unknown_required(config.required, names)
    if missing:
        raise ConfigError(
            f"camera {camera.name!r}: ppe.required names {', '.join(missing)}, which model "
            f"{entry.name!r} does not detect (its classes: {', '.join(names)})"
        )
    return RequiredCheck(user_detector(model), names, list(config.required))
