"""Ground truth in MOTChallenge format, and what it says a camera's lines and zones should report.

A truth folder holds `seqinfo.ini` (frame rate, size, length) and `gt/gt.txt` with one row
per labelled box: `frame,id,left,top,width,height,conf,class,visibility` (1-based frames,
pixels). Rows with conf 0 are ignored, as MOTChallenge does; class 1 (pedestrian) and -1
(MOT15, no class) are people.

True crossings use the product's own conventions: the anchor is the bottom centre of the
box, `in` is a move from the side where (B-A)x(P-A) < 0 to the side where it is > 0, and the
step that changes side must meet the segment. Labels of someone walking along a line wobble
across it; a visit to the other side shorter than `MIN_STAY_S` is not a crossing (the same
rule a human labeller applies: the feet must stay on the new side).
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise
from pathlib import Path

import numpy as np
import numpy.typing as npt

from onsight.config.models import LineConfig, ZoneConfig
from onsight.errors import OnsightError
from onsight.geometry import Point, points_in_polygon, side_of_line, step_crosses
from onsight.types import Direction

PERSON_CLASSES = (1, -1)
MIN_STAY_S = 0.3
SPELL_GAP_S = 2.0  # as the apps: a shorter absence from an area does not end a visit
FloatArray = npt.NDArray[np.float64]


class TruthError(OnsightError):
    """A truth folder is missing or malformed."""


@dataclass(frozen=True, slots=True)
class Trajectory:
    """One labelled person: 1-based frames and normalised bottom-centre anchors."""

    frames: npt.NDArray[np.int64]
    anchors: FloatArray  # (N, 2)


@dataclass(frozen=True, slots=True)
class TrueCrossing:
    time: float  # seconds from the start of the clip (first frame = 0)
    direction: Direction


@dataclass(frozen=True)
class Sequence:
    """A labelled clip: its geometry, and every person's trajectory."""

    name: str
    fps: float
    length: int
    width: int
    height: int
    frames: npt.NDArray[np.int64]  # per box
    anchors: FloatArray  # per box, normalised bottom centres
    ids: npt.NDArray[np.int64]  # per box

    def frame_time(self, frame: int) -> float:
        return (frame - 1) / self.fps

    def frame_at(self, seconds: float) -> int:
        return round(seconds * self.fps) + 1

    @cached_property
    def trajectories(self) -> list[Trajectory]:
        """Each person's rows in frame order (made once: every line walks them)."""
        result = []
        for person in np.unique(self.ids):
            rows = np.flatnonzero(self.ids == person)
            rows = rows[np.argsort(self.frames[rows], kind="stable")]
            result.append(Trajectory(self.frames[rows], self.anchors[rows]))
        return result

    def crossings(self, line: LineConfig) -> list[TrueCrossing]:
        (ax, ay), (bx, by) = line.points
        found: list[TrueCrossing] = []
        for trajectory in self.trajectories:
            found.extend(self._crossings_of(trajectory, (ax, ay), (bx, by)))
        return sorted(found, key=lambda c: c.time)

    def occupancy(self, zone: ZoneConfig, frame: int) -> int:
        polygon = [(p[0], p[1]) for p in zone.polygon]
        here = self.anchors[self.frames == frame].astype(np.float32)
        return int(points_in_polygon(polygon, here).sum())

    def spells(
        self, polygon: list[list[float]], served: tuple[Point, Point] | None = None
    ) -> list[float]:
        """Every labelled person's spells in the polygon, in seconds: from the first frame
        inside to the last (or to crossing `served`), absences under SPELL_GAP_S bridged."""
        corners = [(p[0], p[1]) for p in polygon]
        found: list[float] = []
        for trajectory in self.trajectories:
            anchors = trajectory.anchors.astype(np.float32)
            inside = points_in_polygon(corners, anchors)
            times = [self.frame_time(int(f)) for f in trajectory.frames]
            crossed = [
                k > 0
                and served is not None
                and step_crosses(*served, _point(anchors[k - 1]), _point(anchors[k]))
                for k in range(len(times))
            ]
            found += _spells_of(times, inside.tolist(), crossed)
        return found

    def mean_occupancy(self, polygon: list[list[float]], seconds: list[float]) -> float:
        """Mean number of labelled people in the polygon at these moments of the clip."""
        corners = [(p[0], p[1]) for p in polygon]
        counts = [
            int(points_in_polygon(corners, self.anchors[self.frames == self.frame_at(t)]).sum())
            for t in seconds
        ]
        return float(np.mean(counts)) if counts else 0.0

    def _crossings_of(self, trajectory: Trajectory, a: Point, b: Point) -> list[TrueCrossing]:
        distance = side_of_line(a, b, trajectory.anchors.astype(np.float32))
        sides = np.where(distance > 0, 1, -1)
        # Runs of one side: [start index, end index (exclusive), side].
        edges = np.flatnonzero(np.diff(sides)) + 1
        starts = np.concatenate([[0], edges])
        ends = np.concatenate([edges, [len(sides)]])
        runs = [[int(s), int(e), int(sides[s])] for s, e in zip(starts, ends, strict=True)]
        runs = self._merge_short_visits(runs, trajectory.frames)
        crossings = []
        for before, after in pairwise(runs):
            i, j = before[1] - 1, after[0]  # last frame on the old side, first on the new
            if not step_crosses(a, b, _point(trajectory.anchors[i]), _point(trajectory.anchors[j])):
                continue
            direction: Direction = "in" if after[2] > 0 else "out"
            crossings.append(TrueCrossing(self.frame_time(int(trajectory.frames[j])), direction))
        return crossings

    def _merge_short_visits(
        self, runs: list[list[int]], frames: npt.NDArray[np.int64]
    ) -> list[list[int]]:
        """Drop an inner run shorter than MIN_STAY_S: its neighbours are the same side."""
        min_frames = max(1, round(MIN_STAY_S * self.fps))
        changed = True
        while changed and len(runs) > 2:
            changed = False
            for k in range(1, len(runs) - 1):
                start, end, _ = runs[k]
                if frames[end - 1] - frames[start] + 1 < min_frames:
                    runs[k - 1][1] = runs[k + 1][1]
                    del runs[k : k + 2]
                    changed = True
                    break
        return runs


def load_sequence(folder: Path) -> Sequence:
    """Read one MOTChallenge sequence folder; raises TruthError naming the file and problem."""
    info_path, gt_path = folder / "seqinfo.ini", folder / "gt" / "gt.txt"
    for path in (info_path, gt_path):
        if not path.is_file():
            raise TruthError(f"{path}: not found (a truth folder needs seqinfo.ini and gt/gt.txt)")
    parser = configparser.ConfigParser()
    try:
        parser.read(info_path, encoding="utf-8")
        section = parser["Sequence"]
        fps = float(section["frameRate"])
        length = int(section["seqLength"])
        width, height = int(section["imWidth"]), int(section["imHeight"])
    except (KeyError, ValueError, configparser.Error) as exc:
        raise TruthError(
            f"{info_path}: needs [Sequence] with frameRate, seqLength, imWidth, imHeight ({exc})"
        ) from None
    if fps <= 0 or length <= 0 or width <= 0 or height <= 0:
        raise TruthError(f"{info_path}: frameRate, seqLength and the size must be positive")
    rows = _read_rows(gt_path)
    keep = (rows[:, 6] != 0) & np.isin(rows[:, 7], PERSON_CLASSES)
    rows = rows[keep]
    anchors = np.stack(
        [(rows[:, 2] + rows[:, 4] / 2) / width, (rows[:, 3] + rows[:, 5]) / height], axis=1
    )
    return Sequence(
        name=folder.name,
        fps=fps,
        length=length,
        width=width,
        height=height,
        frames=rows[:, 0].astype(np.int64),
        anchors=anchors,
        ids=rows[:, 1].astype(np.int64),
    )


def _read_rows(path: Path) -> FloatArray:
    """gt.txt as an (N, 9) array; MOT15 files with 10 columns and no visibility are accepted."""
    parsed: list[list[float]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            values = [float(v) for v in line.replace(" ", "").split(",")]
        except ValueError:
            raise TruthError(f"{path}:{number}: not a row of numbers: {line[:60]!r}") from None
        if len(values) < 7:
            raise TruthError(
                f"{path}:{number}: expected frame,id,left,top,width,height,conf[,class,vis]"
            )
        values = [*values, 1.0, 1.0][:9]
        parsed.append(values)
    if not parsed:
        raise TruthError(f"{path}: no labelled boxes")
    return np.asarray(parsed, dtype=np.float64)


def _spells_of(times: list[float], inside: list[bool], crossed: list[bool]) -> list[float]:
    """One person's spells in an area, ended by an absence over SPELL_GAP_S or by crossing
    the served line; after a crossing, a new spell needs such an absence first (as the app)."""
    found: list[float] = []
    start: float | None = None
    served = False
    last = float("-inf")  # last frame inside
    for now, here, cross in zip(times, inside, crossed, strict=True):
        if now - last > SPELL_GAP_S:
            if start is not None:
                found.append(last - start)
            start, served = None, False
        if cross and start is not None:
            found.append(now - start)
            start, served = None, True
        if here:
            if start is None and not served:
                start = now
            last = now
    if start is not None:
        found.append(last - start)
    return found


def _point(row: FloatArray) -> Point:
    return float(row[0]), float(row[1])
