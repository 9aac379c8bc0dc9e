"""The fleet dashboard over a real PostgreSQL: login on every page and API, viewer against
admin, the figures of each table and its CSV, date ranges, hostile parameters, an outage.

The data is stored as the ingester stores it (`FleetDatabase.insert` of rows made from the
registry's own event dataclasses); only `sites.last_message` is moved back directly, to make
a site stale. Served in process through Starlette's TestClient.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from onsight.apps.distancing import DistancingMinute
from onsight.apps.line_count import WrongWayAlert
from onsight.apps.queue import QueueHour
from onsight.apps.registry import event_type
from onsight.apps.restricted import RestrictedAlert
from onsight.fleet.ingest import IngestStats
from onsight.fleet.schema import DeadLetter, FleetDatabase, FleetRow
from onsight.fleet.web import create_fleet_app
from onsight.inspection.events import BarcodeRead, InspectionMinute
from onsight.privacy.audit import AuditLog
from onsight.service.auth import UserStore
from onsight.service.queries import local_day_start
from onsight.types import Event, LineCrossing
from tests.integration.postgres import Postgres

PASSWORDS = {"admin": "fleet-admin-pass-1", "viewer": "fleet-viewer-pass-1"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SECRET_TEXT = "BARCODE-TEXT-9F3A"  # a barcode's text: an event value no page may show
DEAD_PAYLOAD = b'{"secret": "DEAD-PAYLOAD-77"}'
TABLES = ("sites", "cameras", "footfall", "compare", "queues", "compliance")
PAGES = ("/", "/footfall", "/compare", "/queues", "/compliance", "/dead-letters")


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    """`hour`:`minute` local time of `day`, in UTC."""
    return (local_day_start(day) + timedelta(hours=hour, minutes=minute)).astimezone(UTC)


def row(site: str, event: Event) -> FleetRow:
    """The row the ingester makes of `event` published by `site`."""
    values = event_type(event.kind).record(event)
    return FleetRow(event.kind, site, uuid.UUID(event.event_id), values)


@dataclass(frozen=True)
class Fleet:
    """A fleet of three sites over the last days: what the tests and screenshots read."""

    today: date
    north_in: tuple[int, int]  # people in, yesterday and the day before
    south_in: int  # yesterday


def seed(url: str) -> Fleet:
    """Three sites: north (two cameras, footfall, queue, restricted-area alerts), south
    (footfall, distancing, a wrong-way alert), west (inspection; stale: last heard 2 h ago)."""
    today = datetime.now().astimezone().date()
    yesterday, before = today - timedelta(days=1), today - timedelta(days=2)
    rows: list[FleetRow] = []

    def crossings(site: str, camera: str, day: date, n: int, direction: str, cls: str) -> None:
        for i in range(n):
            moment = _at(day, 9, i % 60)
            crossing = LineCrossing(moment, camera, "entrance", direction, cls)  # type: ignore[arg-type]
            rows.append(row(site, crossing))

    crossings("north", "door", yesterday, 12, "in", "person")
    crossings("north", "door", yesterday, 3, "out", "person")  # the other way: not footfall
    crossings("north", "door", yesterday, 2, "in", "car")  # not people
    crossings("north", "door", before, 5, "in", "person")
    crossings("north", "door", today - timedelta(days=40), 9, "in", "person")  # outside
    crossings("south", "gate", yesterday, 7, "in", "person")
    hours = [
        QueueHour(_at(yesterday, 10), "till", "checkout", 10, 60.0, 120.0),
        QueueHour(_at(yesterday, 11), "till", "checkout", 30, 100.0, 200.0),
        # the site restarted within the hour: the larger group counts, as in its own store
        QueueHour(_at(yesterday, 11), "till", "checkout", 6, 500.0, 900.0),
    ]
    rows += [row("north", hour) for hour in hours]
    rows += [row("north", RestrictedAlert(_at(yesterday, 14, i), "till", "store", "person", 30.0))
             for i in range(2)]  # fmt: skip
    rows.append(row("south", WrongWayAlert(_at(yesterday, 8), "gate", "entrance", "out", "person")))
    rows.append(row("south", DistancingMinute(_at(yesterday, 12), "gate", "all", 6, 100.0, 25.0,
                                              0.25)))  # fmt: skip
    rows.append(row("west", InspectionMinute(_at(yesterday, 7), "belt", "line1", passed=200,
                inspected=200, rejected=10, read=180, unread=20, wrong_labels=9)))  # fmt: skip
    rows.append(row("west", BarcodeRead(_at(yesterday, 7), "belt", "line1", "EAN13", SECRET_TEXT)))
    database = FleetDatabase(url)
    try:
        database.migrate()
        result = database.insert(rows, datetime.now(UTC))
        assert result.inserted == len(rows) and not result.refused, result
        database.set_site_status("north", "online", datetime.now(UTC))
        database.dead_letter([DeadLetter(datetime.now(UTC), "onsight/north/door/x/y",
                                         "not JSON", DEAD_PAYLOAD)])  # fmt: skip
    finally:
        database.close()
    return Fleet(today, (12, 5), 7)


def make_stale(postgres: Postgres, database: str, site: str, ago: timedelta) -> None:
    """The site (and its cameras) last heard from `ago`."""
    for table in ("sites", "cameras"):
        postgres.admin(
            f"UPDATE {table} SET last_message = now() - %s WHERE site = %s",
            ago, site, database=database,
        )  # fmt: skip


@dataclass
class Served:
    app: FastAPI
    audit: AuditLog
    users: UserStore
    fleet: Fleet


def build(folder: Path, url: str, fleet: Fleet) -> Served:
    users = UserStore(folder / "fleet-users.db", scrypt_n=2**12)
    for name, password in PASSWORDS.items():
        users.add_user(name, password, name)
    audit = AuditLog(folder / "fleet-audit.db")
    ingest = IngestStats(received=12, stored=9, duplicates=2, dead_lettered=1, connected=True)
    app = create_fleet_app(url, users, audit, server_names=["testserver"], ingest=ingest)
    return Served(app, audit, users, fleet)


def close(served: Served) -> None:
    served.app.state.fleet_queries.close()
    served.users.close()
    served.audit.close()


@pytest.fixture(scope="module")
def served(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    name = f"fleet_web_{uuid.uuid4().hex[:12]}"
    url = postgres.create_database(name)
    fleet = seed(url)
    make_stale(postgres, name, "west", timedelta(hours=2, minutes=5))
    result = build(tmp_path_factory.mktemp("fleet"), url, fleet)
    try:
        yield result
    finally:
        close(result)


def client(served: Served, user: str | None = None) -> TestClient:
    out = TestClient(served.app, follow_redirects=False, raise_server_exceptions=False)
    if user is not None:
        response = out.post("/login", data={"username": user, "password": PASSWORDS[user]})
        assert response.status_code == 303, response.text
    return out


def _csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _rows(served: Served, table: str, **params: str) -> dict[str, dict[str, Any]]:
    """An API table as site -> column -> value."""
    answer = client(served, "viewer").get(f"/api/tables/{table}", params=params)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return {r[0]: dict(zip(body["columns"], r, strict=True)) for r in body["rows"]}


def test_every_page_table_and_export_needs_a_login(served: Served) -> None:
    anonymous = client(served)
    for path in PAGES:
        answer = anonymous.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login"), path
    for table in TABLES:
        api = anonymous.get(f"/api/tables/{table}")
        assert api.status_code == 401 and api.json() == {"detail": "authentication required"}
        assert anonymous.get(f"/export/{table}.csv").status_code == 303
        bad = anonymous.get(f"/api/tables/{table}", headers={"Authorization": "Bearer onsight_x"})
        assert bad.status_code == 401
    health = anonymous.get("/healthz")  # public, and says nothing about the sites
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert anonymous.get("/login").status_code == 200
    # the site's machinery: security headers, Host check, CSRF on logout
    assert "default-src 'self'" in health.headers["content-security-policy"]
    assert anonymous.get("/", headers={"host": "evil.example"}).status_code == 400
    viewer = client(served, "viewer")
    assert viewer.post("/logout").status_code == 403  # no CSRF token
    token = CSRF.search(viewer.get("/").text)
    assert token is not None
    assert viewer.post("/logout", data={"csrf_token": token.group(1)}).status_code == 303
    assert viewer.get("/").status_code == 303  # the session ended


def test_a_viewer_sees_the_pages_and_only_an_admin_the_ingest_problems(served: Served) -> None:
    viewer, admin = client(served, "viewer"), client(served, "admin")
    for path in PAGES[:-1]:
        page = viewer.get(path)
        assert page.status_code == 200, (path, page.text)
        assert "Ingest problems" not in page.text  # not in a viewer's menu
    refused = viewer.get("/dead-letters")
    assert refused.status_code == 403 and "admin" in refused.text
    page = admin.get("/dead-letters")
    assert page.status_code == 200
    assert "onsight/north/door/x/y" in page.text and "not JSON" in page.text
    assert "DEAD-PAYLOAD-77" not in page.text  # the payload stays in the database
    token = served.users.add_token("grafana", "viewer")
    by_token = client(served).get("/api/tables/sites", headers={"Authorization": f"Bearer {token}"})
    assert by_token.status_code == 200


def test_the_sites_page_flags_a_site_that_stopped_reporting(served: Served) -> None:
    page = client(served, "viewer").get("/").text
    for site in ("north", "south", "west"):
        assert f'data-site="{site}"' in page
    west = page[page.index('data-site="west"') :].split("</tr>")[0]
    assert 'data-reporting="no"' in west and "no message for 2 h 5 min" in west
    north = page[page.index('data-site="north"') :].split("</tr>")[0]
    assert 'data-reporting="yes"' in north and "online" in north
    sites = _rows(served, "sites")
    assert sites["west"]["Reporting"] == "no" and sites["north"]["Reporting"] == "yes"
    assert sites["north"]["Cameras"] == 2 and sites["west"]["Seconds since"] >= 7500
    cameras = _rows(served, "cameras")
    assert set(cameras) == {"north", "south", "west"}


def test_footfall_counts_people_in_per_site_per_day_and_week(served: Served) -> None:
    fleet = served.fleet
    daily = _rows(served, "footfall")
    assert daily["north"]["Total"] == sum(fleet.north_in)  # not out, not cars, not 40 days ago
    assert daily["south"]["Total"] == fleet.south_in
    assert "west" not in daily  # no counting line: no row, not a row of zeros
    yesterday = fleet.today - timedelta(days=1)
    label = next(c for c in daily["north"] if c.endswith(yesterday.isoformat()))
    assert daily["north"][label] == fleet.north_in[0]
    first = (fleet.today - timedelta(days=27)).isoformat()
    weekly = _rows(served, "footfall", **{"from": first, "to": fleet.today.isoformat()}, by="week")
    assert weekly["north"]["Total"] == sum(fleet.north_in)
    assert len(weekly["north"]) in (1 + 4 + 1, 1 + 5 + 1)  # site, 4 or 5 weeks, total
    page = client(served, "viewer").get("/footfall", params={"by": "week"}).text
    assert "per week" in page and 'id="table-footfall"' in page


def test_csv_exports_hold_the_tables_and_are_audited(served: Served) -> None:
    viewer = client(served, "viewer")
    before = len(served.audit.tail(1000))
    answer = viewer.get("/export/footfall.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    table = _csv(answer.text)
    assert table[0][0] == "Site" and table[0][-1] == "Total" and len(table[0]) == 1 + 7 + 1
    assert {r[0]: r[-1] for r in table[1:]} == {"north": "17", "south": "7"}
    queues = _csv(viewer.get("/export/queues.csv").text)
    north = dict(zip(queues[0], queues[1], strict=True))
    assert north["Visits"] == "40" and north["Typical wait (s)"] == "90.0"
    for name in TABLES:
        assert viewer.get(f"/export/{name}.csv").status_code == 200, name
    records = served.audit.tail(1000)[before:]
    exports = [r.details() for r in records if r.action == "export" and r.actor == "viewer"]
    assert [e["table"] for e in exports] == ["footfall", "queues", *TABLES]
    assert all(e["format"] == "csv" for e in exports)
    logins = [r for r in served.audit.tail(1000) if r.action == "login"]
    assert any(r.actor == "viewer" for r in logins)  # in the fleet's own audit log


def test_queue_waits_come_from_the_released_hours_only(served: Served) -> None:
    waits = _rows(served, "queues")
    north = waits["north"]
    assert north["Visits"] == 40  # 10 + 30: the hour stored twice counts once, larger group
    assert north["Typical wait (s)"] == 90.0  # (10 x 60 + 30 x 100) / 40
    assert north["Longest hourly p90 (s)"] == 200.0
    today = served.fleet.today.isoformat()
    assert next(v for c, v in north.items() if today in c) is None  # nothing released today
    assert set(waits) == {"north"}


def test_compliance_shows_shares_and_alert_counts(served: Served) -> None:
    shares = _rows(served, "compliance")
    south, west, north = shares["south"], shares["west"], shares["north"]
    assert south["Distancing: time close to someone (%)"] == 25.0
    assert south["Distancing: time close to someone: of (person-seconds)"] == 100
    assert south["Wrong-way alerts"] == 1
    assert west["Inspection: items rejected (%)"] == 5.0
    assert west["Barcodes: items not read (%)"] == 10.0
    assert west["Barcodes: wrong labels (%)"] == 5.0
    assert north["Restricted-area alerts"] == 2
    assert north["Inspection: items rejected (%)"] is None  # no inspection there: not 0 %
    compare = _rows(served, "compare")
    assert compare["north"]["People in"] == 17 and compare["north"]["Alerts"] == 2
    assert compare["south"]["Distancing: time close to someone (%)"] == 25.0
    assert compare["west"]["People in"] == 0 and compare["west"]["Busiest day"] is None


def test_no_page_shows_event_values_ids_or_payloads(served: Served) -> None:
    admin = client(served, "admin")
    texts = [admin.get(path).text for path in PAGES]
    texts += [admin.get(f"/export/{t}.csv").text for t in TABLES]
    texts += [admin.get(f"/api/tables/{t}").text for t in TABLES]
    for text in texts:
        assert SECRET_TEXT not in text and "DEAD-PAYLOAD" not in text
        assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-", text)  # event ids


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ({"from": "2026-03-10", "to": "2026-03-01"}, "after"),
        ({"from": "2026-02-30"}, "dates like"),
        ({"from": "yesterday"}, "dates like"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "at most 366"),
        ({"from": "0001-01-01", "to": "0001-01-05"}, "years"),
        ({"by": "hour"}, "by: one of day, week"),
    ],
)
def test_a_bad_date_range_is_a_422_that_says_why(
    served: Served, params: dict[str, str], why: str
) -> None:
    viewer = client(served, "viewer")
    page = viewer.get("/footfall", params=params)
    assert page.status_code == 422 and why in page.text and 'id="range-form"' in page.text
    assert viewer.get("/export/footfall.csv", params=params).status_code == 422
    api = viewer.get("/api/tables/queues", params=params)
    assert api.status_code == 422 and why in api.json()["detail"]


def test_the_default_range_is_the_last_seven_days(served: Served) -> None:
    body = client(served, "viewer").get("/api/tables/footfall").json()
    today = served.fleet.today
    assert body["first"] == (today - timedelta(days=6)).isoformat()
    assert body["last"] == today.isoformat() and body["by"] == "day"
    viewer = client(served, "viewer")
    one = viewer.get("/api/tables/compare", params={"from": today.isoformat()}).json()
    assert one["first"] == one["last"] == today.isoformat()  # "to" defaults to today
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert viewer.get("/api/tables/compare", params={"from": tomorrow}).status_code == 422


def test_hostile_parameters_get_a_4xx_never_a_5xx(served: Served, postgres: Postgres) -> None:
    viewer = client(served, "viewer")
    values = ["'; DROP TABLE sites; --", "2026-01-01' OR '1'='1", "<script>x</script>",
              "9999-12-31", "0000-00-00", "\x00", "2026-01-01\n", "a" * 40, "%", "\u202e",
              "2026-W01", "+2026-01-01", "-1"]  # fmt: skip
    paths = ["/footfall", "/queues", "/compare", "/compliance", "/export/footfall.csv",
             "/api/tables/compliance"]  # fmt: skip
    for path in paths:
        for key in ("from", "to", "by"):
            for value in values:
                answer = viewer.get(path, params={key: value})
                assert answer.status_code < 500, (path, key, value, answer.text)
                assert "<script>x" not in answer.text
    for name in ("../sites", "nope", "SITES", "a" * 100, "sites%00", "sites.csv"):
        assert 400 <= viewer.get(f"/export/{name}.csv").status_code < 500, name
        assert 400 <= viewer.get(f"/api/tables/{name}").status_code < 500, name
    assert viewer.get("/footfall", params=[("from", "2026-01-01"), ("from", "x")]).status_code < 500
    assert viewer.post("/footfall").status_code == 405
    assert _rows(served, "sites")  # the sites table is still there


def test_a_database_outage_is_a_503_not_a_500(tmp_path: Path, served: Served) -> None:
    from tests.integration.postgres import free_port

    down = f"postgresql://onsight:secret@127.0.0.1:{free_port()}/fleet"
    users = UserStore(tmp_path / "users.db", scrypt_n=2**12)
    users.add_user("viewer", PASSWORDS["viewer"], "viewer")
    with AuditLog(tmp_path / "audit.db") as audit:
        app = create_fleet_app(down, users, audit, server_names=["testserver"],
                               database_timeout=0.5)  # fmt: skip
        try:
            fleet = Served(app, audit, users, served.fleet)
            viewer = client(fleet, "viewer")  # the login needs only the users file
            page = viewer.get("/footfall")
            assert page.status_code == 503 and "not reachable" in page.text
            assert "secret" not in page.text
            api = viewer.get("/api/tables/sites")
            assert api.status_code == 503 and "secret" not in api.text
            assert client(fleet).get("/healthz").status_code == 503
        finally:
            app.state.fleet_queries.close()
            users.close()


def test_metrics_show_the_ingesters_counters_to_users_only(served: Served) -> None:
    assert client(served).get("/metrics").status_code in (401, 303)
    body = client(served, "viewer").get("/metrics").text
    assert "onsight_fleet_events_stored_total 9.0" in body
    assert "onsight_fleet_dead_letters_total 1.0" in body
    assert "site=" not in body and "camera=" not in body, "no labels: nothing per site"
