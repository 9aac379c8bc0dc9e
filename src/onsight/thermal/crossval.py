"""Leave-one-group-out cross-validation of the relative rule's offset: how the default is chosen.

The offset was once tuned on all the data of one camera; on a second camera model of the same
study it alerted too often (specificity 0.893 at 38.0 °C). This module measures the choosing
procedure on subjects it did not see, and the default offset is whatever it picks (docs/thermal.md).

- Candidates: `RelativeBaselineRule` with the configured N and trim, offsets 0.50-1.00 °C in
  0.05 steps. Each replays every subject once, in measurement order, as measured and with
  `NOISE_DRAWS` draws of extra reading noise (sd `NOISE_SD_C`: a camera with more spread, as the
  held-out one). The baseline is built from readings only, never from the oral reference, so a
  replay across groups uses no label; as at the station, it runs on through the whole file.
- Selection, on training subjects only: the smallest (most sensitive) offset whose specificity
  at oral >= 38.0 °C is at least `CV_MIN_SPECIFICITY`, both as measured and with the noise (draws
  pooled); the largest offset if none qualifies.
- Leave one group out: each group is scored with the offset chosen on the other groups' labels.
  Pooled = all held-out decisions counted together.
- Groups: the file's two measurement periods (split at the longest gap between measurement
  days), and calendar months (a month with fewer than `MIN_GROUP` subjects joins its neighbour).
  Without dates: `FALLBACK_BLOCKS` contiguous blocks.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from onsight.config.screening import RuleConfig
from onsight.thermal.rules import RelativeBaselineRule
from onsight.thermal.scores import FEVERS_C, Score, Values, replay, score

CV_OFFSETS_C: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(11))
CV_MIN_SPECIFICITY = 0.92
SELECTION_FEVER_C = 38.0
NOISE_SD_C = 0.2
NOISE_DRAWS = 40
MIN_GROUP = 30
FALLBACK_BLOCKS = 5

Alerts = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Replays:
    offsets_c: tuple[float, ...]
    clean: Alerts  # (offset, subject)
    noisy: Alerts  # (offset, draw, subject)


@dataclass(frozen=True, slots=True)
class HeldOut:
    group: str
    subjects: int
    offset_c: float  # chosen on the other groups only
    scores: tuple[Score, ...]  # per FEVERS_C, readings as measured
    noisy: Score  # at SELECTION_FEVER_C with the extra noise, draws pooled


@dataclass(frozen=True, slots=True)
class GroupCrossValidation:
    grouping: str
    held_out: tuple[HeldOut, ...]
    pooled: tuple[Score, ...]
    pooled_noisy: Score


def replay_candidates(
    readings: Sequence[float], offsets_c: Sequence[float] = CV_OFFSETS_C
) -> Replays:
    config = RuleConfig()
    reading = np.asarray(readings, dtype=float)
    rng = np.random.default_rng(0)  # fixed: the report is reproducible
    noisy = reading + rng.normal(0.0, NOISE_SD_C, (NOISE_DRAWS, reading.size))

    def run(offset: float, values: npt.NDArray[np.float64]) -> list[bool]:
        rule = RelativeBaselineRule(config.baseline_subjects, offset, config.baseline_trim_fraction)
        return replay(rule, values.tolist())

    return Replays(
        offsets_c=tuple(offsets_c),
        clean=np.array([run(o, reading) for o in offsets_c], dtype=bool),
        noisy=np.array([[run(o, draw) for draw in noisy] for o in offsets_c], dtype=bool),
    )


def choose_offset(
    clean: Alerts, noisy: Alerts, oral_c: Values, offsets_c: Sequence[float]
) -> float:
    """The selection criterion; it sees only the subjects (columns) it is handed."""
    oral = np.asarray(oral_c, dtype=float)
    for index, offset in enumerate(offsets_c):
        measured = score("", clean[index], oral, SELECTION_FEVER_C)
        extra = score("", noisy[index].ravel(), np.tile(oral, noisy.shape[1]), SELECTION_FEVER_C)
        if min(measured.specificity, extra.specificity) >= CV_MIN_SPECIFICITY:
            return offset
    return offsets_c[-1]


def choose_on(replays: Replays, oral_c: Values, subjects: npt.NDArray[np.intp]) -> float:
    """Choose with the labels of `subjects` only."""
    oral = np.asarray(oral_c, dtype=float)[subjects]
    return choose_offset(
        replays.clean[:, subjects], replays.noisy[:, :, subjects], oral, replays.offsets_c
    )


def leave_one_group_out(
    replays: Replays, oral_c: Values, groups: Sequence[str], grouping: str
) -> GroupCrossValidation:
    oral = np.asarray(oral_c, dtype=float)
    label = np.asarray(groups)
    clean = np.zeros(oral.size, dtype=bool)
    noisy = np.zeros((replays.noisy.shape[1], oral.size), dtype=bool)
    held_out: list[HeldOut] = []
    for group in dict.fromkeys(groups):  # in order of first appearance
        test = np.flatnonzero(label == group)
        offset = choose_on(replays, oral, np.flatnonzero(label != group))
        row = replays.offsets_c.index(offset)
        clean[test] = replays.clean[row, test]
        noisy[:, test] = replays.noisy[row][:, test]
        held_out.append(
            HeldOut(
                group=group,
                subjects=test.size,
                offset_c=offset,
                scores=_scores(clean[test], oral[test]),
                noisy=_noisy(noisy[:, test], oral[test]),
            )
        )
    return GroupCrossValidation(
        grouping, tuple(held_out), _scores(clean, oral), _noisy(noisy, oral)
    )


def _scores(alerts: Alerts, oral: npt.NDArray[np.float64]) -> tuple[Score, ...]:
    return tuple(score("held out", alerts, oral, f) for f in FEVERS_C)


def _noisy(alerts: Alerts, oral: npt.NDArray[np.float64]) -> Score:
    pooled = np.tile(oral, alerts.shape[0])
    return score("held out, noisier", alerts.ravel(), pooled, SELECTION_FEVER_C)


def groupings(days: Sequence[date | None]) -> list[tuple[str, list[str]]]:
    """(grouping name, group label per subject) for each grouping the data supports."""
    known = [d for d in days if d is not None]
    if len(known) < len(days) or len(set(known)) < 2:
        blocks = np.array_split(np.arange(len(days)), FALLBACK_BLOCKS)
        labels = [""] * len(days)
        for number, block in enumerate(blocks, start=1):
            for index in block:
                labels[index] = f"block {number}"
        return [("contiguous block", labels)]
    return [("measurement period", _periods(known)), ("month", _months(known))]


def _periods(days: list[date]) -> list[str]:
    ordered = sorted(set(days))
    gaps = [(later - earlier).days for earlier, later in itertools.pairwise(ordered)]
    split = ordered[gaps.index(max(gaps)) + 1]  # first day of the second period
    spans = ([d for d in days if d < split], [d for d in days if d >= split])
    names = [
        f"period {n} ({min(span):%Y-%m} to {max(span):%Y-%m})" for n, span in enumerate(spans, 1)
    ]
    return [names[0] if d < split else names[1] for d in days]


def _months(days: list[date]) -> list[str]:
    counts: dict[str, int] = {}
    for d in days:
        counts[f"{d:%Y-%m}"] = counts.get(f"{d:%Y-%m}", 0) + 1
    merged: list[list[str]] = []  # runs of months that form one group
    for month, count in counts.items():
        if merged and (count < MIN_GROUP or sum(counts[m] for m in merged[-1]) < MIN_GROUP):
            merged[-1].append(month)
        else:
            merged.append([month])
    name = {
        m: run[0] if len(run) == 1 else f"{run[0]}/{run[-1][5:]}" for run in merged for m in run
    }
    return [name[f"{d:%Y-%m}"] for d in days]
