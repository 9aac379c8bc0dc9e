"""The fleet's PostgreSQL store against a real server: migrations, batches, duplicates,
partitions, refused rows, dead letters, an outage, a wrong password, and the privacy rule."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, LiteralString

import psycopg
import pytest

from onsight.apps import registry
from onsight.errors import OnsightError
from onsight.fleet.schema import (
    PAYLOAD_LIMIT,
    TOPIC_LIMIT,
    DeadLetter,
    FleetDatabase,
    FleetDatabaseUnavailable,
    FleetRow,
)
from onsight.types import LineCrossing, ZoneDwell
from tests.integration.postgres import Postgres
from tests.unit.test_privacy_rules import PERSONAL

SITE = "hq"
MAY = datetime(2024, 5, 31, 23, 59, tzinfo=UTC)
RECEIVED = datetime(2024, 6, 1, 0, 5, tzinfo=UTC)


def _crossing(when: datetime, camera: str = "front-door", site: str = SITE) -> FleetRow:
    event = LineCrossing(when, camera, "door", "in", "person")
    return FleetRow("crossing", site, uuid.uuid4(), registry.event_type("crossing").record(event))


def _dwell(hour: datetime, people: int) -> FleetRow:
    event = ZoneDwell(hour, "front-door", "hall", "person", people, 42.0, 80.0)
    return FleetRow(
        "zone_dwell", SITE, uuid.uuid4(), registry.event_type("zone_dwell").record(event)
    )


def _query(url: str, statement: LiteralString, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(statement, params or None).fetchall()


def _database(url: str) -> FleetDatabase:
    db = FleetDatabase(url, pool_size=2)
    db.migrate()
    return db


def test_migrate_twice_makes_every_table_once(fleet_db: str) -> None:
    db = FleetDatabase(fleet_db)
    try:
        db.migrate()
        db.migrate()
        assert _query(fleet_db, "SELECT version FROM fleet_migrations") == [(1,)]
        kinds = {str(kind) for (kind,) in _query(fleet_db, "SELECT kind FROM fleet_app_schema")}
        assert kinds == set(registry.event_kinds())
        assert db.counts() == {spec.table: 0 for spec in registry.event_types()}
        partitioned = _query(
            fleet_db, "SELECT relname FROM pg_class WHERE relkind = 'p' ORDER BY relname"
        )
        assert {name for (name,) in partitioned} == {s.table for s in registry.event_types()}
    finally:
        db.close()


def test_migrate_adds_a_registry_column_missing_from_an_existing_table(fleet_db: str) -> None:
    db = _database(fleet_db)
    try:
        with psycopg.connect(fleet_db, autocommit=True) as conn:
            conn.execute('ALTER TABLE crossings DROP COLUMN "class"')  # as an older version had
        db.migrate()
        nullable = _query(
            fleet_db,
            "SELECT is_nullable FROM information_schema.columns "
            "WHERE table_name = 'crossings' AND column_name = 'class'",
        )
        assert nullable == [("YES",)]
        assert db.insert([_crossing(MAY)], RECEIVED).inserted == 1
    finally:
        db.close()


def test_two_ingesters_migrating_at_once_both_succeed(fleet_db: str) -> None:
    databases = [FleetDatabase(fleet_db, pool_size=1) for _ in range(2)]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def migrate(db: FleetDatabase) -> None:
        start.wait()
        try:
            db.migrate()
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(db,)) for db in databases]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert errors == []
        assert _query(fleet_db, "SELECT version FROM fleet_migrations") == [(1,)]
        assert databases[0].counts()["crossings"] == 0
    finally:
        for db in databases:
            db.close()


def test_a_duplicate_is_stored_once_and_sites_and_cameras_are_recorded(fleet_db: str) -> None:
    db = _database(fleet_db)
    try:
        first = [_crossing(MAY - timedelta(minutes=i)) for i in range(3)]
        result = db.insert([*first, first[0]], RECEIVED)  # a redelivery inside the batch too
        assert (result.inserted, result.duplicates, result.refused) == (3, 1, [])
        later = RECEIVED + timedelta(minutes=1)
        again = db.insert([*first, _crossing(MAY, camera="back-door")], later)
        assert (again.inserted, again.duplicates) == (1, 3)
        assert db.counts()["crossings"] == 4
        stored = _query(fleet_db, "SELECT id, site, camera, line, direction, class FROM crossings")
        assert (first[0].id, SITE, "front-door", "door", "in", "person") in stored
        db.set_site_status(SITE, "offline", later + timedelta(minutes=1))
        sites = _query(
            fleet_db, "SELECT site, first_seen, last_message, last_event, status FROM sites"
        )
        assert sites == [(SITE, RECEIVED, later + timedelta(minutes=1), later, "offline")]
        cameras = _query(fleet_db, "SELECT camera, last_message FROM cameras ORDER BY camera")
        assert cameras == [("back-door", later), ("front-door", later)]
    finally:
        db.close()


def test_rows_of_two_months_land_in_two_partitions(fleet_db: str) -> None:
    db = _database(fleet_db)
    try:
        june = MAY + timedelta(minutes=2)
        result = db.insert([_crossing(MAY), _crossing(MAY), _crossing(june)], RECEIVED)
        assert result.inserted == 3
        per_partition = _query(
            fleet_db,
            "SELECT tableoid::regclass::text, count(*) FROM crossings GROUP BY 1 ORDER BY 1",
        )
        assert per_partition == [("crossings_y2024m05", 2), ("crossings_y2024m06", 1)]
        # a second instance (another ingester) finds the partitions made by the first
        other = FleetDatabase(fleet_db, pool_size=1)
        try:
            assert other.insert([_crossing(june)], RECEIVED).inserted == 1
        finally:
            other.close()
    finally:
        db.close()


def test_a_row_breaking_the_k_anonymity_floor_is_refused_and_the_rest_stored(
    fleet_db: str,
) -> None:
    db = _database(fleet_db)
    try:
        hour = MAY.replace(minute=0)
        too_few = _dwell(hour, people=3)
        too_many = _dwell(hour, people=2**70)  # beyond bigint
        rows = [_dwell(hour, 7), too_few, _crossing(MAY), too_many, _dwell(hour, 5)]
        result = db.insert(rows, RECEIVED)
        assert result.inserted == 3 and result.duplicates == 0
        reasons = {id(row): reason for row, reason in result.refused}
        assert reasons.keys() == {id(too_few), id(too_many)}
        assert "check constraint" in reasons[id(too_few)] and "people" in reasons[id(too_few)]
        assert "out of range" in reasons[id(too_many)]
        counts = db.counts()
        assert (counts["zone_dwell"], counts["crossings"]) == (2, 1)
        assert sorted(p for (p,) in _query(fleet_db, "SELECT people FROM zone_dwell")) == [5, 7]
    finally:
        db.close()


def test_unknown_kinds_and_missing_values_are_refused_without_asking_the_database(
    fleet_db: str,
) -> None:
    db = _database(fleet_db)
    try:
        good = _crossing(MAY)
        unknown = FleetRow("teleport", SITE, uuid.uuid4(), dict(good.values))
        partial = FleetRow("crossing", SITE, uuid.uuid4(), {"time": MAY, "camera": "c"})
        result = db.insert([unknown, good, partial], RECEIVED)
        assert result.inserted == 1
        assert [(row.kind, reason.split()[0]) for row, reason in result.refused] == [
            ("teleport", "unknown"),
            ("crossing", "missing"),
        ]
    finally:
        db.close()


def test_dead_letters_are_kept_truncated(fleet_db: str) -> None:
    db = _database(fleet_db)
    try:
        payload = bytes(range(256)) * 8  # 2048 bytes, not UTF-8
        topic = "onsight/hq/" + "x" * 1000
        db.dead_letter(
            [
                DeadLetter(RECEIVED, topic, "not JSON", payload),
                DeadLetter(RECEIVED, "onsight/hq/cam/line/door", "unknown kind", b"{}"),
            ]
        )
        rows = _query(
            fleet_db, "SELECT topic, reason, size, payload FROM dead_letters ORDER BY seq"
        )
        assert rows[0] == (topic[:TOPIC_LIMIT], "not JSON", 2048, payload[:PAYLOAD_LIMIT])
        assert rows[1] == ("onsight/hq/cam/line/door", "unknown kind", 2, b"{}")
    finally:
        db.close()


def test_an_outage_raises_unavailable_and_the_batch_goes_in_after_the_restart(
    postgres: Postgres, fleet_db: str
) -> None:
    db = FleetDatabase(fleet_db, pool_size=1, timeout=1.0)
    try:
        db.migrate()
        assert db.insert([_crossing(MAY)], RECEIVED).inserted == 1
        postgres.stop()
        batch = [_crossing(MAY), _crossing(MAY)]
        with pytest.raises(FleetDatabaseUnavailable) as caught:
            db.insert(batch, RECEIVED)
        assert "secret" not in str(caught.value)
        postgres.start()
        give_up = time.monotonic() + 20
        while True:  # as the ingester does: keep the batch and retry
            try:
                result = db.insert(batch, RECEIVED)
                break
            except FleetDatabaseUnavailable:
                if time.monotonic() > give_up:
                    raise
                time.sleep(0.2)
        assert result.inserted == 2
        assert db.counts()["crossings"] == 3
    finally:
        if not postgres.running:
            postgres.start()
        db.close()


def test_a_wrong_password_is_an_error_that_does_not_show_it(postgres: Postgres) -> None:
    wrong = "Wr0ng-pass%40word-271828"
    url = postgres.database_url("fleet", password=wrong)
    with pytest.raises(OnsightError) as caught:
        FleetDatabase(url)
    message = str(caught.value)
    assert not isinstance(caught.value, FleetDatabaseUnavailable)
    assert "password authentication failed" in message
    for spelling in (wrong, "Wr0ng-pass@word-271828", "271828"):
        assert spelling not in message


def _identifying_columns(url: str) -> list[tuple[str, str]]:
    """Every (table, column) of the fleet's tables that could hold who someone is: the
    same rule as the site store's (tests/unit/test_privacy_rules.py)."""
    columns = _query(
        url,
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema()",
    )
    tables = {str(table) for table, _ in columns}
    assert tables >= {"sites", "cameras", "dead_letters", "crossings_y2024m05"}
    assert tables >= {spec.table for spec in registry.event_types()}
    return [
        (str(table), str(column))
        for table, column in columns
        if any(word in column for word in PERSONAL) or column.endswith("_id")
    ]


def test_privacy_no_fleet_table_has_an_identifying_column(fleet_db: str) -> None:
    db = _database(fleet_db)
    try:
        hour = MAY.replace(minute=0)
        db.insert([_crossing(MAY), _dwell(hour, 9)], RECEIVED)  # partitions exist too
        assert _identifying_columns(fleet_db) == []
        with psycopg.connect(fleet_db, autocommit=True) as conn:  # the check does catch one
            conn.execute("ALTER TABLE crossings ADD COLUMN track_id bigint")
        found = _identifying_columns(fleet_db)
        assert ("crossings", "track_id") in found and ("crossings_y2024m05", "track_id") in found
    finally:
        db.close()


def test_retention_drops_whole_months_and_deletes_the_rest_of_the_boundary_month(
    fleet_db: str,
) -> None:
    db = _database(fleet_db)
    april = datetime(2024, 4, 10, tzinfo=UTC)
    early_may, late_may = datetime(2024, 5, 2, tzinfo=UTC), datetime(2024, 5, 20, tzinfo=UTC)
    try:
        db.insert([_crossing(april), _crossing(early_may), _crossing(late_may)], RECEIVED)
        db.dead_letter([DeadLetter(april, "onsight/x", "old", b"{}")])
        dropped = db.expire(datetime(2024, 5, 10, tzinfo=UTC))
        assert dropped["crossings"] == 2 and dropped["dead_letters"] == 1
        times = _query(fleet_db, "SELECT time FROM crossings")
        assert times == [(late_may,)]
        partitions = {name for (name,) in _query(fleet_db, "SELECT relname FROM pg_class")}
        assert "crossings_y2024m04" not in partitions and "crossings_y2024m05" in partitions
        db.insert([_crossing(april + timedelta(days=1))], RECEIVED)  # a late row: made again
        assert db.counts()["crossings"] == 2
    finally:
        db.close()


def test_a_value_psycopg_cannot_send_is_refused_and_the_rest_stored(fleet_db: str) -> None:
    """Text with a lone surrogate (valid in JSON) must not sink the batch or the ingester."""
    db = _database(fleet_db)
    good = _crossing(MAY)
    bad = _crossing(MAY)
    bad.values["class"] = "\ud800"
    try:
        result = db.insert([good, bad], RECEIVED)
        assert result.inserted == 1 and [row for row, _ in result.refused] == [bad]
        assert "\ud800" not in result.refused[0][1], "the reason can be stored and printed"
        assert db.counts()["crossings"] == 1
    finally:
        db.close()
