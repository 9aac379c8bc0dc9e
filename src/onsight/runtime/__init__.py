"""Runtime: per-camera pipelines and the runner that drives them."""

from onsight.runtime.pipeline import STAGES, CameraPipeline, FrameResult
from onsight.runtime.runner import Runner

__all__ = ["STAGES", "CameraPipeline", "FrameResult", "Runner"]
