# Two commands on a fresh machine: `make up` and `make test` (README).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: install dev up test bench clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# The stamp files make a second `make test` skip the install when nothing changed.
$(VENV)/.installed: $(VENV)/bin/python pyproject.toml
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

dev: $(VENV)/.installed-dev

up: install
	$(VENV)/bin/jobstreamer up

test: dev
	$(PY) -m pytest $(PYTEST_ARGS)

bench: dev
	$(PY) -m bench

clean:
	rm -rf $(VENV) build *.egg-info
