"""Operations apps scored against hand-labelled trajectories (`operations.yaml`, truth/).

Queue length and waits, and restricted-area alerts, from the real pipeline on real clips,
compared by `onsight evaluate`'s own report with what the labels say. The targets are the
issue's: mean length within 10%, median wait within 20%, alerts within 20% of the true
stays longer than `after_seconds`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from onsight.config import load_config
from onsight.evaluate import load_sequence
from onsight.evaluate.replay import observe
from onsight.evaluate.report import CameraReport, compare
from tests.conftest import assets_dir, require
from tests.golden.replay import _detector

HERE = Path(__file__).parent


@cache
def _report(camera: str) -> CameraReport:
    require(assets_dir() / "video", "sample videos")
    config = load_config(HERE / "operations.yaml").config
    cam = next(c for c in config.cameras if c.name == camera)
    return compare(cam, load_sequence(HERE / "truth" / camera), observe(cam, _detector()))


@pytest.mark.parametrize("queue", ["counter", "table"])
def test_queue_length_and_wait_match_the_labels(queue: str) -> None:
    score = _report("one-by-one").queues[queue]
    assert len(score.true_waits) >= 5, "the clip should have enough visits to release"
    assert score.length_error is not None and score.length_error <= 0.10, score.as_dict()
    assert score.wait_error is not None and score.wait_error <= 0.20, score.as_dict()
    assert len(score.measured_waits) == len(score.true_waits), score.as_dict()


@pytest.mark.parametrize(("camera", "area"), [("one-by-one", "table"), ("one-by-one", "long_stay")])
def test_restricted_alerts_match_the_true_long_stays(camera: str, area: str) -> None:
    score = _report(camera).restricted[area]
    assert score.true_stays > 0
    assert score.error is not None and score.error <= 0.20, score.as_dict()


def test_no_alert_where_nobody_stayed() -> None:
    score = _report("parking").restricted["lane"]
    assert score.true_stays == 0 and score.alerts == 0
