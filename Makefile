# sor-daemon: `make demo` runs the router on the embedded default with simulated venues
# and a demo order flow; `make test` runs the test suite. Both install what they need
# into .venv first (quickfix compiles from source once, then pip's cache serves it).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CONFIG ?= config/sor.toml
STAMP  := $(VENV)/.installed

.PHONY: demo run test lint image check-config chaos bench bench-soak bench-book bench-decision bench-monitor bench-e2e clean prometheus-check lab \
        prometheus

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing sor-daemon into $(VENV) (the first quickfix build takes ~6 minutes)..."
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

demo: $(STAMP)
	$(BIN)/sor-daemon demo --config $(CONFIG)

run: $(STAMP)
	@$(BIN)/sor-daemon sim --config $(CONFIG) & sim=$$!; \
	trap 'kill -TERM $$sim 2>/dev/null; wait $$sim' EXIT INT TERM; \
	$(BIN)/sor-daemon run --config $(CONFIG)

test: $(STAMP) prometheus
	$(BIN)/python -m pytest -q

# The real-Prometheus test needs prometheus and promtool: Debian's package, installed
# when missing and apt-get is there (as root, or through sudo); otherwise that test skips.
prometheus:
	@command -v promtool >/dev/null && command -v prometheus >/dev/null || { \
	  SUDO=; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  if command -v apt-get >/dev/null; then \
	    echo "installing Prometheus (Debian package) for the real-Prometheus test..."; \
	    $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq --no-install-recommends prometheus >/dev/null \
	      || echo "could not install Prometheus: tests/integration/test_prometheus.py will skip"; \
	  else echo "no apt-get: tests/integration/test_prometheus.py will skip"; fi; }

chaos: $(STAMP)  # kill the daemon / the venues / the OMS link mid-flow, TRIALS times
	$(BIN)/sor-daemon chaos --trials $(or $(TRIALS),30)

lab: $(STAMP)  # every strategy on the same parents, every scenario: var/lab/lab.json and a chart
	$(BIN)/sor-daemon lab --parents $(or $(PARENTS),120) --markdown

bench: $(STAMP)  # the daemon against a bare quickfix echo and relay floors: var/bench/bench.{json,png}
	$(BIN)/sor-daemon bench

bench-soak: $(STAMP)  # a fixed rate for 3 minutes: latency and memory over time
	$(BIN)/sor-daemon bench --soak 180

bench-book: $(STAMP)
	$(BIN)/python -m benchmarks.book

bench-decision: $(STAMP)
	$(BIN)/python -m benchmarks.decision

bench-monitor: $(STAMP)
	$(BIN)/python -m benchmarks.monitor

bench-e2e: $(STAMP)
	$(BIN)/python -m benchmarks.e2e

lint: $(STAMP)
	$(BIN)/ruff check .

image:  # as root: podman builds the Dockerfile's image, runs its demo, boots its systemd units
	.ci/image

check-config: $(STAMP)
	$(BIN)/sor-daemon check-config $(CONFIG)

prometheus-check:  # promtool (Debian: apt-get install prometheus) on deploy/prometheus
	cd deploy/prometheus && promtool check config prometheus.yml && promtool check rules alerts.yml

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
