"""Server-side chart geometry: the numbers an inline SVG needs, nothing drawn in the browser.

A `Chart` lives in a fixed viewBox (`WIDTH` x `HEIGHT`); templates/_macros.html.j2 turns it
into SVG elements. Colours come from CSS classes `s0`, `s1`, ... so the pages need no
inline styles (the Content-Security-Policy forbids them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 640.0
HEIGHT = 220.0
_LEFT, _RIGHT, _TOP, _BOTTOM = 44.0, 8.0, 10.0, 26.0


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int
    title: str  # tooltip, e.g. "14:00 in: 5"


@dataclass(frozen=True)
class Polyline:
    series: int
    points: str  # "x,y x,y ..." for one unbroken run of values
    title: str


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    series: int
    title: str


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class Label:
    x: float
    text: str


@dataclass(frozen=True)
class Chart:
    title: str
    legend: tuple[str, ...]  # series names, in colour order
    bars: tuple[Bar, ...] = ()
    polylines: tuple[Polyline, ...] = ()
    dots: tuple[Dot, ...] = ()  # values with no neighbour to join a line to
    ticks: tuple[Tick, ...] = ()
    labels: tuple[Label, ...] = ()
    empty: bool = True
    width: float = WIDTH
    height: float = HEIGHT
    left: float = _LEFT
    right: float = WIDTH - _RIGHT
    top: float = _TOP
    bottom: float = HEIGHT - _BOTTOM

    @property
    def summary(self) -> str:
        """Text alternative for screen readers."""
        return f"{self.title}: {'no data' if self.empty else ', '.join(self.legend)}"


def nice_ticks(maximum: float, count: int = 4, integer: bool = False) -> list[float]:
    """Round tick values 0, step, 2*step, ... covering `maximum` (at least 0..1).

    `integer` keeps steps whole (counts): no 0.25 people.
    """
    if maximum <= 0 or not math.isfinite(maximum):
        return [0.0, 1.0]
    raw = max(maximum / count, 1.0) if integer else maximum / count
    magnitude = 10 ** math.floor(math.log10(raw))
    steps = (1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10)
    step = next(m * magnitude for m in steps if m * magnitude >= raw)
    top = math.ceil(maximum / step - 1e-9) * step
    return [round(i * step, 10) for i in range(round(top / step) + 1)]


def _format(value: float) -> str:
    return f"{value:g}" if value < 10_000 else f"{value / 1000:g}k"


def _axis(
    maximum: float, chart_top: float, chart_bottom: float, integer: bool = False
) -> tuple[float, list[Tick]]:
    values = nice_ticks(maximum, integer=integer)
    top = values[-1]
    span = chart_bottom - chart_top
    ticks = [Tick(chart_bottom - v / top * span, _format(v)) for v in values]
    return top, ticks


def _labels(labels: Sequence[str], every: int, slot: float, left: float) -> tuple[Label, ...]:
    return tuple(
        Label(left + (i + 0.5) * slot, text) for i, text in enumerate(labels) if i % every == 0
    )


def stacked_bars(
    title: str, labels: Sequence[str], series: dict[str, Sequence[int]], label_every: int = 1
) -> Chart:
    """One bar per label, the series stacked bottom-up in the order given."""
    names = tuple(series)
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    base = Chart(title, names)
    if not labels:
        return base
    top, ticks = _axis(max(totals, default=0), base.top, base.bottom, integer=True)
    slot = (base.right - base.left) / len(labels)
    scale = (base.bottom - base.top) / top
    bars: list[Bar] = []
    for i, label in enumerate(labels):
        y = base.bottom
        for index, (name, values) in enumerate(series.items()):
            value = values[i]
            if value <= 0:
                continue
            height = value * scale
            y -= height
            bar = Bar(base.left + i * slot + slot * 0.12, y, slot * 0.76, height, index, "")
            bars.append(_titled(bar, f"{label} {name}: {value}"))
    return Chart(
        title,
        names,
        bars=tuple(bars),
        ticks=tuple(ticks),
        labels=_labels(labels, label_every, slot, base.left),
        empty=not any(totals),
    )


def _titled(bar: Bar, title: str) -> Bar:
    return Bar(bar.x, bar.y, bar.width, bar.height, bar.series, title)


def line_chart(
    title: str,
    labels: Sequence[str],
    series: dict[str, Sequence[float | None]],
    label_every: int = 1,
) -> Chart:
    """One polyline per series; None is a gap (no data), not zero."""
    names = tuple(series)
    base = Chart(title, names)
    present = [v for values in series.values() for v in values if v is not None]
    if not labels or not present:
        return base
    top, ticks = _axis(max(present), base.top, base.bottom)
    slot = (base.right - base.left) / len(labels)
    scale = (base.bottom - base.top) / top
    polylines: list[Polyline] = []
    dots: list[Dot] = []
    for index, (name, values) in enumerate(series.items()):
        for run in _runs(values):
            xy = [(base.left + (i + 0.5) * slot, base.bottom - v * scale) for i, v in run]
            peak = max(v for _, v in run)
            if len(run) == 1:
                dots.append(
                    Dot(xy[0][0], xy[0][1], index, f"{labels[run[0][0]]} {name}: {peak:.1f}")
                )
            else:
                points = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
                polylines.append(Polyline(index, points, f"{name}: up to {peak:.1f}"))
    return Chart(
        title,
        names,
        polylines=tuple(polylines),
        dots=tuple(dots),
        ticks=tuple(ticks),
        labels=_labels(labels, label_every, slot, base.left),
        empty=False,
    )


def _runs(values: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    runs: list[list[tuple[int, float]]] = []
    current: list[tuple[int, float]] = []
    for i, value in enumerate(values):
        if value is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append((i, value))
    if current:
        runs.append(current)
    return runs
