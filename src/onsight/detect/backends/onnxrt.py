"""onnxruntime backend (CPU)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from onsight.errors import ModelError

_QUIET = 3  # errors only: NanoDet lists its initialisers as graph inputs, which ort warns about


class OnnxRuntimeRunner:
    """One CPU inference session with `threads` intra-op threads (1 leaves a core for decode)."""

    def __init__(self, weights: Path, output_names: Sequence[str], threads: int = 1) -> None:
        if threads < 1:
            raise ModelError(f"threads must be >= 1, got {threads}")
        ort.set_default_logger_severity(_QUIET)
        options = ort.SessionOptions()
        options.log_severity_level = _QUIET
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Spinning workers would burn the CPU that decode and tracking need between frames.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(
                str(weights), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ort raises its own untyped errors
            lines = str(exc).strip().splitlines() or [type(exc).__name__]
            raise ModelError(f"onnxruntime cannot load {weights}: {lines[0]}") from None
        self._input = self._session.get_inputs()[0].name
        available = {o.name for o in self._session.get_outputs()}
        missing = [n for n in output_names if n not in available]
        if missing:
            raise ModelError(f"{weights} has no output(s) {', '.join(missing)}")
        self._outputs = list(output_names)

    def run(self, blob: npt.NDArray[np.float32]) -> Sequence[npt.NDArray[np.float32]]:
        result: list[npt.NDArray[np.float32]] = self._session.run(
            self._outputs, {self._input: blob}
        )
        return result
