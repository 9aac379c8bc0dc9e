"""Tracking: per camera, in memory only."""

from onsight.track.bytetrack import ByteTracker
from onsight.track.protocol import Tracker
from onsight.track.static import StaticFilter

__all__ = ["ByteTracker", "StaticFilter", "Tracker"]
