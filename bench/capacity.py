"""`make bench-capacity`: how many live cameras `onsight run` keeps in real time on this box.

For each workload, N cameras read live RTSP streams served on 127.0.0.1 at real-time pace by
the repo's test server (tests/integration/rtsp_server.py), run in a separate process whose CPU
is measured on its own. A trial starts `onsight run` on a config of N cameras (fps 5, one
counting line), waits until every camera analyses frames plus a warm-up, then measures over a
window: the box's CPU busy share (/proc/stat; headroom = 1 - busy), the CPU of onsight's
process tree (main process and its per-camera decoding workers) and of the server, the peak
RSS of the tree (USS/PSS at the end), and each camera's analysed frames per second from
`onsight run`'s periodic progress lines (cross-checked with its `--summary` after SIGTERM).
A count passes when every camera analyses >= 95% of 5 fps and headroom >= 15%. N is searched
upward (4, 8, 16, 24, ... step 8) to the first failure, then bisected.

Workloads: "busy" (every camera shows vtest_480x360.avi, people walking all the time) and
"day" (bench/day.py's camera day: a still, noisy, slowly relit corridor with vtest spliced
in for 10% of the time). The day clip is served in several phases (the clip rotated to start
at different keyframes), cameras spread over them, so their busy spells do not coincide.
"mix" alternates the two: half the cameras busy, half camera-day (the issue's "32 cameras,
16 busy and 16 mostly idle"). Results go to bench/capacity.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from unittest import mock

import psutil
import yaml

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
if str(REPO) not in sys.path:  # `python bench/capacity.py` puts only bench/ on the path
    sys.path.insert(0, str(REPO))

from day import build_day, source_path, standard_day  # noqa: E402
from machine import cpu_model  # noqa: E402

from tests.integration.rtsp_server import AccessUnit, H264Clip, RtspServer  # noqa: E402

FPS = 5
REAL_TIME = 0.95  # a camera keeps real time at >= 95% of FPS
MIN_HEADROOM = 0.15
LINE = [[0.45, 0.25], [0.45, 1.0]]
PROGRESS = re.compile(r"^(\S+): (\d+) frames, ([\d.]+) fps")
START_TIMEOUT = 180.0  # seconds for every camera to analyse its first frame


# -- the RTSP server, in its own process ------------------------------------------------


def rotated(clip: H264Clip, start: int) -> H264Clip:
    """`clip` played from access unit `start` (a keyframe) round to its start again."""
    d0 = clip.units[start].dts
    head = [AccessUnit(u.dts - d0, u.pts - d0, u.nals) for u in clip.units[start:]]
    shift = clip.duration - d0
    tail = [AccessUnit(u.dts + shift, u.pts + shift, u.nals) for u in clip.units[:start]]
    return H264Clip(tuple(head + tail), clip.sps, clip.pps, clip.duration)


def phase_starts(clip: H264Clip, phases: int) -> list[int]:
    """Up to `phases` IDR access units, spread as evenly over the clip as its keyframes allow."""
    idr = [i for i, u in enumerate(clip.units) if any(n[0] & 0x1F == 5 for n in u.nals)]
    if not idr or phases <= 1:
        return [0]
    chosen: list[int] = []
    for j in range(phases):
        target = j * clip.duration / phases
        best = min(idr, key=lambda i: abs(clip.units[i].dts - target))
        if best not in chosen:
            chosen.append(best)
    return chosen


def serve(video: Path, phases: int) -> None:
    """Child process: one server per phase of `video`; print their URLs and start offsets as
    JSON; serve until stdin closes (or SIGTERM)."""
    base = H264Clip.load(video)
    servers = []
    starts = phase_starts(base, phases)
    for k, start in enumerate(starts):
        # Every phase shares the demuxed clip (and its NAL bytes): no second read of the file.
        with mock.patch.object(H264Clip, "load", return_value=rotated(base, start)):
            servers.append(RtspServer(video, path=f"phase{k}"))
    for server in servers:
        server.start()
    offsets = [round(base.units[i].dts, 1) for i in starts]
    print(json.dumps({"urls": [s.url() for s in servers], "offsets": offsets}), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: os.close(sys.stdin.fileno()))
    with suppress(OSError, ValueError):
        sys.stdin.read()
    for server in servers:
        server.stop()


@contextmanager
def server_process(
    video: Path, phases: int
) -> Iterator[tuple[psutil.Process, list[str], list[float]]]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", str(video)]
    proc = subprocess.Popen(
        [*cmd, "--phases", str(phases)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the RTSP server process exited before serving")
        served = json.loads(line)
        yield psutil.Process(proc.pid), list(served["urls"]), list(served["offsets"])
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- measuring ---------------------------------------------------------------------------


def proc_stat() -> tuple[int, int]:
    """(busy, total) jiffies of the whole box; iowait counts as idle."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    total = sum(fields[:8])  # user .. steal (guest time is already in user)
    return total - idle, total


def tree(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return []


class TreeCpu:
    """CPU seconds of a process tree between `start()` and `stop()`, children that come and
    go included (each is counted from its first sighting)."""

    def __init__(self, proc: psutil.Process) -> None:
        self.proc = proc
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}

    def sample(self) -> None:
        for p in tree(self.proc):
            try:
                t = p.cpu_times()
            except psutil.Error:
                continue
            used = t.user + t.system
            self.first.setdefault(p.pid, used)
            self.last[p.pid] = used

    def seconds(self) -> float:
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


def rss_mb(proc: psutil.Process) -> float:
    total = 0
    for p in tree(proc):
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total / 2**20


def uss_pss_mb(proc: psutil.Process) -> tuple[float, float]:
    uss = pss = 0
    for p in tree(proc):
        try:
            info = p.memory_full_info()
        except psutil.Error:
            continue
        uss += info.uss
        pss += getattr(info, "pss", 0)
    return uss / 2**20, pss / 2**20


@dataclass
class Progress:
    """`onsight run`'s progress lines on stderr (one per camera every ~5 s when piped)."""

    samples: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    tail: list[str] = field(default_factory=list)

    def read(self, stream: IO[str]) -> None:
        for line in stream:
            now = time.monotonic()
            match = PROGRESS.match(line)
            if match:
                self.samples.setdefault(match[1], []).append((now, int(match[2])))
            else:
                self.tail = [*self.tail[-40:], line.rstrip()]

    def started(self, names: list[str]) -> bool:
        return all(self.samples.get(n) and self.samples[n][-1][1] > 0 for n in names)

    def rate(self, name: str, t0: float, t1: float) -> tuple[float, float, int] | None:
        """Frames per second between the first and last sample in [t0, t1]; the first sample
        (time, frames) too."""
        inside = [s for s in self.samples.get(name, []) if t0 <= s[0] <= t1]
        if len(inside) < 2:
            return None
        (ta, fa), (tb, fb) = inside[0], inside[-1]
        return (fb - fa) / (tb - ta), ta, fa


def write_config(folder: Path, urls: list[str], n: int, region: bool = True) -> Path:
    """`region`: the cameras' detection region (their one line covers half the frame)."""
    cameras = [
        {
            "name": f"cam{i:03d}",
            "url": urls[i % len(urls)],
            "fps": FPS,
            "lines": [{"name": "path", "points": LINE}],
            "detection_region": region,
        }
        for i in range(n)
    ]
    config = folder / "site.yaml"
    config.write_text(yaml.safe_dump({"site": "capacity", "cameras": cameras}), encoding="utf-8")
    return config


def trial(
    n: int, urls: list[str], servers: list[psutil.Process], args: argparse.Namespace
) -> dict[str, Any]:
    cores = psutil.cpu_count() or 1
    names = [f"cam{i:03d}" for i in range(n)]
    with tempfile.TemporaryDirectory(prefix="onsight-capacity-") as tmp:
        folder = Path(tmp)
        config = write_config(folder, urls, n, region=not args.whole_frame)
        summary_path = folder / "summary.json"
        env = {**os.environ, "COLUMNS": "400"}  # rich: one progress line per camera, unwrapped
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "onsight.cli",
                "run",
                str(config),
                "--summary",
                str(summary_path),
            ],
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        progress = Progress()
        reader = threading.Thread(target=progress.read, args=(proc.stderr,), daemon=True)
        reader.start()
        onsight = psutil.Process(proc.pid)
        result: dict[str, Any] = {"cameras": n}
        try:
            began = time.monotonic()
            while not progress.started(names):
                if proc.poll() is not None or time.monotonic() - began > START_TIMEOUT:
                    break
                time.sleep(0.5)
            result["start_seconds"] = round(time.monotonic() - began, 1)
            if not progress.started(names):
                result["error"] = "not every camera started: " + " | ".join(progress.tail[-5:])
            else:
                time.sleep(args.warmup)
                result.update(measure(proc, onsight, servers, progress, names, args, cores))
        finally:
            stopped = time.monotonic()
            if proc.poll() is None:
                # SIGTERM, which `onsight run` handles as Ctrl-C: a bench started in the
                # background of a non-interactive shell passes SIGINT on ignored.
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                result.setdefault("error", "onsight did not stop within 90 s of SIGTERM")
            reader.join(timeout=5)
        if summary_path.exists():
            summary = json.loads(summary_path.read_text())
            cross_check(result, summary, progress, names, stopped)
        elif "error" not in result:
            result["error"] = "no summary written: " + " | ".join(progress.tail[-5:])
    fps_ok = result.get("fps_min", 0.0) >= REAL_TIME * FPS
    headroom_ok = result.get("headroom", 0.0) >= MIN_HEADROOM
    result["pass"] = bool(fps_ok and headroom_ok and "error" not in result)
    return result


def measure(
    proc: subprocess.Popen[str],
    onsight: psutil.Process,
    servers: list[psutil.Process],
    progress: Progress,
    names: list[str],
    args: argparse.Namespace,
    cores: int,
) -> dict[str, Any]:
    ours, theirs = TreeCpu(onsight), [TreeCpu(server) for server in servers]
    ours.sample()
    for each in theirs:
        each.sample()
    busy0, total0 = proc_stat()
    t0 = time.monotonic()
    peak_rss = rss_mb(onsight)
    while time.monotonic() - t0 < args.window and proc.poll() is None:
        time.sleep(1.0)
        peak_rss = max(peak_rss, rss_mb(onsight))
        ours.sample()  # children that appear mid-window are counted from here
    ours.sample()
    for each in theirs:
        each.sample()
    served = sum(each.seconds() for each in theirs)
    busy1, total1 = proc_stat()
    t1 = time.monotonic()
    uss, pss = uss_pss_mb(onsight)
    if proc.poll() is not None:
        return {"error": "onsight exited during the window: " + " | ".join(progress.tail[-5:])}
    elapsed = t1 - t0
    rates = {}
    for name in names:
        rate = progress.rate(name, t0, t1)
        rates[name] = round(rate[0], 3) if rate else 0.0
    fps = sorted(rates.values())
    busy = (busy1 - busy0) / max(1, total1 - total0)
    return {
        "window_seconds": round(elapsed, 1),
        "fps_min": fps[0],
        "fps_median": round(statistics.median(fps), 3),
        "slowest_camera": min(rates, key=lambda k: rates[k]),
        "headroom": round(1.0 - busy, 3),
        "onsight_cpu_share": round(ours.seconds() / (elapsed * cores), 3),
        "server_cpu_share": round(served / (elapsed * cores), 3),
        "server_cpu_of_one_core": round(served / elapsed, 3),
        "rss_mb": round(peak_rss, 1),
        "uss_mb": round(uss, 1),
        "pss_mb": round(pss, 1),
        "_t0": t0,
    }


def cross_check(
    result: dict[str, Any],
    summary: dict[str, Any],
    progress: Progress,
    names: list[str],
    stopped: float,
) -> None:
    """Frames per second from the summary's final counts (SIGTERM at `stopped`) back to each
    camera's first progress sample in the window."""
    cameras = summary.get("cameras", {})
    errors = summary.get("errors", {})
    if errors:
        result.setdefault("error", f"cameras failed: {errors}")
    t0 = result.pop("_t0", None)
    if t0 is None:
        return
    rates = []
    for name in names:
        first = progress.rate(name, t0, stopped)
        frames = cameras.get(name, {}).get("frames")
        if first is None or frames is None:
            rates.append(0.0)
            continue
        _, ta, fa = first
        rates.append((frames - fa) / (stopped - ta))
    result["summary_fps_min"] = round(min(rates), 3)
    result["summary_frames_total"] = sum(c.get("frames", 0) for c in cameras.values())


# -- the search --------------------------------------------------------------------------


def ladder(start: int, maximum: int) -> list[int]:
    steps = [n for n in (4, 8, 16) if n >= start] or [start]
    n = 24
    while n <= maximum:
        if n > steps[-1]:
            steps.append(n)
        n += 8
    return [s for s in steps if s <= maximum] or [maximum]


def search(
    name: str, urls: list[str], servers: list[psutil.Process], args: argparse.Namespace
) -> dict[str, Any]:
    trials: dict[int, dict[str, Any]] = {}

    def run(n: int) -> bool:
        print(f"[{name}] {n} cameras: warming up...", flush=True)
        result = trial(n, urls, servers, args)
        trials[n] = result
        verdict = "PASS" if result["pass"] else "FAIL"
        if "error" in result:
            print(f"[{name}] {n} cameras: {verdict}: {result['error']}", flush=True)
        else:
            print(
                f"[{name}] {n} cameras: {verdict} fps min/median {result['fps_min']:.2f}/"
                f"{result['fps_median']:.2f}, headroom {result['headroom']:.0%}, "
                f"onsight {result['onsight_cpu_share']:.0%}, "
                f"server {result['server_cpu_share']:.0%} of the box, "
                f"rss {result['rss_mb']:.0f} MB",
                flush=True,
            )
        time.sleep(args.cooldown)
        return bool(result["pass"])

    passed, failed = 0, None
    for n in ladder(args.start, args.max):
        if run(n):
            passed = n
        else:
            failed = n
            break
    if failed is not None:
        while failed - passed > 1:
            mid = (passed + failed) // 2
            if run(mid):
                passed = mid
            else:
                failed = mid
    ok = sorted(t for t in trials if "error" not in trials[t] and "rss_mb" in trials[t])
    per_camera = None
    if len(ok) >= 2:
        lo, hi = trials[ok[0]], trials[ok[-1]]
        per_camera = round((hi["rss_mb"] - lo["rss_mb"]) / (ok[-1] - ok[0]), 1)
    return {
        "max_cameras": passed,
        "first_failure": failed,
        "search_capped_at_max": failed is None,
        "rss_mb_per_camera": per_camera,
        "trials": [trials[n] for n in sorted(trials)],
    }


def workload_clips(
    name: str, folder: Path, args: argparse.Namespace
) -> tuple[list[tuple[Path, int]], dict[str, Any]]:
    """The (clip, phases) a workload serves, and its description. "mix" serves both clips,
    and its cameras alternate between them: half busy, half camera-day."""
    if name == "busy":
        return [(source_path(), 1)], {"clip": source_path().name, "phases": 1}
    if name in ("day", "mix"):
        plan = standard_day(minutes=args.day_seconds / 60, busy_share=0.10, spells=args.day_spells)
        day = folder / "day.mp4"
        if not day.exists():
            print(f"[{name}] building a {args.day_seconds:.0f} s camera day...", flush=True)
            build_day(day, plan)
        about: dict[str, Any] = {"clip": "bench/day.py build_day", "plan": plan.proportions()}
        if name == "day":
            return [(day, args.phases)], about
        about = {"busy": source_path().name, "day": about, "cameras": "alternate busy / day"}
        return [(source_path(), 1), (day, args.phases)], about
    raise SystemExit(f"unknown workload {name!r} (busy, day, mix)")


def camera_urls(served: list[list[str]]) -> list[str]:
    """Camera i's stream is entry i (mod the length): each served clip in turn, and within a
    clip each of its phases in turn."""
    rounds = max(len(urls) for urls in served)
    return [urls[k % len(urls)] for k in range(rounds) for urls in served]


METHOD = (
    "Each workload's clip is served as live RTSP (RTP over TCP, real-time pace, looped) on "
    "127.0.0.1 by tests/integration/rtsp_server.py in a separate process; the day clip is served "
    "in several phases (rotated to start at different keyframes, cameras spread over them) so "
    "busy spells do not coincide. A trial runs `python -m onsight.cli run CONFIG --summary` on N "
    "cameras (fps 5, one counting line), waits until every camera has analysed a frame, then "
    "the warm-up, then measures over the window: box CPU busy share from /proc/stat (headroom = "
    "1 - busy, iowait counted as idle), CPU seconds of onsight's process tree (main process and "
    "per-camera decoding workers) and of the server process as shares of all cores, peak RSS "
    "summed over onsight's tree (USS/PSS at the window's end), and each camera's analysed "
    "frames per second from onsight's progress lines (printed every ~5 s on stderr); then "
    "SIGTERM, and the --summary frame counts give a second per-camera rate (summary_fps_min). "
    "N passes when every camera analyses >= 95% of 5 fps and headroom >= 15% (the server's CPU "
    "counts against the headroom: on a real site it runs elsewhere). Search: 4, 8, 16, 24, ... "
    "(step 8) up to --max until the first failure, then bisection. rss_mb_per_camera is the "
    "RSS slope between the smallest and largest N measured."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--window", type=float, default=40.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds after all started")
    parser.add_argument("--max", type=int, default=64, help="most cameras tried")
    parser.add_argument("--start", type=int, default=4, help="first camera count tried")
    parser.add_argument(
        "--workloads", default="busy,day,mix", help="comma-separated: busy, day, mix"
    )
    parser.add_argument(
        "--whole-frame",
        action="store_true",
        help="detect in the whole frame (detection_region: false); by default the one line "
        "gives each camera a region of half the frame",
    )
    parser.add_argument("--cooldown", type=float, default=3.0, help="seconds between trials")
    parser.add_argument("--day-seconds", type=float, default=200.0, help="one loop of the day")
    parser.add_argument("--day-spells", type=int, default=4, help="busy spells per day loop")
    parser.add_argument("--phases", type=int, default=8, help="day clip phases served")
    parser.add_argument("--out", type=Path, default=ROOT / "capacity.json")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.phases)
        return
    cores = psutil.cpu_count() or 1
    report: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "cores": cores,
        "fps": FPS,
        "pass_rule": {"fps_at_least": REAL_TIME * FPS, "headroom_at_least": MIN_HEADROOM},
        "window_seconds": args.window,
        "warmup_seconds": args.warmup,
        "detection_region": not args.whole_frame,
        "method": METHOD,
        "workloads": {},
    }
    busy0, total0 = proc_stat()
    time.sleep(3.0)
    busy1, total1 = proc_stat()
    report["busy_before_start"] = round((busy1 - busy0) / max(1, total1 - total0), 3)
    print(
        f"{report['cpu_model']}, {cores} cores; window {args.window:.0f} s; "
        f"box {report['busy_before_start']:.0%} busy before start",
        flush=True,
    )
    if report["busy_before_start"] > 0.05:
        print("warning: the box is not idle; headroom (and so capacity) will read low", flush=True)
    with tempfile.TemporaryDirectory(prefix="onsight-capacity-clips-") as tmp:
        for name in [w.strip() for w in args.workloads.split(",") if w.strip()]:
            clips, about = workload_clips(name, Path(tmp), args)
            with ExitStack() as stack:
                started = [stack.enter_context(server_process(*clip)) for clip in clips]
                servers = [server for server, _, _ in started]
                urls = camera_urls([served for _, served, _ in started])
                about["streams"] = len(set(urls))
                # where in its clip each phase starts
                about["stream_start_seconds"] = [offsets for _, _, offsets in started]
                print(f"[{name}] serving {len(set(urls))} stream(s): {', '.join(urls)}", flush=True)
                found = search(name, urls, servers, args)
            report["workloads"][name] = {**about, **found}
            print(f"[{name}] max cameras in real time: {found['max_cameras']}", flush=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
