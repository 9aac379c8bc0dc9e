"""The `inspection:` and `barcodes:` sections of an inspection camera's config."""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from onsight.config._base import NAME_PATTERN, Polygon, Strict, require_area


class InspectionConfig(Strict):
    name: str = Field(
        "line", pattern=NAME_PATTERN, description="The line's name in events and topics."
    )
    region: Polygon = Field(
        description="Where items pass (normalised polygon): they are found and inspected inside it."
    )
    travel: Literal["left", "right", "up", "down"] = Field(
        description="The direction items move in the picture."
    )
    reference: str | None = Field(
        None,
        description="A defect reference made by `onsight inspect learn` (a directory; "
        "relative to the config file). Without one, items are counted and read, not scored.",
    )
    min_item_share: float = Field(
        0.01,
        gt=0.0,
        lt=0.5,
        strict=False,
        description="Smallest item, as a share of the region's area: smaller blobs are noise.",
    )

    @model_validator(mode="after")
    def _has_area(self) -> Self:
        require_area(self.region, "inspection region")
        return self


class BarcodesConfig(Strict):
    formats: list[str] = Field(
        min_length=1,
        description="Barcode formats to read, e.g. [EAN13, Code128, QRCode, DataMatrix].",
    )
    expect: str | dict[str, str] | None = Field(
        None,
        description='A regular expression each read must match in full, e.g. "^40[0-9]{11}$", '
        "or one per format, e.g. {EAN13: '^40[0-9]{11}$'} (formats not listed take any "
        "text); a read that does not match is a wrong_label alert.",
    )

    @field_validator("formats")
    @classmethod
    def _known_formats(cls, names: list[str]) -> list[str]:
        from onsight.inspection.barcodes import check_formats

        return list(check_formats(names))

    @model_validator(mode="after")
    def _valid_patterns(self) -> Self:
        from onsight.inspection.barcodes import check_formats, compile_expect

        if isinstance(self.expect, dict):
            keys = list(check_formats(list(self.expect)))
            unread = sorted(set(keys) - set(self.formats))
            if unread:
                raise ValueError(f"expect names formats that are not read: {', '.join(unread)}")
            patterns = list(self.expect.values())
        else:
            patterns = [] if self.expect is None else [self.expect]
        for pattern in patterns:
            compile_expect(pattern)
        return self

    def patterns(self) -> dict[str, re.Pattern[str]]:
        """Format -> the pattern its reads must match ("" for every format)."""
        if self.expect is None:
            return {}
        if isinstance(self.expect, str):
            return {"": re.compile(self.expect)}
        from onsight.inspection.barcodes import check_formats

        names = check_formats(list(self.expect))  # as the reader spells them
        return {name: re.compile(p) for name, p in zip(names, self.expect.values(), strict=True)}
