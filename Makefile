# Two commands (see README):  make demo  |  make test
# Both create .venv, install gridmap with its test extras, and bring up PostGIS (installing the
# Debian packages when missing: needs root or sudo).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup demo check test db-up db-down clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "gridmap needs Python 3.11 or newer (found: $$($(PYTHON) --version))"; exit 1; }
	@# Debian's python3 lacks venv/ensurepip until python3-venv is installed.
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null \
	  || { $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/gridmap demo

# Lint, format, the layers contract and the types (also a pre-commit config: .pre-commit-config.yaml).
check: setup node_modules/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	npx --no-install biome ci gridmap/web/static/js

# Biome (the pages' JS: lint + format), pinned in package.json / package-lock.json.
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

test: check
	@# The page tests (tests/test_pages.py) drive Debian's chromium; a CJK font keeps their screenshots readable;
	@# faketime moves the clock for the sample generator test (tests/test_sample_data.py).
	@[ -x /usr/bin/chromium ] && [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] && [ -x /usr/bin/faketime ] \
	  || { $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium fonts-wqy-microhei faketime; }
	$(BIN)/gridmap db up
	@# Two workers (pytest-xdist), a test module per worker at a time: module fixtures stay whole.
	$(BIN)/python -m pytest -n 2 --dist loadfile

db-up: setup
	$(BIN)/gridmap db up

db-down: setup
	$(BIN)/gridmap db down

clean:
	-$(BIN)/gridmap db down
	rm -rf $(VENV) .gridmap .pytest_cache .hypothesis *.egg-info node_modules
