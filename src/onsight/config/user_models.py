"""A site's own ONNX detector, registered in the config (`models:`), e.g. a hard-hat model.

Only the schema lives here; loading and checking the file is `onsight.detect.user_models`.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from onsight.config._base import NAME_PATTERN
from onsight.config._base import Strict as _Strict

MAX_STRIDE = 32  # the decoders' coarsest default feature map


class UserModelConfig(_Strict):
    name: str = Field(
        pattern=NAME_PATTERN,
        description="Name the model is used by (e.g. in PPE settings); must not be one of the "
        "built-in models' names (`onsight models list`).",
    )
    path: str = Field(
        min_length=1,
        description="The .onnx file; a relative path is relative to the config file.",
    )
    sha256: str | None = Field(
        None,
        pattern=r"^[0-9a-fA-F]{64}$",
        description="The file's sha256 (64 hex digits); when given, the file must match it.",
    )
    classes: list[str] | None = Field(
        None,
        min_length=1,
        description="Class names in the model's index order (give this or `classes_file`).",
    )
    classes_file: str | None = Field(
        None,
        min_length=1,
        description="A text file with one class name a line, in index order; relative to the "
        "config file (give this or `classes`).",
    )
    decoder: Literal["yolox", "nanodet"] = Field(
        description="Output format: `yolox` (YOLOX tools/export_onnx.py, one output "
        "[1, N, 5 + classes]) or `nanodet` (NanoDet tools/export_onnx.py: one output "
        "[1, N, classes + 4 * (reg_max + 1)], or the older per-stride outputs).",
    )
    input_size: int = Field(
        416,
        ge=64,
        le=2048,
        description="Square network input in pixels, as exported (a multiple of 32).",
    )
    strides: list[int] | None = Field(
        None,
        min_length=1,
        max_length=6,
        description="Feature-map strides of the head, finest first. Default: 8, 16, 32 "
        "(NanoDet-Plus: 8, 16, 32, 64). YOLOX always uses 8, 16, 32.",
    )
    reg_max: int = Field(
        7,
        ge=1,
        le=64,
        description="NanoDet only: distance bins per box side minus one (the head's reg_max).",
    )
    score_threshold: float = Field(
        0.3, gt=0.0, lt=1.0, strict=False, description="Minimum score of a detection."
    )
    nms_iou: float = Field(
        0.45,
        gt=0.0,
        lt=1.0,
        strict=False,
        description="Overlap (IoU) above which the weaker of two same-class boxes is dropped.",
    )

    @field_validator("classes")
    @classmethod
    def _class_names(cls, names: list[str] | None) -> list[str] | None:
        if names is None:
            return None
        if any(not name.strip() for name in names):
            raise ValueError("class names must not be empty")
        return names

    @field_validator("strides")
    @classmethod
    def _powers_of_two(cls, strides: list[int] | None) -> list[int] | None:
        if strides is None:
            return None
        if any(s < 1 or s & (s - 1) for s in strides) or strides != sorted(set(strides)):
            raise ValueError("strides must be increasing powers of two, e.g. [8, 16, 32]")
        return strides

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.classes is None) == (self.classes_file is None):
            raise ValueError(f"model {self.name!r}: give either `classes` or `classes_file`")
        if self.decoder == "yolox" and self.strides not in (None, [8, 16, 32]):
            raise ValueError(f"model {self.name!r}: the yolox decoder uses strides 8, 16, 32")
        coarsest = max(self.strides or [MAX_STRIDE])
        if self.input_size % coarsest:
            raise ValueError(
                f"model {self.name!r}: input_size {self.input_size} is not a multiple of the "
                f"largest stride {coarsest}"
            )
        return self

    @property
    def head_strides(self) -> tuple[int, ...]:
        return tuple(self.strides) if self.strides is not None else (8, 16, 32)
