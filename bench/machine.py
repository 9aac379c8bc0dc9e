"""The machine a benchmark ran on, for the figures that name it."""

from __future__ import annotations

from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name as /proc/cpuinfo gives it ("unknown" where it cannot be read)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"
