"""The opt-in event sinks a config asks for (privacy rule 7: none by default)."""

from __future__ import annotations

from onsight.config import LoadedConfig
from onsight.events.mqtt import MqttSink
from onsight.events.webhook import WebhookSink


def open_sinks(loaded: LoadedConfig) -> list[MqttSink | WebhookSink]:
    """MQTT and webhook sinks; each keeps its own durable queue beside the config."""
    config = loaded.config
    sinks: list[MqttSink | WebhookSink] = []
    if config.mqtt is not None:
        sinks.append(
            MqttSink(
                config.mqtt,
                config.site,
                list(config.cameras),
                loaded.resolve(config.mqtt.queue_path),
            )
        )
    if config.webhooks:
        try:
            sinks.append(
                WebhookSink(
                    config.webhooks, config.site, loaded.database_path.with_name("webhooks.db")
                )
            )
        except Exception:
            close_sinks(sinks)
            raise
    return sinks


def close_sinks(sinks: list[MqttSink | WebhookSink], timeout: float = 5.0) -> None:
    """After the bus is closed: deliver what can be delivered in `timeout`, keep the rest."""
    for sink in sinks:
        sink.close(timeout)
