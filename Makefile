# onsight: `make demo` and `make test` work on a fresh Debian machine with Python >= 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export ONSIGHT_ASSETS ?= $(abspath ../shared/assets)

.PHONY: install demo test lint unit bench bench-fleet soak clean system-deps fuzz

install: $(VENV)/.installed

# `trackers` (ByteTrack, Apache-2.0) declares opencv-python, the GUI build, which would
# overwrite opencv-python-headless; its real imports are covered by our own dependencies.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m pip install -q --no-deps 'trackers==2.6.1'
	$(BIN)/python -c "import cv2, av, onnxruntime, trackers"
	touch $@

# The bundled models go into the user cache, so `onsight` works from any shell afterwards.
demo: install
	$(BIN)/onsight models install --from "$(ONSIGHT_ASSETS)/models"
	$(BIN)/onsight demo

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src bench

# Test-only system packages from Debian: a real MQTT broker, a browser for the UI tests,
# a PostgreSQL server for the fleet tests and openssl for a camera's self-signed certificate.
system-deps:
	@missing=""; \
	[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null || missing="$$missing mosquitto"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "make test needs:$$missing -- run: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi

test: lint system-deps
	$(BIN)/python -m pytest -q

# Long hostile-client runs (schemathesis on the API, random requests on every route) and
# 10,000 mutated clips through the decoder; `make test` runs the same tests, shorter.
fuzz: install
	ONSIGHT_FUZZ_EXAMPLES=$${ONSIGHT_FUZZ_EXAMPLES:-500} $(BIN)/python -m pytest -q \
	  tests/integration/test_service_api.py::test_schemathesis_finds_no_server_error \
	  tests/integration/test_service_hostile.py::test_random_hostile_requests
	ONSIGHT_FUZZ_CASES=$${ONSIGHT_FUZZ_CASES:-10000} $(BIN)/python -m pytest -q tests/fuzz

bench: install
	$(BIN)/python bench/run.py

# Most live RTSP cameras (5 fps, served on 127.0.0.1 by the test server in its own process)
# that `onsight run` keeps in real time with >= 15% CPU headroom, busy and camera-day mix;
# about 25 minutes; writes bench/capacity.json (flags: bench/capacity.py --help).
bench-capacity: install
	$(BIN)/python bench/capacity.py

# Fleet ingest load on loopback: 3 simulated sites (QoS 1) -> mosquitto -> one
# `onsight fleet serve --no-web` -> PostgreSQL, 60,000 events, twice; events/s stored,
# CPU-s per 1000 events, exactly-once check; writes the "fleet" key of bench/results.json.
# Needs `make system-deps` (mosquitto, postgresql).
bench-fleet: install system-deps
	$(BIN)/python bench/fleet_bench.py

# An hour of 8 live RTSP cameras under `onsight serve` (CSV and plot in test-artifacts/soak/),
# and 100 camera faults; `make test` runs both briefly.
soak: install
	ONSIGHT_SOAK_SECONDS=$${ONSIGHT_SOAK_SECONDS:-3600} ONSIGHT_RTSP_FAULTS=$${ONSIGHT_RTSP_FAULTS:-100} \
	  $(BIN)/python -m pytest -q tests/integration/test_soak.py tests/integration/test_rtsp_faults.py

clean:
	rm -rf $(VENV) onsight-demo .pytest_cache .mypy_cache .ruff_cache
