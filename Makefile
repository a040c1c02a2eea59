# sor-daemon: `make demo` runs the router on the embedded default with simulated venues
# and a demo order flow; `make test` runs the test suite. Both install what they need
# into .venv first (quickfix compiles from source once, then pip's cache serves it).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CONFIG ?= config/sor.toml
STAMP  := $(VENV)/.installed

.PHONY: demo run test lint check-config bench-book bench-decision clean

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

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench-book: $(STAMP)
	$(BIN)/python -m benchmarks.book

bench-decision: $(STAMP)
	$(BIN)/python -m benchmarks.decision

lint: $(STAMP)
	$(BIN)/ruff check .

check-config: $(STAMP)
	$(BIN)/sor-daemon check-config $(CONFIG)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
