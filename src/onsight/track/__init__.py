"""Tracking: per camera, in memory only."""

from onsight.track.bytetrack import ByteTracker
from onsight.track.protocol import Tracker

__all__ = ["ByteTracker", "Tracker"]
