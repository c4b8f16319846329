# gankit: `make demo` trains the default run; `make test` runs the suite. Both build .venv first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
JOBS   ?= 2

.PHONY: install dev demo test bench clean

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -r requirements.txt
	$(PIP) install --no-deps -e .
	touch $@

$(VENV)/.dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
dev: $(VENV)/.dev

demo: install
	$(VENV)/bin/gankit train ring8 run.name=demo --overwrite

test: dev
	$(PY) -m pytest -q -n $(JOBS)

bench: install
	$(PY) benchmarks/toy.py

clean:
	rm -rf $(VENV) runs
