"""Build a Detector from a registered model name and a backend name."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from onsight.detect.backends import Runner
from onsight.detect.decoders import Decoder, make_decoder
from onsight.detect.protocol import Detector
from onsight.detect.registry import BACKENDS, DEFAULT_MODEL, BackendName, get_spec, verify
from onsight.detect.shared import SharedDetector, default_workers
from onsight.errors import ModelError
from onsight.types import Detections, Image, Region


class ModelDetector:
    """A network runner plus the model's decoder. Not thread-safe: it reuses its buffers."""

    def __init__(self, runner: Runner, decoder: Decoder, class_names: Sequence[str]) -> None:
        self._runner = runner
        self._decoder = decoder
        self._class_names = tuple(class_names)

    @property
    def class_names(self) -> Sequence[str]:
        return self._class_names

    @property
    def fitted_canvas(self) -> bool:
        return self._decoder.fitted_canvas

    def detect(self, image: Image, region: Region | None = None) -> Detections:
        blob, geometry = self._decoder.prepare(image, region)
        return self._decoder.decode(self._runner.run(blob), geometry)


def _runner(
    backend: str, weights: Path, output_names: Sequence[str], threads: int, fit: bool = False
) -> Runner:
    # Imported here so that an unused backend's library is never loaded.
    if backend == "onnxruntime":
        from onsight.detect.backends.onnxrt import OnnxRuntimeRunner

        return OnnxRuntimeRunner(weights, output_names, threads, free_input_size=fit)
    from onsight.detect.backends.opencv_dnn import OpenCVRunner

    return OpenCVRunner(weights, output_names, threads)


def make_detector(
    model: str = DEFAULT_MODEL,
    backend: BackendName = "onnxruntime",
    score_threshold: float | None = None,
    threads: int = 1,
    model_dir: Path | None = None,
    *,
    square_input: bool = False,
) -> Detector:
    """Load a registered model (after checking its sha256) on the given backend.

    `square_input` keeps the model's exported square input even where a canvas of the
    frame's shape would do (the benchmark's stock loop). Raises ModelError for an unknown
    model or backend, missing or corrupt files.
    """
    loaded = _Loaded(model, backend, score_threshold, model_dir, square_input)
    decoder = loaded.decoder()
    runner = _runner(backend, loaded.weights, decoder.output_names, threads, loaded.fit)
    return ModelDetector(runner, decoder, loaded.class_names)


def make_shared_detector(
    model: str = DEFAULT_MODEL,
    backend: BackendName = "onnxruntime",
    score_threshold: float | None = None,
    threads: int = 1,
    workers: int | None = None,
    model_dir: Path | None = None,
) -> SharedDetector:
    """One model for many cameras (see `onsight.detect.shared`): `workers` inferences at a
    time (default: one per core, or per `threads` cores, so that the threads of inferences
    running at once do not outnumber the cores), each with `threads` threads. onnxruntime's
    session is shared by the workers; OpenCV's network is not thread-safe, so each worker
    loads one."""
    loaded = _Loaded(model, backend, score_threshold, model_dir)
    count = workers or max(1, default_workers() // max(1, threads))
    outputs = loaded.decoder().output_names
    if backend == "onnxruntime":
        runners = [_runner(backend, loaded.weights, outputs, threads, loaded.fit)] * count
    else:
        runners = [_runner(backend, loaded.weights, outputs, threads) for _ in range(count)]
    return SharedDetector(runners, loaded.decoder, loaded.class_names)


class _Loaded:
    """A registered model's checked files and a decoder factory for it."""

    def __init__(
        self,
        model: str,
        backend: str,
        score_threshold: float | None,
        model_dir: Path | None,
        square_input: bool = False,
    ) -> None:
        spec = get_spec(model)
        if backend not in spec.backends:
            valid = ", ".join(b for b in BACKENDS if b in spec.backends)
            raise ModelError(
                f"unknown backend {backend!r} for model {spec.name}; valid backends: {valid}"
            )
        threshold = spec.score_threshold if score_threshold is None else score_threshold
        if not 0.0 <= threshold <= 1.0:
            raise ModelError(f"score threshold must be between 0 and 1, got {threshold}")
        files = verify(spec, model_dir)
        self._spec, self._threshold = spec, threshold
        # A canvas of each frame's shape needs the input size freed, done on onnxruntime.
        self.fit = spec.fit_input and backend == "onnxruntime" and not square_input
        self.weights = files.weights
        self.class_names = files.class_names()

    def decoder(self) -> Decoder:
        spec = self._spec
        return make_decoder(
            spec.decoder, spec.input_size, self._threshold, spec.nms_iou, fit=self.fit
        )
