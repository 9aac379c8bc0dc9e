"""Prometheus `/metrics` of the fleet server: the ingester's counters, read at scrape time.

No labels at all: nothing per site, camera or event (the dashboard shows per-site figures).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from onsight.fleet.ingest import IngestStats
from onsight.service.metrics import CONTENT_TYPE

# (IngestStats attribute, metric name, help): counters since the ingester started.
_COUNTERS = (
    ("received", "onsight_fleet_messages_received", "MQTT messages taken from the broker."),
    ("stored", "onsight_fleet_events_stored", "Events newly stored in PostgreSQL."),
    ("duplicates", "onsight_fleet_duplicates", "Messages whose event id was already stored."),
    ("dead_lettered", "onsight_fleet_dead_letters", "Messages refused and dead-lettered."),
    ("expired", "onsight_fleet_expired", "Events older than the retention, not stored."),
    ("database_outages", "onsight_fleet_database_outages", "Times PostgreSQL was unreachable."),
    ("connections", "onsight_fleet_broker_connections", "Connections made to the broker."),
    ("batches", "onsight_fleet_batches", "Batches committed."),
)


class _IngestCollector(Collector):
    def __init__(self, stats: IngestStats) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        for attribute, name, help_text in _COUNTERS:
            yield CounterMetricFamily(name, help_text, value=getattr(self._stats, attribute))
        yield GaugeMetricFamily(
            "onsight_fleet_broker_connected",
            "1 while connected and subscribed to the broker.",
            value=float(self._stats.connected and self._stats.subscribed),
        )


def render_fleet_metrics(stats: IngestStats) -> tuple[bytes, str]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_IngestCollector(stats))
    return generate_latest(registry), CONTENT_TYPE
