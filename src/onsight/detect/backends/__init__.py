"""Backends run an ONNX network on a prepared blob; all pre/post-processing lives in decoders."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt


class Runner(Protocol):
    """Runs the network once; returns the outputs in the order of the names it was built with."""

    def run(self, blob: npt.NDArray[np.float32]) -> Sequence[npt.NDArray[np.float32]]: ...
