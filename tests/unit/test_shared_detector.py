"""One detector for every camera: the same boxes as a camera's own, a fair queue, errors
reach the camera that asked, and a closed detector refuses clearly."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest

from onsight.config import load_config
from onsight.detect import make_detector
from onsight.detect.decoders import LetterboxGeometry
from onsight.detect.factory import make_shared_detector
from onsight.detect.shared import SharedDetector, cgroup_cpu_quota, default_workers
from onsight.errors import ModelError
from onsight.runtime.runner import Runner
from onsight.types import Detections, Image
from tests.conftest import assets_dir, require


def _frames(count: int) -> list[npt.NDArray[np.uint8]]:
    video = require(assets_dir() / "video" / "vtest_480x360.avi", "sample video")
    with av.open(str(video)) as container:
        frames = [
            f.to_ndarray(format="bgr24")
            for _, f in zip(range(count * 50), container.decode(video=0), strict=False)
        ]
    return frames[::50]


@pytest.mark.parametrize("backend", ["onnxruntime", "opencv"])
def test_cameras_sharing_one_model_get_their_own_boxes(backend: str) -> None:
    """Three cameras on two workers, all at once: each gets exactly what a detector of
    its own would have found on its frames."""
    frames = _frames(6)
    own = make_detector(backend=backend)  # type: ignore[arg-type]
    expected = [own.detect(f) for f in frames]
    shared = make_shared_detector(backend=backend, workers=2)  # type: ignore[arg-type]
    found: dict[int, list[Detections]] = {}

    def camera(number: int) -> None:
        handle = shared.handle(f"cam{number}")
        found[number] = [handle.detect(f) for f in frames[number::3]]

    threads = [threading.Thread(target=camera, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    shared.close()
    for number in range(3):
        for got, want in zip(found[number], expected[number::3], strict=True):
            np.testing.assert_allclose(got.xyxy, want.xyxy, atol=1e-3)
            np.testing.assert_array_equal(got.class_id, want.class_id)
    assert shared.served == {"cam0": 2, "cam1": 2, "cam2": 2}
    assert list(shared.class_names) == list(own.class_names)


class _Log:
    def __init__(self) -> None:
        self.entries: list[str] = []
        self.lock = threading.Lock()
        self.busy_runs = 0
        self.idle_may_ask = threading.Event()

    def add(self, entry: str) -> None:
        with self.lock:
            self.entries.append(entry)


class _TaggingDecoder:
    """The blob is the camera's tag; preparing is logged as that camera queueing."""

    def __init__(self, log: _Log, tag: float) -> None:
        self._log, self._tag = log, tag

    @property
    def output_names(self) -> tuple[str, ...]:
        return ("output",)

    def prepare(
        self, image: Image, region: object = None
    ) -> tuple[npt.NDArray[np.float32], LetterboxGeometry]:
        self._log.add(f"queue {self._tag:.0f}")
        return np.full((1,), self._tag, np.float32), LetterboxGeometry(1.0, 0, 0, 1, 1, 1, 1)

    def decode(
        self, outputs: Sequence[npt.NDArray[np.float32]], geometry: LetterboxGeometry
    ) -> Detections:
        return Detections.empty()


class _LoggingRunner:
    def __init__(self, log: _Log) -> None:
        self._log = log

    def run(self, blob: npt.NDArray[np.float32]) -> Sequence[npt.NDArray[np.float32]]:
        tag = int(blob[0])
        self._log.add(f"run {tag}")
        if tag == 0:
            self._log.busy_runs += 1
            if self._log.busy_runs == 20:
                self._log.idle_may_ask.set()
        if tag == 99:
            raise RuntimeError("the network failed on this blob")
        return [blob]


def _service(log: _Log, workers: int = 1) -> tuple[SharedDetector, list[_TaggingDecoder]]:
    decoders = [_TaggingDecoder(log, tag) for tag in (0.0, 1.0, 99.0)]
    pending = iter(decoders)
    service = SharedDetector([_LoggingRunner(log)] * workers, lambda: next(pending), ["person"])
    return service, decoders


def test_a_busy_camera_cannot_starve_an_idle_one() -> None:
    """Camera 0 asks again the moment it is served, 200 times; camera 1 asks once, while
    camera 0 is in full flow. With one worker, at most one of camera 0's requests (the one
    running or already queued) is served between camera 1 queueing and being served."""
    log = _Log()
    service, _ = _service(log)
    busy, idle = service.handle("busy"), service.handle("idle")
    image = np.zeros((4, 4, 3), np.uint8)

    def hammer() -> None:
        for _ in range(200):
            busy.detect(image)

    def ask_once() -> None:
        log.idle_may_ask.wait()
        idle.detect(image)

    threads = [threading.Thread(target=hammer), threading.Thread(target=ask_once)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    service.close()
    queued, served = log.entries.index("queue 1"), log.entries.index("run 1")
    between = [e for e in log.entries[queued:served] if e == "run 0"]
    # "queue 1" is logged while camera 1 prepares, just before it joins the queue: one more
    # of camera 0's requests may slip in between on a busy machine; an unfair queue would
    # let all of camera 0's remaining requests (up to 180) go first.
    assert len(between) <= 2, log.entries[queued : served + 1]
    assert service.served == {"busy": 200, "idle": 1}


def test_an_error_reaches_the_camera_that_asked_and_the_worker_goes_on() -> None:
    log = _Log()
    service, _ = _service(log)
    first, _second, failing = (service.handle(n) for n in ("a", "b", "bad"))
    image = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(RuntimeError, match="network failed"):
        failing.detect(image)
    assert len(first.detect(image)) == 0, "the worker still serves"
    service.close()
    with pytest.raises(ModelError, match="closed"):
        first.detect(image)
    service.close()  # idempotent


def test_a_shared_detector_needs_a_worker() -> None:
    with pytest.raises(ModelError, match="at least one worker"):
        SharedDetector([], lambda: _TaggingDecoder(_Log(), 0.0), ["person"])  # type: ignore[arg-type,return-value]


def test_every_camera_of_a_run_shares_one_model(tmp_path: Path) -> None:
    video = require(assets_dir() / "video" / "vtest_480x360.avi", "sample video")
    cameras = "".join(f'  - {{name: cam{n}, url: "{video}", fps: 10}}\n' for n in range(3))
    config = tmp_path / "onsight.yaml"
    config.write_text(f"cameras:\n{cameras}", encoding="utf-8")
    runner = Runner(load_config(config))
    try:
        for pipeline in runner.pipelines:
            frames = iter(pipeline.source.frames())
            for _ in range(5):
                pipeline.process(next(frames))
        assert runner.detector is not None
        assert set(runner.detector.served) == {"cam0", "cam1", "cam2"}
    finally:
        runner.close()


@pytest.mark.parametrize(
    ("files", "quota"),
    [
        ({"cpu.max": "150000 100000\n"}, 1.5),  # cgroup v2: docker run --cpus 1.5
        ({"cpu.max": "max 100000\n"}, None),
        ({"kubepods/pod1/cpu.max": "200000 100000\n"}, 2.0),  # the process's own group
        ({"kubepods/pod1/cpu.max": "max 100000\n", "kubepods/cpu.max": "300000 100000\n"}, 3.0),
        ({"kubepods/pod1/cpu.max": "400000 100000\n", "cpu.max": "100000 100000\n"}, 1.0),
        ({"cpu/cpu.cfs_quota_us": "300000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 3.0),  # v1
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({"cpu.max": "garbage\n"}, None),
        ({}, None),
    ],
)
def test_the_cpu_quota_of_a_container_is_read(
    tmp_path: Path, files: dict[str, str], quota: float | None
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cgroup_cpu_quota(tmp_path, own="/kubepods/pod1") == quota


def test_workers_default_to_the_cores_within_the_quota(tmp_path: Path) -> None:
    cores = len(os.sched_getaffinity(0))
    assert default_workers(tmp_path) == cores  # no quota: every core it may run on
    (tmp_path / "cpu.max").write_text("50000 100000\n")  # half a CPU: still one worker
    assert default_workers(tmp_path) == 1
    (tmp_path / "cpu.max").write_text("190000 100000\n")  # 1.9 CPUs: one, not two
    assert default_workers(tmp_path) == 1
    (tmp_path / "cpu.max").write_text(f"{100000 * (cores + 4)} 100000\n")
    assert default_workers(tmp_path) == cores  # a quota above the cores changes nothing


def test_multithreaded_inferences_leave_fewer_workers() -> None:
    cores = default_workers()
    for threads, expected in ((1, cores), (cores, 1), (cores + 1, 1)):
        service = make_shared_detector(threads=threads)
        try:
            assert service.workers == expected, threads
        finally:
            service.close()
    service = make_shared_detector(threads=2, workers=3)  # an explicit count is kept
    assert service.workers == 3
    service.close()
