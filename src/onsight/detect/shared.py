"""One detector for every camera of a process: one model session, a fair queue, a few workers.

A session per camera cost about 18 MB each (yolox-nano under onnxruntime, measured on this
box). Here the cameras share one: each camera gets a `handle`, a `Detector` that prepares
its image (letterbox, on the camera's own thread), queues the blob, waits for a worker to
run the network, and decodes the outputs (again on its own thread).

Fairness: a handle has at most one request in the queue (its `detect` blocks until served,
and a lock stops two threads of one camera from queueing twice), and the queue is first in,
first out. A camera that asks again goes behind every camera already waiting, so with W
workers a request waits behind at most one request of each other camera: a busy camera
cannot starve an idle one.

Batching was measured and is not done: yolox-nano's ONNX export fixes its batch at 1 in its
final reshape, and with that dimension freed by hand a batch of 2 cost 3% and of 4 cost 8%
more CPU per image than one at a time (onnxruntime 1.32, one thread, AVX-512 Xeon).
"""

from __future__ import annotations

import math
import os
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from onsight.detect.backends import Runner
from onsight.detect.decoders import Decoder
from onsight.errors import ModelError
from onsight.types import Detections, Image, Region

Outputs = Sequence[npt.NDArray[np.float32]]


@dataclass(eq=False)
class _Request:
    blob: npt.NDArray[np.float32]
    camera: str
    done: threading.Event = field(default_factory=threading.Event)
    outputs: Outputs | None = None
    error: BaseException | None = None


_STOP = None  # the queue item that tells a worker to end


class SharedDetector:
    """Serves `handle`s with `workers` threads over `runners` (one per worker; the same
    object for every worker when the backend's session is thread-safe, as onnxruntime's is).
    `make_decoder` gives each handle its own decoder, since decoders reuse their buffers."""

    def __init__(
        self,
        runners: Sequence[Runner],
        make_decoder: Callable[[], Decoder],
        class_names: Sequence[str],
    ) -> None:
        if not runners:
            raise ModelError("a shared detector needs at least one worker")
        self._make_decoder = make_decoder
        self._class_names = tuple(class_names)
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self.served: dict[str, int] = {}  # requests run per camera, for health and tests
        self._workers = [
            threading.Thread(target=self._serve, args=(runner,), name=f"detector-{n}", daemon=True)
            for n, runner in enumerate(runners)
        ]
        for worker in self._workers:
            worker.start()

    @property
    def class_names(self) -> Sequence[str]:
        return self._class_names

    @property
    def workers(self) -> int:
        return len(self._workers)

    def handle(self, camera: str) -> DetectorHandle:
        """A `Detector` for one camera."""
        return DetectorHandle(self, camera, self._make_decoder())

    def run(self, blob: npt.NDArray[np.float32], camera: str) -> Outputs:
        """Queue one prepared blob and wait for its outputs (a worker's error is raised here)."""
        request = _Request(blob, camera)
        with self._lock:
            if self._closed:
                raise ModelError("the shared detector is closed")
            self._queue.put(request)
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.outputs is not None
        return request.outputs

    def close(self, timeout: float = 5.0) -> None:
        """Stop the workers once the requests already queued are served (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for _ in self._workers:
                self._queue.put(_STOP)
        for worker in self._workers:
            worker.join(timeout)

    def _serve(self, runner: Runner) -> None:
        while (request := self._queue.get()) is not _STOP:
            try:
                request.outputs = runner.run(request.blob)
            except BaseException as exc:  # the camera that asked gets it, the worker lives
                request.error = exc
            finally:
                request.blob = _EMPTY  # the worker keeps no frame
                with self._lock:
                    self.served[request.camera] = self.served.get(request.camera, 0) + 1
                request.done.set()


_EMPTY = np.zeros((0,), np.float32)


class DetectorHandle:
    """One camera's view of a `SharedDetector`; a `Detector`. Its decoder is its own."""

    def __init__(self, service: SharedDetector, camera: str, decoder: Decoder) -> None:
        self._service = service
        self._camera = camera
        self._decoder = decoder
        self._one_at_a_time = threading.Lock()  # at most one request of this camera queued

    @property
    def class_names(self) -> Sequence[str]:
        return self._service.class_names

    @property
    def fitted_canvas(self) -> bool:
        return self._decoder.fitted_canvas

    def detect(self, image: Image, region: Region | None = None) -> Detections:
        with self._one_at_a_time:
            blob, geometry = self._decoder.prepare(image, region)
            outputs = self._service.run(blob, self._camera)
            return self._decoder.decode(outputs, geometry)


def default_workers(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """One worker per CPU core this process may use: each runs one inference at a time.

    The cores are those it may run on, capped by a CPU quota, rounded down (`docker run
    --cpus 2` on a 64-core host is 2, not 64: more workers than the quota only queue up in
    the kernel)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup)
    return max(1, min(cores, math.floor(quota)) if quota is not None else cores)


def cgroup_cpu_quota(root: Path, own: str | None = None) -> float | None:
    """CPUs' worth of time this process's control group may use: the smallest cgroup v2
    `cpu.max` from its own group up to `root`, else cgroup v1's CFS quota; None when
    unlimited or unreadable. `own`: the group's path under `root` (default: read from
    /proc/self/cgroup; "/" inside a container's own namespace)."""
    if own is None:
        try:
            lines = Path("/proc/self/cgroup").read_text(encoding="utf-8").splitlines()
        except OSError:
            lines = []
        own = next((line[3:] for line in lines if line.startswith("0::")), "/")
    group = root / own.strip("/")
    v2 = [_quota(g / "cpu.max") for g in (group, *group.parents) if g.is_relative_to(root)]
    limits = [q for q in v2 if q is not None]
    if limits:
        return min(limits)
    v1 = root / "cpu"
    return _quota(v1 / "cpu.cfs_quota_us", v1 / "cpu.cfs_period_us")


def _quota(quota_file: Path, period_file: Path | None = None) -> float | None:
    """Quota / period from a `cpu.max` ("200000 100000", or "max 100000") or from v1's two
    files; None when unlimited, missing or unreadable."""
    try:
        fields = quota_file.read_text(encoding="ascii").split()
        if period_file is not None:
            fields += period_file.read_text(encoding="ascii").split()
        quota, period = (int(f) for f in fields) if len(fields) == 2 else (0, 0)
    except (OSError, UnicodeError, ValueError):  # "max" fails int(): unlimited
        return None
    return quota / period if quota > 0 and period > 0 else None
