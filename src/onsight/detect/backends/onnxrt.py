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
    """One CPU inference session with `threads` intra-op threads (1 leaves a core for decode).

    `free_input_size`: accept any input height and width (see `_free_input_size`)."""

    def __init__(
        self,
        weights: Path,
        output_names: Sequence[str],
        threads: int = 1,
        *,
        free_input_size: bool = False,
    ) -> None:
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
            model = _free_input_size(weights) if free_input_size else str(weights)
            self._session = ort.InferenceSession(
                model, sess_options=options, providers=["CPUExecutionProvider"]
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


def _free_input_size(weights: Path) -> bytes:
    """The model with its input's height and width, and its outputs' shapes, left free.

    Exported detectors declare the fixed size they were traced at, and onnxruntime rejects
    any other; a fully convolutional network (YOLOX) computes the same at any size in
    multiples of its largest stride, so a 4:3 frame can run at 416x320 instead of 416x416.
    """
    import onnx  # only for this rewrite; inference never needs it

    model = onnx.load(str(weights))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 4:
        raise ModelError(f"{weights}: expected an NCHW image input, got {len(dims)} dimensions")
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for output in model.graph.output:
        for i, dim in enumerate(output.type.tensor_type.shape.dim):
            if i > 0:  # the batch stays 1
                dim.dim_param = f"{output.name}_{i}"
    del model.graph.value_info[:]  # shapes traced at the export size
    return bytes(model.SerializeToString())
