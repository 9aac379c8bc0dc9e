"""The fleet: sites publish events over MQTT, one ingester stores them in one PostgreSQL."""
