"""Purpose binding: each camera declares why it is analysed, and only these apps may run on it.

The table is the policy; `CameraConfig` enforces it on load, so `onsight check`, `run` and the
transparency notice all see the same rule. Apps not built yet are listed so the table stays the
single place that says what a purpose permits.
"""

from __future__ import annotations

from typing import Literal

Purpose = Literal["footfall", "occupancy", "safety", "operations", "inspection", "screening"]
App = Literal[
    "line_count",
    "occupancy",
    "dwell",
    "queue",
    "distancing",
    "ppe",
    "restricted_area",
    "inspection",
    "barcode",
    "screening",
]

PURPOSES: dict[Purpose, str] = {
    "footfall": "count visitors entering and leaving",
    "occupancy": "measure how full an area is, to manage capacity",
    "safety": "detect safety risks: protective equipment, restricted areas, distancing",
    "operations": "measure how long work areas and stations are busy",
    "inspection": "inspect products on a line (defects, labels, barcodes)",
    "screening": "elevated skin temperature triage at an entrance",
}

APP_DESCRIPTIONS: dict[App, str] = {
    "line_count": "counts of crossings of a line, per direction",
    "occupancy": "number of people or vehicles in a zone, as per-minute mean and peak",
    "dwell": "time spent in a zone, as a distribution over at least 5 people",
    "queue": "queue length and waiting time distribution",
    "distancing": "how often people stand closer than a set distance",
    "ppe": "share of people wearing required protective equipment",
    "restricted_area": "alerts when a person or vehicle enters a restricted area",
    "inspection": "defect and label checks on products",
    "barcode": "barcodes read from products",
    "screening": "hourly counts of people screened and of alerts",
}

ALLOWED_APPS: dict[Purpose, frozenset[App]] = {
    "footfall": frozenset({"line_count", "occupancy", "dwell", "queue"}),
    "occupancy": frozenset({"line_count", "occupancy", "queue", "distancing"}),
    "safety": frozenset({"occupancy", "distancing", "ppe", "restricted_area"}),
    "operations": frozenset({"line_count", "occupancy", "dwell", "queue"}),
    "inspection": frozenset({"inspection", "barcode"}),
    "screening": frozenset({"screening"}),
}

# Purposes whose cameras may leave images unblurred (`redaction: none`): they film products.
UNREDACTED_ALLOWED: frozenset[Purpose] = frozenset({"inspection"})


def check_apps(purpose: Purpose, apps: set[App]) -> None:
    """Raise ValueError explaining why, if any of `apps` is outside what `purpose` permits."""
    refused = sorted(apps - ALLOWED_APPS[purpose])
    if refused:
        allowed = ", ".join(sorted(ALLOWED_APPS[purpose]))
        raise ValueError(
            f"purpose {purpose!r} ({PURPOSES[purpose]}) does not permit {', '.join(refused)}; "
            f"cameras with this purpose may only run: {allowed}. Data collected for one "
            "purpose must not be reused for another: change the purpose or remove those apps"
        )
