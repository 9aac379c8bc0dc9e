"""The on-disk message queue: FIFO, bounded, durable across kill -9, safe across threads."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from onsight.errors import OnsightError
from onsight.events.diskqueue import DiskQueue, QueueItem


def _items(start: int, count: int) -> list[QueueItem]:
    return [
        (f"id{i}", f"t/{i}", f"payload {i}".encode(), i % 2 == 0)
        for i in range(start, start + count)
    ]


def test_fifo_peek_after_and_ack(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path / "q.db", 10)
    queue.put(_items(0, 5))
    rows = queue.peek(3)
    assert [r.event_id for r in rows] == ["id0", "id1", "id2"]
    assert rows[0].topic == "t/0" and rows[0].payload == b"payload 0" and rows[0].retain
    assert not rows[1].retain
    assert [r.event_id for r in queue.peek(10, after=rows[-1].seq)] == ["id3", "id4"]
    assert queue.ack([rows[0].seq, rows[2].seq]) == 2
    assert queue.ack([rows[0].seq]) == 0, "acking twice is harmless"
    assert len(queue) == queue.pending == 3
    assert [r.event_id for r in queue.peek(10)] == ["id1", "id3", "id4"]
    queue.close()


def test_full_queue_drops_the_oldest_and_counts(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path / "q.db", 4)
    assert queue.put(_items(0, 3)) == 0
    assert queue.put(_items(3, 3)) == 2
    assert queue.dropped == 2 and len(queue) == 4
    assert [r.event_id for r in queue.peek(10)] == ["id2", "id3", "id4", "id5"]
    queue.put(_items(6, 10))  # a batch larger than the queue keeps its newest rows
    assert queue.dropped == 12 and [r.event_id for r in queue.peek(10)] == [
        f"id{i}" for i in range(12, 16)
    ]
    queue.close()


def test_sequence_numbers_are_never_reused(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path / "q.db", 10)
    queue.put(_items(0, 2))
    old = [r.seq for r in queue.peek(2)]
    queue.ack(old)
    queue.put(_items(2, 1))
    assert queue.peek(1)[0].seq > max(old)
    queue.close()


def test_a_committed_batch_survives_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from onsight.events.diskqueue import DiskQueue\n"
        "q = DiskQueue(Path(sys.argv[1]), 100)\n"
        "q.put([(f'id{i}', 't', b'x', False) for i in range(7)])\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(path)], check=False)
    assert done.returncode == -9
    queue = DiskQueue(path, 100)
    assert len(queue) == 7 and queue.peek(1)[0].event_id == "id0"
    queue.close()


def test_unopenable_file_gives_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(OnsightError, match=r"cannot open message queue .*dir\.db"):
        DiskQueue(tmp_path / "dir.db", 10)
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(OnsightError, match="cannot open message queue"):
        DiskQueue(tmp_path / "file" / "q.db", 10)


def test_concurrent_producers_and_consumer_keep_an_exact_count(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path / "q.db", 100_000)
    acked = 0

    def produce(worker: int) -> None:
        for batch in range(50):
            queue.put(_items(worker * 1000 + batch * 5, 5))

    def consume() -> None:
        nonlocal acked
        for _ in range(200):
            acked += queue.ack(r.seq for r in queue.peek(7))

    threads = [threading.Thread(target=produce, args=(w,)) for w in range(4)]
    threads.append(threading.Thread(target=consume))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(queue) == 4 * 50 * 5 - acked
    queue.close()
    assert len(DiskQueue(tmp_path / "q.db", 100_000)) == 4 * 50 * 5 - acked
