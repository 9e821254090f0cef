# Gatehouse: `make run` serves the app, `make test` runs the whole suite.
# Both start from a fresh clone: they create .venv and install what is needed
# (`make test` also the Debian packages the suite drives: tools/system-packages).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
WORKERS ?=

.PHONY: install install-dev migrate run dev test test-postgres system-packages \
	system-packages-postgres lint fmt bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall only when a requirements file changed.
$(VENV)/.install-stamp: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.install-dev-stamp: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.install-stamp

install-dev: install $(VENV)/.install-dev-stamp

migrate: install
	$(BIN)/flask db upgrade

# Workers and threads: gunicorn.conf.py (two workers per core unless WORKERS=n).
run: migrate
	GATEHOUSE_BIND=$(HOST):$(PORT) $(if $(WORKERS),GATEHOUSE_WORKERS=$(WORKERS)) \
		$(BIN)/gunicorn -c gunicorn.conf.py 'app:create_app()'

dev: migrate
	$(BIN)/flask run --debug --host $(HOST) --port $(PORT)

# Debian packages: installed when running as root, else the exact command is
# printed and make stops (the suite never skips what it cannot run).
system-packages:
	tools/system-packages test

system-packages-postgres:
	tools/system-packages test-postgres

# With a coverage report (statements and branches); below the floor set in
# pyproject.toml, the run fails.
test: system-packages install-dev
	$(BIN)/pytest --cov --cov-report=term $(PYTEST_ARGS)

# The whole suite again on a throwaway PostgreSQL server (tools/with-postgres).
test-postgres: system-packages-postgres install-dev
	tools/with-postgres $(BIN)/pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install-dev
	$(BIN)/python bench/members.py
	$(BIN)/python bench/scim.py
	$(BIN)/python bench/saml.py
	$(BIN)/python bench/worst_case.py
	$(BIN)/python bench/serving.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
