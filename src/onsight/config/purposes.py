"""Purpose binding: each camera declares why it is analysed, and only these apps may run on it.

Each app kind in the registry names the purposes that allow it; apps not built into the
registry (thermal screening, and those still planned) are listed here, so this module stays
the single place that says what a purpose permits. `CameraConfig` enforces it on load, so
`onsight check`, `run` and the transparency notice all see the same rule.
"""

from __future__ import annotations

from onsight.apps.base import Purpose

__all__ = ["PURPOSES", "Purpose", "allowed_apps", "app_descriptions", "check_apps"]

PURPOSES: dict[Purpose, str] = {
    "footfall": "count visitors entering and leaving",
    "occupancy": "measure how full an area is, to manage capacity",
    "safety": "detect safety risks: protective equipment, restricted areas, distancing",
    "operations": "measure how long work areas and stations are busy",
    "inspection": "inspect products on a line (defects, labels, barcodes)",
    "screening": "elevated skin temperature triage at an entrance",
}

# Apps outside the registry: (what it measures, purposes that allow it).
_OTHER_APPS: dict[str, tuple[str, frozenset[Purpose]]] = {
    "screening": ("hourly counts of people screened and of alerts", frozenset({"screening"})),
}

# Purposes whose cameras may leave images unblurred (`redaction: none`): they film products.
UNREDACTED_ALLOWED: frozenset[Purpose] = frozenset({"inspection"})


def app_descriptions() -> dict[str, str]:
    """App name -> what it measures, registry kinds first (the order the notice lists them)."""
    from onsight.apps.registry import kinds  # the registry's app modules use the config

    described = {kind.name: kind.measures for kind in kinds()}
    return described | {name: text for name, (text, _) in _OTHER_APPS.items()}


def allowed_apps(purpose: Purpose) -> frozenset[str]:
    from onsight.apps.registry import kinds

    registered = {kind.name for kind in kinds() if purpose in kind.purposes}
    other = {name for name, (_, purposes) in _OTHER_APPS.items() if purpose in purposes}
    return frozenset(registered | other)


def check_apps(purpose: Purpose, apps: set[str]) -> None:
    """Raise ValueError explaining why, if any of `apps` is outside what `purpose` permits."""
    refused = sorted(apps - allowed_apps(purpose))
    if refused:
        allowed = ", ".join(sorted(allowed_apps(purpose)))
        raise ValueError(
            f"purpose {purpose!r} ({PURPOSES[purpose]}) does not permit {', '.join(refused)}; "
            f"cameras with this purpose may only run: {allowed}. Data collected for one "
            "purpose must not be reused for another: change the purpose or remove those apps"
        )
