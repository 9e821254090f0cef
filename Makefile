# Gatehouse: `make run` serves the app, `make test` runs the whole suite.
# Both start from a fresh clone: they create .venv and install what is needed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
WORKERS ?= 2

.PHONY: install install-dev migrate run dev test lint fmt bench clean

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

run: migrate
	$(BIN)/gunicorn --bind $(HOST):$(PORT) --workers $(WORKERS) \
		--access-logfile - 'app:create_app()'

dev: migrate
	$(BIN)/flask run --debug --host $(HOST) --port $(PORT)

test: install-dev
	$(BIN)/pytest $(PYTEST_ARGS)

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

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
