"""Each video camera decoded in a worker process of its own, supervised by the main process.

A segfault in FFmpeg on a malformed stream, or a decoder that never returns, used to be a
thread of the one process that also holds every other camera, the store and the web
service. Here `ProcessSource` runs the camera's `VideoSource` (decode, reconnects, sampling
to the analysis rate) in a child process and hands its frames to the pipeline:

- **Frames** travel through shared memory the main process owns (two slots per camera);
  only a few numbers per frame go over the pipe. The main process copies a frame out as
  it arrives and frees the slot.
- **Supervision:** the worker sends its counters every second. A worker that dies (any
  exit, `kill -9` included), goes silent for `hang_seconds`, or (live cameras) reports one
  decoder call stuck past the source's own limits is killed and started again with capped
  backoff (0.5 s first), counted in `restarts` and reported to `on_restart` (the audit log).
  A file resumes after the last frame handed over, and is given up after `FILE_RESTARTS`
  failures in a row without a frame; a live camera is retried for as long as it runs, its
  timestamps increasing across the gap. A file's decoder stuck in one call is reported by
  `stuck_seconds`, for the runner to give up on as before (stopping the camera then kills
  its worker, so nothing is left behind).
- **Back-pressure:** a file waits for a free slot (it plays as fast as analysis goes); a
  live camera drops a frame when both slots are full, so a slow analysis never backs up
  the stream.

Workers start from a fork server that has imported PyAV and NumPy once, so each costs
about 17 MB of its own memory (measured USS) rather than a fresh interpreter's 29 MB.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import asdict, dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.shared_memory import SharedMemory
from typing import Any, Literal

import cv2
import numpy as np

from onsight.errors import SourceError
from onsight.ingest.backoff import Backoff, BackoffPolicy
from onsight.ingest.source import SourceStats, VideoSource
from onsight.ingest.urls import classify, redact_text, redact_url, url_secrets
from onsight.motion import GateSettings, MotionGate
from onsight.types import Frame, MotionReading

logger = logging.getLogger(__name__)

SLOTS = 2
FILE_RESTARTS = 3  # a file whose worker fails this often in a row without a frame: given up
HEARTBEAT_SECONDS = 1.0
_JOIN_SECONDS = 3.0  # a worker asked to stop gets this long before it is killed

Outcome = Literal["end", "died", "hung", "stopped"]


class _NoWorker(Exception):
    """A worker could not be started (handled like one that died)."""


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs to open its camera (it is pickled to the child)."""

    camera: str
    url: str
    fps: float
    width: int | None
    open_timeout: float
    watchdog_seconds: float
    backoff: BackoffPolicy | None
    resume_after: float | None = None  # a file restarted: skip frames up to this pts
    motion: GateSettings | None = None  # run the motion gate here, on each frame handed over


_context: BaseContext | None = None
_context_lock = threading.Lock()
_main_lock = threading.Lock()


def _worker_context() -> BaseContext:
    """The fork server, started once, with the decoding modules already imported (fork
    from a process with threads and onnxruntime is unsafe; spawning each worker afresh
    costs memory and a second of start-up)."""
    global _context
    with _context_lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["onsight.ingest.worker"])
            _context = context
        return _context


@contextlib.contextmanager
def _main_not_reimported() -> Iterator[None]:
    """Start a worker without multiprocessing re-running the main module in it.

    By default each child (and the fork server) imports `__main__` again, which under
    `python -m onsight.cli` is the whole command line and web app: 20 MB more per camera.
    The worker needs none of it (its target lives in this module), so `__main__` looks
    like an interactive session while the child's start-up data is taken.
    """
    main = sys.modules["__main__"]
    saved: dict[str, Any] = {
        key: main.__dict__[key] for key in ("__spec__", "__file__") if key in main.__dict__
    }
    with _main_lock:
        main.__dict__["__spec__"] = None
        main.__dict__.pop("__file__", None)
        try:
            yield
        finally:
            main.__dict__.update(saved)


class ProcessSource:
    """A `VideoSource` in a supervised worker process; the same interface to the pipeline."""

    def __init__(
        self,
        camera: str,
        url: str,
        fps: float,
        *,
        width: int | None = None,
        open_timeout: float = 10.0,
        watchdog_seconds: float = 10.0,
        backoff: BackoffPolicy | None = None,
        stop: threading.Event | None = None,
        restart_backoff: BackoffPolicy | None = None,
        hang_seconds: float = 5.0,
        on_restart: Callable[[str, str], None] | None = None,
        motion: GateSettings | None = None,
    ) -> None:
        """`motion`: the worker runs the motion gate and each frame carries its reading."""
        VideoSource(camera, url, fps, width=width)  # validates the arguments here
        self.camera = camera
        self.kind = classify(url)
        self.fps = fps
        self.width = width
        self.stop_event = stop or threading.Event()
        self._spec = WorkerSpec(
            camera, url, fps, width, open_timeout, watchdog_seconds, backoff, motion=motion
        )
        self._secrets = url_secrets(url)
        self._restart_policy = restart_backoff or BackoffPolicy(initial=0.5, cap=10.0)
        self._hang_seconds = hang_seconds
        # One decoder call may take this long before a live camera's worker counts as hung
        # (its own watchdog ends a blocked read well before). A file's stuck decoder is the
        # runner's to give up on (`stuck_seconds`), as for a file decoded in-process.
        self._stuck_limit = 2 * watchdog_seconds + open_timeout if self.is_live else math.inf
        self._stuck = 0.0
        self._on_restart = on_restart
        self._lock = threading.Lock()
        self._stats = SourceStats()
        self._carried = SourceStats()  # the counts of workers that ended
        self.restarts = 0
        self.worker_pid: int | None = None  # the running worker's process id (tests, health)

    @property
    def url(self) -> str:
        return redact_url(self._spec.url)

    @property
    def is_live(self) -> bool:
        return self.kind != "file"

    @property
    def stats(self) -> SourceStats:
        with self._lock:
            return replace(self._stats)

    def stuck_seconds(self) -> float:
        """How long the worker's decoder has been inside one PyAV call, as it last said."""
        return self._stuck

    def redact(self, text: str) -> str:
        return redact_text(text, self._secrets)

    def __repr__(self) -> str:
        return f"ProcessSource(camera={self.camera!r}, url={self.url!r}, fps={self.fps})"

    def frames(self) -> Iterator[Frame]:
        return self._supervise()

    def _supervise(self) -> Generator[Frame, None, None]:
        backoff = Backoff(self._restart_policy)
        index, last_pts, offset = 0, None, 0.0
        last_frame_at: float | None = None  # monotonic time of the last frame handed on
        fruitless = 0  # restarts in a row without a new frame
        while not self.stop_event.is_set():
            resume = last_pts if not self.is_live else None
            try:
                worker = _Worker.start(replace(self._spec, resume_after=resume))
            except OSError as exc:  # no fork server, too many open files: try again later
                worker = None
                reason = f"cannot start a decoding worker: {exc.strerror or exc}"
                logger.warning("camera %r: %s", self.camera, reason)
            if worker is not None:
                self.worker_pid = worker.process.pid
                self._stuck = 0.0
                if last_frame_at is not None and last_pts is not None:
                    offset = last_pts + (time.monotonic() - last_frame_at)  # time went on
            try:
                if worker is None:
                    raise _NoWorker
                served = self._serve(worker)
                while True:
                    try:
                        frame = next(served)
                    except StopIteration as done:
                        outcome: Outcome = done.value
                        break
                    if self.is_live:
                        frame = replace(frame, pts=frame.pts + offset)
                    frame = replace(frame, index=index)
                    index, last_pts = index + 1, frame.pts
                    last_frame_at = time.monotonic()
                    backoff.reset()
                    fruitless = 0
                    yield frame
            except _NoWorker:
                outcome = "died"
            finally:
                if worker is not None:
                    worker.close()
            if outcome in ("end", "stopped"):
                return
            if worker is not None:
                self._carry(self.stats)
                reason = self._restarted(outcome, worker)
            fruitless += 1
            if not self.is_live and fruitless >= FILE_RESTARTS:
                where = "before the first frame" if last_pts is None else f"after {last_pts:.1f} s"
                raise SourceError(
                    f"camera {self.camera!r}: gave up on {self.url} {where}: {reason}, "
                    f"{fruitless} times in a row"
                )
            if self.stop_event.wait(backoff.next_delay()):
                return

    def _restarted(self, outcome: Outcome, worker: _Worker) -> str:
        code = worker.exitcode
        reason = (
            f"decoding worker exited (code {code})" if outcome == "died"
            else f"decoding worker hung (no progress for {self._hang_seconds:g} s)"
        )  # fmt: skip
        self.restarts += 1
        with self._lock:
            self._stats.connected = False
            self._stats.last_error = reason
        logger.warning("camera %r: %s; starting it again", self.camera, reason)
        if self._on_restart is not None:
            self._on_restart(self.camera, reason)
        return reason

    def _serve(self, worker: _Worker) -> Generator[Frame, None, Outcome]:
        """Frames from one worker until it ends, dies, hangs or we stop."""
        heard = time.monotonic()
        while True:
            if self.stop_event.is_set():
                worker.stop()
                return "stopped"
            message = worker.receive(0.25)
            now = time.monotonic()
            if message is None and not worker.process.is_alive():
                message = worker.receive(0.0)  # its last words ("end", "error") come first
            if message is None:
                if not worker.process.is_alive() or worker.closed_pipe:
                    return "died"
                if now - heard > self._hang_seconds:
                    worker.kill()
                    return "hung"
                continue
            heard = now
            kind = message[0]
            if kind == "frame":
                self._update(message[9])
                yield worker.take(message)
            elif kind == "need":
                worker.provide(message[1])
            elif kind == "stats":
                self._update(message[1])
                self._stuck = message[2]
                if self._stuck > self._stuck_limit:
                    worker.kill()
                    return "hung"
            elif kind == "log":
                logger.log(message[1], "%s", message[2])
            elif kind == "end":
                self._update(message[1])
                return "end"
            elif kind == "error":
                self._update(message[2])
                raise SourceError(message[1])

    def _update(self, stats: dict[str, Any]) -> None:
        """The running worker's counters, on top of those of the workers before it."""
        fresh = SourceStats(**stats)
        carried = self._carried
        with self._lock:
            self._stats = replace(
                fresh,
                frames_decoded=carried.frames_decoded + fresh.frames_decoded,
                frames_sampled=carried.frames_sampled + fresh.frames_sampled,
                reconnects=carried.reconnects + fresh.reconnects,
                decode_errors=carried.decode_errors + fresh.decode_errors,
            )

    def _carry(self, last: SourceStats) -> None:
        """A worker ended: its counts stay in the totals its successor adds to."""
        self._carried = replace(last)


class _Worker:
    """The main process's end of one worker: its process, pipe and shared frame slots."""

    def __init__(self, process: multiprocessing.process.BaseProcess, conn: Connection) -> None:
        self.process = process
        self._conn = conn
        self._memory: SharedMemory | None = None
        self._slot_bytes = 0
        self._generation = 0
        self.closed_pipe = False
        self.exitcode: int | None = None  # once closed

    @classmethod
    def start(cls, spec: WorkerSpec) -> _Worker:
        context = _worker_context()
        ours, theirs = context.Pipe(duplex=True)
        process = context.Process(  # type: ignore[attr-defined]
            target=_worker_main, args=(theirs, spec), name=f"onsight-decode-{spec.camera}",
            daemon=True,
        )  # fmt: skip
        with _main_not_reimported():
            process.start()
        theirs.close()
        return cls(process, ours)

    def receive(self, timeout: float) -> tuple[Any, ...] | None:
        if self.closed_pipe:
            time.sleep(timeout)
            return None
        try:
            if not self._conn.poll(timeout):
                return None
            message: tuple[Any, ...] = self._conn.recv()
            return message
        except (EOFError, OSError):
            self.closed_pipe = True
            return None

    def provide(self, nbytes: int) -> None:
        """New shared slots of `nbytes` each (the first frame, or a larger one)."""
        self._release()
        self._generation += 1
        self._memory = SharedMemory(create=True, size=SLOTS * nbytes)
        self._slot_bytes = nbytes
        self._send(("memory", self._memory.name, nbytes, self._generation))

    def take(self, message: tuple[Any, ...]) -> Frame:
        """Copy a frame out of its slot and give the slot back."""
        _, generation, slot, shape, pts, wall_time, camera, colorspace, motion, _ = message
        assert self._memory is not None and generation == self._generation
        image = np.ndarray(
            shape, np.uint8, buffer=self._memory.buf, offset=slot * self._slot_bytes
        ).copy()
        self._send(("free", generation, slot))
        return Frame(camera, 0, pts, image, wall_time, colorspace, _unpacked(motion))

    def stop(self) -> None:
        self._send(("stop",))
        self.process.join(_JOIN_SECONDS)
        if self.process.is_alive():
            self.kill()

    def kill(self) -> None:
        self.process.kill()
        self.process.join(_JOIN_SECONDS)

    def close(self) -> None:
        if self.process.is_alive():
            self.stop()
        self._conn.close()
        self._release()
        self.exitcode = self.process.exitcode
        if self.exitcode is not None:
            self.process.close()

    def _send(self, message: tuple[Any, ...]) -> None:
        # The worker may be gone: what it sent before is still read, up to the end of the
        # pipe (`closed_pipe`), so a failed send is not an end in itself.
        with contextlib.suppress(OSError, ValueError):
            self._conn.send(message)

    def _release(self) -> None:
        if self._memory is not None:
            self._memory.close()
            self._memory.unlink()
            self._memory = None


# ---- the worker process -----------------------------------------------------------


class _PipeLog(logging.Handler):
    """The worker's log records go to the main process's log."""

    def __init__(self, send: Callable[[tuple[Any, ...]], None]) -> None:
        super().__init__(logging.INFO)
        self._send = send

    def emit(self, record: logging.LogRecord) -> None:
        self._send(("log", record.levelno, record.getMessage()))


def _worker_main(conn: Connection, spec: WorkerSpec) -> None:
    """Decode one camera and hand its frames over; ends on "stop", at the end of a file,
    or with an "error" message."""
    # Ctrl-C and a service manager's SIGTERM to the whole group are the main process's to
    # handle: it stops its workers itself (or kills them).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    cv2.setNumThreads(1)  # one camera per process: a pool would only add coordination
    send_lock = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        with send_lock:
            conn.send(message)

    logging.getLogger().addHandler(_PipeLog(send))
    logging.getLogger().setLevel(logging.INFO)
    stop = threading.Event()
    source = VideoSource(
        spec.camera, spec.url, spec.fps, width=spec.width, open_timeout=spec.open_timeout,
        watchdog_seconds=spec.watchdog_seconds, backoff=spec.backoff, stop=stop,
    )  # fmt: skip
    inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
    threading.Thread(target=_listen, args=(conn, inbox, stop), daemon=True).start()
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(HEARTBEAT_SECONDS):
            send(("stats", asdict(source.stats), source.stuck_seconds()))

    threading.Thread(target=heartbeat, daemon=True).start()
    slots = _Slots(send, inbox, stop)
    gate = MotionGate(spec.motion) if spec.motion is not None else None
    try:
        for frame in source.frames():
            if spec.resume_after is not None and frame.pts <= spec.resume_after:
                continue
            handed = slots.put(frame, gate, wait=not source.is_live, stats=asdict(source.stats))
            if not handed and stop.is_set():
                break
        send(("end", asdict(source.stats)))
    except SourceError as exc:
        send(("error", str(exc), asdict(source.stats)))
    finally:
        done.set()
        slots.close()


def _listen(
    conn: Connection, inbox: queue.SimpleQueue[tuple[Any, ...]], stop: threading.Event
) -> None:
    """Messages from the main process; a closed pipe (it died) stops the worker too."""
    while True:
        try:
            message: tuple[Any, ...] = conn.recv()
        except (EOFError, OSError):
            message = ("stop",)
        if message[0] == "stop":
            stop.set()
            inbox.put(("stop",))
            return
        inbox.put(message)


# A gate reading through the pipe: (moving, first, changed mask's shape, its bits) or None.
_PackedReading = tuple[bool, bool, tuple[int, ...] | None, bytes] | None


def _packed(reading: MotionReading | None) -> _PackedReading:
    if reading is None:
        return None
    changed = reading.changed
    if changed is None:
        return reading.moving, reading.first, None, b""
    return reading.moving, reading.first, changed.shape, np.packbits(changed).tobytes()


def _unpacked(packed: _PackedReading) -> MotionReading | None:
    if packed is None:
        return None
    moving, first, shape, bits = packed
    if shape is None:
        return MotionReading(moving, None, first)
    count = math.prod(shape)
    flat = np.unpackbits(np.frombuffer(bits, np.uint8), count=count).astype(bool)
    return MotionReading(moving, flat.reshape(shape), first)


class _Slots:
    """The worker's side of the shared frame slots."""

    def __init__(
        self,
        send: Callable[[tuple[Any, ...]], None],
        inbox: queue.SimpleQueue[tuple[Any, ...]],
        stop: threading.Event,
    ) -> None:
        self._send, self._inbox, self._stop = send, inbox, stop
        self._memory: SharedMemory | None = None
        self._slot_bytes = 0
        self._generation = 0
        self._free: list[int] = []

    def put(
        self, frame: Frame, gate: MotionGate | None, wait: bool, stats: dict[str, Any]
    ) -> bool:
        """Hand `frame` over, with the gate's reading (the gate reads only the frames handed
        over, as the pipeline's would) and the source's counters; False when it was dropped
        (no free slot, not waiting) or the worker is stopping."""
        if self._stop.is_set():
            return False
        image = np.ascontiguousarray(frame.pixels)  # I420 or BGR, as decoded
        too_small = self._memory is None or image.nbytes > self._slot_bytes
        if too_small and not self._attach(image.nbytes):
            return False
        self._collect(block=wait)
        if not self._free:
            return False
        slot = self._free.pop()
        motion = gate.read(frame) if gate is not None else None
        assert self._memory is not None
        offset = slot * self._slot_bytes
        view = np.ndarray(image.shape, np.uint8, buffer=self._memory.buf, offset=offset)
        view[...] = image
        del view  # no view may outlive the memory
        shape, generation = image.shape, self._generation
        message = (
            "frame", generation, slot, shape, frame.pts, frame.wall_time, frame.camera,
            frame.colorspace, _packed(motion),
        )  # fmt: skip
        self._send((*message, stats))
        return True

    def _attach(self, nbytes: int) -> bool:
        self.close()
        self._send(("need", nbytes))
        while True:
            message = self._inbox.get()
            if message[0] == "stop":
                self._stop.set()
                self._inbox.put(message)
                return False
            if message[0] == "memory":
                _, name, size, generation = message
                # Workers share the main process's resource tracker: the main process
                # unlinks this memory (the tracker does only if the main process is killed).
                self._memory = SharedMemory(name=name)
                self._slot_bytes, self._generation = size, generation
                self._free = list(range(SLOTS))
                return True

    def _collect(self, block: bool) -> None:
        """Take back the slots the main process has freed; with `block`, wait for one."""
        while True:
            try:
                message = self._inbox.get(block=block and not self._free)
            except queue.Empty:
                return
            if message[0] == "stop":
                self._stop.set()
                self._inbox.put(message)  # for any later wait: nothing else will come
                return
            if message[0] == "free" and message[1] == self._generation:
                self._free.append(message[2])

    def close(self) -> None:
        if self._memory is not None:
            self._memory.close()
            self._memory = None
