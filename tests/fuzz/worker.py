"""One batch of fuzz cases in its own process: `python -m tests.fuzz.worker CLIPS SEED START COUNT`.

Each mutated clip is opened and decoded to its end through onsight's real source path
(`VideoSource`, as `onsight run` uses it). The only acceptable outcomes are frames, or a
`SourceError` whose message is one line naming the camera. Anything else escapes as a
traceback on stderr; a crash or a hang is seen by the parent. Before each case one
``case N ...`` line is printed (and flushed), so the parent can name the case that
crashed or hung; the last line is a JSON summary of the batch.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import time
from pathlib import Path

from onsight.errors import SourceError
from onsight.ingest import VideoSource
from tests.fuzz.mutate import mutate_case

WATCHDOG_SECONDS = 5.0


class _NoTracebacks(logging.Handler):
    """Keep the (many) warnings quiet; show any record carrying a traceback or spanning
    lines on stderr, where the parent treats it as a failure."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or "\n" in record.getMessage():
            sys.stderr.write("Traceback or multi-line log record: " + self.format(record) + "\n")


def run_case(path: Path, camera: str, width: int | None) -> tuple[str, int]:
    """Decode `path` to its end; ("ok" | "refused", frames yielded)."""
    source = VideoSource(camera, str(path), 5, width=width, watchdog_seconds=WATCHDOG_SECONDS)
    frames = 0
    try:
        for _ in source.frames():
            frames += 1
    except SourceError as exc:
        message = str(exc)
        if "\n" in message or not message.startswith(f"camera {camera!r}: "):
            raise AssertionError(f"not one clear line naming the camera: {message!r}") from exc
        return "refused", frames
    return "ok", frames


def main(argv: list[str]) -> int:
    clips_dir, seed, start, count = Path(argv[0]), int(argv[1]), int(argv[2]), int(argv[3])
    logging.basicConfig(level=logging.WARNING, handlers=[_NoTracebacks()])
    clips = sorted(p for p in clips_dir.iterdir() if ".part" not in p.name)
    outcomes = {"ok": 0, "refused": 0}
    frames = 0
    slowest = (0.0, -1)
    with tempfile.TemporaryDirectory(prefix="onsight-fuzz-") as tmp:
        for index in range(start, start + count):
            case = mutate_case(clips, seed, index)
            print(f"case {index} {case.clip.name}: {case.description}", flush=True)
            path = Path(tmp) / f"case{index}{case.clip.suffix}"
            path.write_bytes(case.data)
            began = time.monotonic()
            outcome, n = run_case(path, f"fuzz{index}", None if index % 2 else 160)
            slowest = max(slowest, (time.monotonic() - began, index))
            outcomes[outcome] += 1
            frames += n
            path.unlink()
    print(json.dumps({"cases": count, **outcomes, "frames": frames, "slowest": slowest}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
