"""Mutation fuzzing of the ingest path: damaged clips never crash, hang or print a traceback.

Seeded mutations of short sample clips (see `tests.fuzz.mutate`) are decoded in batches,
each batch in its own process (`tests.fuzz.worker`) with a timeout, two at a time. A batch
fails on a signal (a crash in FFmpeg), a timeout (a hang), a non-zero exit or anything
on stderr (a traceback). ``ONSIGHT_FUZZ_CASES`` sets the number of cases (300 by default;
`make fuzz` runs 10,000) and ``ONSIGHT_FUZZ_SEED`` the seed. To replay one case:
``python -m tests.fuzz.worker CLIPS SEED INDEX 1`` with the clips folder the test prints.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO, assets_dir, require
from tests.fuzz.mutate import prepare_clips

CASES = int(os.environ.get("ONSIGHT_FUZZ_CASES", "300"))
SEED = int(os.environ.get("ONSIGHT_FUZZ_SEED", "16"))
BATCH = 250  # cases per process: start-up (imports) is paid once per batch
JOBS = max(1, min(2, os.cpu_count() or 1))


@dataclass(frozen=True)
class Batch:
    start: int
    count: int
    counts: dict[str, int]
    failure: str | None

    @property
    def end(self) -> int:
        return self.start + self.count - 1


def _timeout(count: int) -> float:
    """Generous: a case takes tens of milliseconds; the source's own watchdog is 5 s."""
    return 120.0 + 2.0 * count


def _last_case(stdout: str) -> str:
    cases = [line for line in stdout.splitlines() if line.startswith("case ")]
    return cases[-1] if cases else "(before the first case)"


def _run_batch(clips: Path, start: int, count: int) -> Batch:
    command = [sys.executable, "-m", "tests.fuzz.worker", str(clips), str(SEED), str(start)]
    try:
        done = subprocess.run(
            [*command, str(count)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=_timeout(count),
        )
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        return Batch(start, count, {}, f"hang (> {_timeout(count):.0f} s) in {_last_case(stdout)}")
    where = _last_case(done.stdout)
    if done.returncode < 0:
        return Batch(start, count, {}, f"crash (signal {-done.returncode}) in {where}")
    if done.returncode != 0 or done.stderr:
        return Batch(start, count, {}, f"exit {done.returncode} in {where}:\n{done.stderr[-3000:]}")
    summary = json.loads(done.stdout.splitlines()[-1])
    return Batch(start, count, {k: int(summary[k]) for k in ("ok", "refused")}, None)


def test_mutated_clips_never_crash_hang_or_print_a_traceback(
    tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    videos = require(assets_dir() / "video", "sample videos")
    clips = tmp_path_factory.mktemp("fuzz-clips")
    prepare_clips(videos, clips)
    size = max(1, min(BATCH, math.ceil(CASES / JOBS)))
    starts = range(0, CASES, size)
    began = time.monotonic()
    with ThreadPoolExecutor(JOBS) as pool:
        batches = list(
            pool.map(lambda start: _run_batch(clips, start, min(size, CASES - start)), starts)
        )
    elapsed = time.monotonic() - began
    failures = [f"cases {b.start}..{b.end}: {b.failure}" for b in batches if b.failure]
    done = [b.counts for b in batches if b.failure is None]
    decoded, refused = sum(c["ok"] for c in done), sum(c["refused"] for c in done)
    with capsys.disabled():
        print(
            f"\nfuzz: {CASES} cases (seed {SEED}, clips in {clips}) in {elapsed:.0f} s: "
            f"{decoded} decoded, {refused} refused with one line, {len(failures)} failed batch(es)"
        )
    assert not failures, "\n\n".join(failures)
    assert decoded + refused == CASES
    assert decoded and refused  # the mutations both spare and break files
