"""The evaluator: true crossings and occupancy from MOT trajectories, one-to-one matching."""

from __future__ import annotations

from pathlib import Path

import pytest

from onsight.config.models import LineConfig, ZoneConfig
from onsight.evaluate import TruthError, load_sequence, score_line
from onsight.evaluate.replay import CountedCrossing
from onsight.evaluate.truth import TrueCrossing

VERTICAL = LineConfig(name="v", points=[[0.5, 0.0], [0.5, 1.0]])
SHORT = LineConfig(name="short", points=[[0.5, 0.0], [0.5, 0.3]])
LEFT = ZoneConfig(name="left", polygon=[[0, 0], [0.5, 0], [0.5, 1], [0, 1]])


def _sequence(tmp_path: Path, rows: list[str], fps: int = 10, frames: int = 100) -> Path:
    folder = tmp_path / "cam"
    (folder / "gt").mkdir(parents=True)
    (folder / "seqinfo.ini").write_text(
        f"[Sequence]\nname=cam\nframeRate={fps}\nseqLength={frames}\nimWidth=100\nimHeight=100\n"
    )
    (folder / "gt" / "gt.txt").write_text("\n".join(rows) + "\n")
    return folder


def _walk(person: int, xs: list[float], y: float = 60, first: int = 1) -> list[str]:
    """Rows for a 10x20 px box whose bottom centre walks through `xs` (pixels)."""
    return [
        f"{first + i},{person},{x - 5:.1f},{y - 20:.1f},10,20,1,1,1" for i, x in enumerate(xs)
    ]


def test_a_walk_across_is_one_crossing_at_the_first_frame_on_the_new_side(tmp_path: Path) -> None:
    rows = _walk(1, [22 + 5 * i for i in range(13)])  # frame 6 at x=47, frame 7 at x=52
    sequence = load_sequence(_sequence(tmp_path, rows))
    assert sequence.crossings(VERTICAL) == [TrueCrossing(0.6, "out")]  # frame 7, 1-based


def test_crossings_beyond_the_segment_and_wobbles_do_not_count(tmp_path: Path) -> None:
    wobble = [48, 52, 48, 52, 48, 48, 48]  # one-frame visits across the line
    rows = _walk(1, [30, 40, *wobble, 40, 30]) + _walk(2, [22 + 5 * i for i in range(13)], y=90)
    sequence = load_sequence(_sequence(tmp_path, rows))
    assert sequence.crossings(VERTICAL) == [TrueCrossing(0.6, "out")]  # person 2 only
    assert sequence.crossings(SHORT) == []  # person 2 walks below the segment's end


def test_occupancy_counts_bottom_centres_in_the_zone(tmp_path: Path) -> None:
    rows = _walk(1, [20, 30, 60]) + _walk(2, [70, 40, 45])
    sequence = load_sequence(_sequence(tmp_path, rows))
    assert [sequence.occupancy(LEFT, f) for f in (1, 2, 3, 4)] == [1, 2, 1, 0]


def test_ignored_rows_and_mot15_rows(tmp_path: Path) -> None:
    rows = [
        "1,1,10,10,10,20,0,1,1",  # conf 0: ignored, as MOTChallenge does
        "1,2,10,10,10,20,1,3,1",  # a car
        "1,3,10,10,10,20,1,-1,-1,-1",  # MOT15: class -1
        "1,4,10,10,10,20,1",  # no class column
    ]
    sequence = load_sequence(_sequence(tmp_path, rows))
    assert sorted(sequence.ids.tolist()) == [3, 4]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"seqinfo.ini": None}, "seqinfo.ini: not found"),
        ({"seqinfo.ini": "[Sequence]\nframeRate=10\n"}, "needs [Sequence]"),
        ({"gt/gt.txt": "1,2,3\n"}, "expected frame,id"),
        ({"gt/gt.txt": "a,b,c,d,e,f,g\n"}, "not a row of numbers"),
        ({"gt/gt.txt": "\n"}, "no labelled boxes"),
    ],
)
def test_a_broken_truth_folder_is_one_clear_error(
    tmp_path: Path, files: dict[str, str | None], message: str
) -> None:
    folder = _sequence(tmp_path, _walk(1, [20, 30]))
    for name, text in files.items():
        if text is None:
            (folder / name).unlink()
        else:
            (folder / name).write_text(text)
    with pytest.raises(TruthError, match=message.replace("[", r"\[")):
        load_sequence(folder)


def _events(*pairs: tuple[float, str]) -> list[CountedCrossing]:
    return [CountedCrossing(t, d) for t, d in pairs]  # type: ignore[arg-type]


def test_matching_is_one_to_one_by_direction_and_time() -> None:
    truth = [TrueCrossing(1.0, "in"), TrueCrossing(5.0, "in"), TrueCrossing(9.0, "out")]
    counted = _events((1.4, "in"), (1.6, "in"), (9.2, "in"), (20.0, "out"))
    score = score_line(truth, counted)
    assert (score.matched, score.missed, score.spurious) == (1, 2, 3)
    assert score.precision == 0.25 and score.recall == pytest.approx(1 / 3)


def test_a_miss_and_a_spurious_count_do_not_cancel() -> None:
    truth = [TrueCrossing(1.0, "in"), TrueCrossing(5.0, "out")]
    counted = _events((1.0, "in"), (30.0, "out"))
    score = score_line(truth, counted)
    assert score.count_error == 0  # what a totals-only test saw
    assert (score.missed, score.spurious, score.f1) == (1, 1, 0.5)


def test_the_assignment_maximises_matches_not_greedy_nearest() -> None:
    # greedy nearest would pair 1.9 with 1.0's neighbour 2.0 and leave 1.0 unmatched
    truth = [TrueCrossing(1.0, "in"), TrueCrossing(2.0, "in")]
    counted = _events((1.9, "in"), (2.9, "in"))
    assert score_line(truth, counted).matched == 2


def test_a_zone_someone_is_seen_in_though_nobody_was_there_is_a_phantom() -> None:
    from onsight.evaluate.report import CameraReport, ZoneScore, report_dict

    empty_but_seen = ZoneScore(10, 0.0, 0.4, 0, 1, 0.4)
    right = ZoneScore(10, 2.0, 1.8, 2, 2, 0.2)
    report = CameraReport("cam", 10, {}, {"door": empty_but_seen, "hall": right})
    overall = report_dict([report])["overall"]
    assert isinstance(overall, dict)
    assert overall["phantom_zones"] == ["cam/door"]
    assert overall["zone_mean_error"] == 0.1
    shown = empty_but_seen.as_dict()
    assert shown["mean_error"] is None and shown["frame_mae"] == 0.4


def test_true_spells_bridge_short_absences_and_end_at_the_served_line() -> None:
    from onsight.evaluate.truth import _spells_of

    times = [i / 10 for i in range(100)]
    inside = [t < 3 or 4 <= t < 6 or t >= 9 for t in times]  # out 1 s, then 3 s
    assert _spells_of(times, inside, [False] * 100) == pytest.approx([5.9, 0.9])
    crossed = [abs(t - 2.0) < 1e-9 for t in times]  # crossed the served line at 2 s
    assert _spells_of(times, inside, crossed) == pytest.approx([2.0, 0.9])
