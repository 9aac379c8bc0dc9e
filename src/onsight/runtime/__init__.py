"""Runtime: per-camera pipelines, the runner that drives them, and the handles through which
the service reads cameras (loaded on first use)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from onsight._lazy import lazy_exports

if TYPE_CHECKING:
    from onsight.runtime.handle import CameraHandle
    from onsight.runtime.pipeline import STAGES, CameraPipeline, FrameResult
    from onsight.runtime.runner import Runner

_EXPORTS = {
    "CameraHandle": "onsight.runtime.handle",
    "STAGES": "onsight.runtime.pipeline",
    "CameraPipeline": "onsight.runtime.pipeline",
    "FrameResult": "onsight.runtime.pipeline",
    "Runner": "onsight.runtime.runner",
}

__all__ = ["STAGES", "CameraHandle", "CameraPipeline", "FrameResult", "Runner"]

__getattr__ = lazy_exports(_EXPORTS)
