# `make app` and `make test` do all set-up on a fresh machine: they create .venv from
# requirements-dev.txt (the full runtime profile, requirements.txt, plus the test and lint tools)
# when it is missing or older than either file. Streamlit Community Cloud installs
# cloud/requirements.txt instead (docs/deploy.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: app test lint compare clean postgresql stage-gpu gpu-check

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

app: $(STAMP)
	$(PY) -m streamlit run streamlit_app.py

# The browser test drives Debian's Chromium; install it when it is missing.
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq chromium

# The store's tests start a PostgreSQL server of their own (tests/postgres_server.py) from
# Debian's package; install it when it is missing.
POSTGRES := $(firstword $(wildcard /usr/lib/postgresql/*/bin/pg_ctl))
postgresql:
	@test -n "$(POSTGRES)" || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq postgresql; }

# Two test processes (pytest-xdist), one file each at a time, so that a file's module fixtures (a
# trained comparison, a server) are made once; TEST_WORKERS=0 runs the suite in this process.
TEST_WORKERS ?= 2

test: $(STAMP) $(CHROMIUM) postgresql
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy

compare: $(STAMP)
	$(PY) -m core compare

# Here: the pieces that bring what the GPU machine lacks (.gpu-stage/, ignored by git; docs/benchmarks.md).
stage-gpu: $(STAMP)
	$(PY) -m bench.stage_gpu

# On the GPU machine, after `source bench/gpu_setup.sh`: every GPU figure in one command.
gpu-check:
	$(PYTHON) -m bench.gpu_check --out artifacts/gpu

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache artifacts
