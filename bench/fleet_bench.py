"""`make bench-fleet`: simulated sites -> mosquitto -> one `onsight fleet serve --no-web` ->
PostgreSQL, all on loopback, with the integration tests' real servers.

N publisher processes (one per simulated site, paho, QoS 1, as a site's MQTT sink publishes)
send a mix of real events (line crossings, zone minutes, queue minutes) made with
`to_message`. The ingester is the real CLI in its own process. Measured:

- events/s stored: PostgreSQL row counts polled every 0.1 s, from the first poll that sees a
  row to the one that sees the last (and the per-second rates in between);
- CPU seconds per 1,000 events of the ingester, of PostgreSQL (postmaster and backends) and
  of mosquitto, from the moment publishing starts to the last event stored;
- that every event sent is stored exactly once (the stored ids are the sent ids).

`--ingester inproc` runs the `Ingester` class in a child process instead of the CLI, which
also reports its batch count (so the mean batch size). Everything shares the machine's cores
(publishers too), so the absolute figures are for this machine; the CPU is named beside them.
The test PostgreSQL runs with fsync and synchronous_commit off (tests/integration/postgres.py).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
if str(REPO) not in sys.path:  # `python bench/fleet_bench.py` puts only bench/ on the path
    sys.path.insert(0, str(REPO))

import paho.mqtt.client as paho  # noqa: E402
import psutil  # noqa: E402
import psycopg  # noqa: E402
from machine import cpu_model  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from onsight.apps.queue import QueueMinute  # noqa: E402
from onsight.events.payloads import to_message  # noqa: E402
from onsight.types import Event, LineCrossing, ZoneMinute  # noqa: E402
from tests.integration.mosquitto import HOST, Mosquitto  # noqa: E402
from tests.integration.postgres import PASSWORD, USER, Postgres  # noqa: E402

PREFIX = "onsight"
TABLES = ("crossings", "zone_minutes", "queue_minutes")
TARGET = 2000.0  # events/s the issue asks of one ingester
# mosquitto keeps at most this many QoS 1 messages queued per client beyond those in flight,
# and silently drops the rest (its default is 1000): a burst the ingester is behind on by more
# is lost at the broker, acknowledged to the site all the same. A fleet broker needs it raised.
BROKER_QUEUE = 1_000_000


# -- the sites ---------------------------------------------------------------------------------


def site_events(site: str, count: int) -> list[Event]:
    """A site's events: 80% crossings, 10% zone minutes, 10% queue minutes, over 4 cameras,
    in the last few hours (so every event lands in this month's or last month's partition)."""
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)
    events: list[Event] = []
    for i in range(count):
        camera = f"{site}-cam-{i % 4}"
        when = start + timedelta(milliseconds=150 * i)
        minute = when.replace(second=0, microsecond=0)
        kind = i % 10
        if kind < 8:
            line = ("door", "till", "aisle")[i % 3]
            events.append(LineCrossing(when, camera, line, "in" if i % 2 else "out", "person"))
        elif kind == 8:
            events.append(ZoneMinute(minute, camera, "hall", "person", (i % 70) / 10, i % 9, 600))
        else:
            events.append(QueueMinute(minute, camera, "till-queue", (i % 50) / 10, i % 7, 600))
    return events


def publish_site(
    site: str,
    count: int,
    port: int,
    rate: float,
    inflight: int,
    ready: EventType,
    go: EventType,
    results: mp.Queue[dict[str, Any]],
) -> None:
    """One simulated site (a child process): connect, say online, wait for `go`, publish every
    event at QoS 1 (paced to `rate` events/s, or as fast as acks allow), wait for every ack."""
    messages = []
    ids = []
    for event in site_events(site, count):
        message = to_message(event)
        messages.append((message.topic(PREFIX, site), message.encoded(), message.retain))
        ids.append(event.event_id)
    acked = 0
    done = threading.Event()
    lock = threading.Lock()

    def on_publish(_c: paho.Client, _u: Any, _mid: int, _r: Any, _p: Any) -> None:
        nonlocal acked
        with lock:
            acked += 1
            if acked >= count + 1:  # + the status message
                done.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{site}")
    client.max_inflight_messages_set(inflight)
    client.max_queued_messages_set(0)
    client.will_set(f"{PREFIX}/{site}/status", "offline", qos=1, retain=True)
    client.on_publish = on_publish
    client.connect(HOST, port)
    client.loop_start()
    client.publish(f"{PREFIX}/{site}/status", "online", qos=1, retain=True)
    ready.set()
    go.wait()
    cpu0 = time.process_time()
    started = time.monotonic()
    for i, (topic, payload, retain) in enumerate(messages):
        if rate > 0 and i % 20 == 0:
            ahead = started + i / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        client.publish(topic, payload, qos=1, retain=retain)
    all_acked = done.wait(600)
    finished = time.monotonic()
    client.loop_stop()
    client.disconnect()
    results.put(
        {
            "site": site,
            "sent": count,
            "acked": acked - 1,
            "all_acked": all_acked,
            "started": started,
            "finished": finished,
            "cpu_s": time.process_time() - cpu0,
            "ids": ids,
        }
    )


# -- the ingester ------------------------------------------------------------------------------


def run_inproc(port: int, url: str, stop: EventType, results: mp.Queue[dict[str, Any]]) -> None:
    """The `Ingester` class in a child process, as `onsight fleet serve` runs it, reporting its
    stats when stopped."""
    from onsight.fleet.ingest import Broker, Ingester
    from onsight.fleet.schema import FleetDatabase

    database = FleetDatabase(url)
    database.migrate()
    ingester = Ingester(Broker(HOST, port), database, client_id="bench-ingester")
    stopping = threading.Event()
    thread = threading.Thread(target=ingester.run, args=(stopping,), daemon=True)
    thread.start()
    stop.wait()
    stopping.set()
    thread.join(30)
    database.close()
    stats = ingester.stats
    results.put(
        {
            "received": stats.received,
            "stored": stats.stored,
            "duplicates": stats.duplicates,
            "dead_lettered": stats.dead_lettered,
            "batches": stats.batches,
            "database_outages": stats.database_outages,
        }
    )


class CliIngester:
    """`onsight fleet serve --no-web` as a subprocess."""

    def __init__(self, port: int, database: str, workdir: Path) -> None:
        self.log_path = workdir / "ingester.log"
        onsight = Path(sys.executable).parent / "onsight"
        env = os.environ | {"PGPASSWORD": PASSWORD}
        args = [
            str(onsight), "fleet", "serve", "--no-web", "-v",
            "--mqtt", f"mqtt://{HOST}:{port}",
            "--database", database,
            "--client-id", "bench-ingester",
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env
            )
        self.pid = self.process.pid

    def stop(self) -> dict[str, Any]:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        log = self.log_path.read_text(encoding="utf-8", errors="replace")
        found: dict[str, Any] = {"exit_code": self.process.returncode}
        for line in log.splitlines():
            if line.startswith("stopped:"):
                # "stopped: N events stored, D duplicates, X dead-lettered"
                words = line.replace(",", "").split()
                found |= {"stored": int(words[1]), "duplicates": int(words[4]),
                          "dead_lettered": int(words[6])}  # fmt: skip
        errors = [line for line in log.splitlines() if " ERROR " in line or "Traceback" in line]
        found["log_errors"] = errors[:5]
        return found


# -- measuring ---------------------------------------------------------------------------------


def cpu_seconds(pid: int, tree: bool = False) -> dict[int, float]:
    """CPU seconds (user + system) of a process, and of its descendants with `tree`."""
    found: dict[int, float] = {}
    try:
        root = psutil.Process(pid)
        processes = [root, *(root.children(recursive=True) if tree else [])]
    except psutil.NoSuchProcess:
        return found
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        found[process.pid] = times.user + times.system
    return found


def used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two snapshots (a process that appeared in between counts whole)."""
    return sum(after[pid] - before.get(pid, 0.0) for pid in after)


def stored_count(conn: psycopg.Connection[tuple[Any, ...]]) -> int:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM crossings) + (SELECT count(*) FROM zone_minutes) "
        "+ (SELECT count(*) FROM queue_minutes)"
    ).fetchone()
    return int(row[0]) if row else 0


def wait_for(condition: Any, what: str, timeout: float = 60.0) -> None:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        if condition():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def one_run(
    postgres: Postgres, workdir: Path, args: argparse.Namespace, number: int
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    broker = Mosquitto(workdir / f"broker-{number}", max_queued=args.broker_queue or None)
    broker.start()
    name = f"fleet_bench_{uuid.uuid4().hex[:12]}"
    admin_url = postgres.create_database(name)
    database = f"postgresql://{USER}@{HOST}:{postgres.port}/{name}"
    per_site = args.events // args.sites
    total = per_site * args.sites
    results: mp.Queue[dict[str, Any]] = ctx.Queue()
    inproc_results: mp.Queue[dict[str, Any]] = ctx.Queue()
    go = ctx.Event()
    readies = [ctx.Event() for _ in range(args.sites)]
    site_rate = args.rate / args.sites if args.rate > 0 else 0.0
    publishers = [
        ctx.Process(
            target=publish_site,
            args=(
                f"site-{i + 1:02d}",
                per_site,
                broker.port,
                site_rate,
                args.inflight,
                readies[i],
                go,
                results,
            ),
            daemon=True,
        )
        for i in range(args.sites)
    ]
    for publisher in publishers:
        publisher.start()
    stop_inproc = ctx.Event()
    cli: CliIngester | None = None
    inproc: Any = None
    if args.ingester == "cli":
        cli = CliIngester(broker.port, database, workdir)
        ingester_pid = cli.pid
    else:
        inproc = ctx.Process(
            target=run_inproc, args=(broker.port, admin_url, stop_inproc, inproc_results)
        )
        inproc.start()
        ingester_pid = int(inproc.pid or 0)
    conn = psycopg.connect(admin_url, autocommit=True)
    try:
        # Subscribed when a probe status it is sent reaches the sites table.
        def migrated() -> bool:
            row = conn.execute("SELECT to_regclass('queue_minutes') IS NOT NULL").fetchone()
            return bool(row and row[0])

        wait_for(migrated, "the ingester's migrations")
        probe = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{number}")
        probe.connect(HOST, broker.port)
        probe.loop_start()

        def subscribed() -> bool:
            probe.publish(f"{PREFIX}/bench-probe/status", "online", qos=1).wait_for_publish(5)
            time.sleep(0.2)
            found = conn.execute("SELECT 1 FROM sites WHERE site = 'bench-probe'").fetchone()
            return found is not None

        wait_for(subscribed, "the ingester to subscribe")
        probe.loop_stop()
        probe.disconnect()
        for ready in readies:
            if not ready.wait(60):
                raise RuntimeError("a publisher did not connect")
        assert postgres._process is not None and broker._process is not None
        postgres_pid, broker_pid = postgres._process.pid, broker._process.pid
        before = (cpu_seconds(ingester_pid), cpu_seconds(postgres_pid, tree=True),
                  cpu_seconds(broker_pid))  # fmt: skip
        go.set()
        t_go = time.monotonic()
        polls: list[tuple[float, int]] = []
        after = before
        last_change = t_go
        while True:
            now = time.monotonic()
            count = stored_count(conn)
            if not polls or count != polls[-1][1]:
                last_change = now
            polls.append((now, count))
            if count >= total:
                after = (cpu_seconds(ingester_pid), cpu_seconds(postgres_pid, tree=True),
                         cpu_seconds(broker_pid))  # fmt: skip
                break
            if now - last_change > args.stall:
                after = (cpu_seconds(ingester_pid), cpu_seconds(postgres_pid, tree=True),
                         cpu_seconds(broker_pid))  # fmt: skip
                break
            time.sleep(0.1)
        sites = [results.get(timeout=120) for _ in publishers]
        for publisher in publishers:
            publisher.join(30)
        # exactly once, by id
        sent_ids = [i for site in sites for i in site["ids"]]
        stored_ids: list[str] = []
        for table in TABLES:
            rows = conn.execute(f"SELECT id::text FROM {table}").fetchall()
            stored_ids += [str(row[0]) for row in rows]
        dead = conn.execute("SELECT count(*) FROM dead_letters").fetchone()
    finally:
        conn.close()
        if cli is not None:
            ingester_report = cli.stop()
        else:
            stop_inproc.set()
            try:
                ingester_report = inproc_results.get(timeout=60)
            except Exception:  # the child died: its stats are lost
                ingester_report = {"error": "no stats from the in-process ingester"}
            inproc.join(30)
        for publisher in publishers:
            if publisher.is_alive():
                publisher.terminate()
        broker.stop()
    first = next((i for i, (_, n) in enumerate(polls) if n > 0), None)
    most = max(n for _, n in polls)  # all of them, or what was stored before the stall
    last = next(i for i, (_, n) in enumerate(polls) if n >= most)
    if first is None:
        raise RuntimeError("nothing was stored")
    t_first, n_first = polls[first]
    t_last, n_last = polls[last]
    span = max(t_last - t_first, 1e-6)
    rate = (n_last - n_first) / span
    # events/s in each whole second between the first and the last stored event
    seconds: list[float] = []
    start_t, start_n = t_first, n_first
    for t, n in polls[first + 1 : last + 1]:
        if t - start_t >= 1.0:
            seconds.append((n - start_n) / (t - start_t))
            start_t, start_n = t, n
    published_from = min(site["started"] for site in sites)
    published_to = max(site["finished"] for site in sites)
    ingester_cpu = used(before[0], after[0])
    postgres_cpu = used(before[1], after[1])
    broker_cpu = used(before[2], after[2])
    publisher_cpu = sum(site["cpu_s"] for site in sites)
    sent_set = set(sent_ids)
    stored_set = set(stored_ids)
    run: dict[str, Any] = {
        "ingester": args.ingester,
        "sites": args.sites,
        "sent": len(sent_ids),
        "acked_by_broker": sum(site["acked"] for site in sites),
        "stored_rows": len(stored_ids),
        "stored_distinct_ids": len(stored_set),
        "missing": len(sent_set - stored_set),
        "unexpected": len(stored_set - sent_set),
        "dead_letters": int(dead[0]) if dead else -1,
        "exactly_once": len(stored_ids) == len(stored_set) and stored_set == sent_set,
        "events_per_s": round(rate, 1),
        "events_per_s_1s_windows": {
            "min": round(min(seconds), 1) if seconds else None,
            "median": round(statistics.median(seconds), 1) if seconds else None,
            "max": round(max(seconds), 1) if seconds else None,
            "each": [round(x) for x in seconds],
        },
        "stored_span_s": round(span, 2),
        "publish_span_s": round(published_to - published_from, 2),
        "publish_events_per_s": round(len(sent_ids) / max(published_to - published_from, 1e-6)),
        "first_stored_after_s": round(t_first - t_go, 2),
        "last_stored_after_publish_s": round(t_last - published_to, 2),
        "cpu_s_per_1000": {
            "ingester": round(1000 * ingester_cpu / total, 3),
            "postgres": round(1000 * postgres_cpu / total, 3),
            "mosquitto": round(1000 * broker_cpu / total, 3),
            "publishers": round(1000 * publisher_cpu / total, 3),
        },
        "ingester_cpu_share_of_a_core": round(ingester_cpu / max(t_last - t_go, 1e-6), 2),
        "ingester_report": ingester_report,
    }
    if ingester_report.get("batches"):
        run["mean_batch"] = round(ingester_report["received"] / ingester_report["batches"], 1)
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=60_000, help="events in all (split)")
    parser.add_argument("--sites", type=int, default=3, help="publisher processes")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--rate", type=float, default=0.0,
                        help="offered events/s in all (0: as fast as acks allow)")  # fmt: skip
    parser.add_argument("--inflight", type=int, default=100, help="each site's QoS 1 window")
    parser.add_argument("--ingester", choices=("cli", "inproc"), default="cli")
    parser.add_argument("--broker-queue", type=int, default=BROKER_QUEUE,
                        help="mosquitto max_queued_messages (0: its default, 1000)")  # fmt: skip
    parser.add_argument("--stall", type=float, default=20.0,
                        help="give up when nothing new is stored for this long (s)")  # fmt: skip
    parser.add_argument("--no-save", action="store_true", help="do not write results.json")
    args = parser.parse_args(argv)
    cpu = cpu_model()
    print(f"fleet bench: {args.events} events from {args.sites} sites, ingester={args.ingester}, "
          f"{os.cpu_count()} cores ({cpu})", flush=True)  # fmt: skip
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="onsight-fleet-bench-") as tmp:
        workdir = Path(tmp)
        os.chmod(workdir, 0o755)
        postgres = Postgres()
        try:
            postgres.start()
            for number in range(1, args.runs + 1):
                run = one_run(postgres, workdir, args, number)
                runs.append(run)
                print(json.dumps(run, indent=1), flush=True)
        finally:
            postgres.close()
    rates = [r["events_per_s"] for r in runs]
    ingester_cpu = [r["cpu_s_per_1000"]["ingester"] for r in runs]
    summary: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "measured": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "events": args.events,
        "sites": args.sites,
        "ingester": args.ingester,
        "offered_rate": args.rate or "as fast as acks allow",
        "broker_max_queued_messages": args.broker_queue or "default (1000)",
        "postgres": "test cluster: fsync, full_page_writes, synchronous_commit off",
        "events_per_s_median": round(statistics.median(rates), 1),
        "ingester_cpu_s_per_1000_median": round(statistics.median(ingester_cpu), 3),
        "target_events_per_s": TARGET,
        "holds_target": all(r >= TARGET for r in rates) and all(r["exactly_once"] for r in runs),
        "exactly_once": all(r["exactly_once"] for r in runs),
        "runs": runs,
    }
    print()
    print(f"{'run':>3} {'ev/s':>8} {'1s min':>8} {'pub ev/s':>9} {'ingest':>7} {'pg':>7} "
          f"{'mosq':>6} {'pubs':>6} {'batch':>6}  exactly once")  # fmt: skip
    print(f"{'':>3} {'':>8} {'':>8} {'':>9} {'CPU s per 1000 events':>29} {'':>6}")
    for i, r in enumerate(runs, 1):
        c = r["cpu_s_per_1000"]
        print(
            f"{i:>3} {r['events_per_s']:>8.0f} {r['events_per_s_1s_windows']['min'] or 0:>8.0f} "
            f"{r['publish_events_per_s']:>9.0f} {c['ingester']:>7.3f} {c['postgres']:>7.3f} "
            f"{c['mosquitto']:>6.3f} {c['publishers']:>6.3f} {r.get('mean_batch', '-'):>6}  "
            f"{'yes' if r['exactly_once'] else 'NO'} ({r['stored_distinct_ids']}/{r['sent']})"
        )
    print(
        f"median {summary['events_per_s_median']:.0f} events/s into PostgreSQL, ingester "
        f"{summary['ingester_cpu_s_per_1000_median']:.3f} CPU-s per 1000 events, on {cpu} "
        f"x{os.cpu_count()}; target {TARGET:.0f}/s: "
        f"{'holds' if summary['holds_target'] else 'NOT met'}"
    )
    if not args.no_save:
        path = ROOT / "results.json"
        try:
            existing = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            existing = {}
        existing["fleet"] = summary
        path.write_text(json.dumps(existing, indent=2) + "\n", encoding="utf-8")
    return 0 if summary["exactly_once"] else 1


if __name__ == "__main__":
    sys.exit(main())
