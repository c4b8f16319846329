# gankit: `make demo` trains the default run; `make test` runs `make lint`, then the suite. All build .venv first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
JOBS   ?= 2

.PHONY: install dev demo lint test bench clean

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

# ruff (pycodestyle, pyflakes, import order, bugbear, pyupgrade) and mypy, as configured in pyproject.toml:
# their findings, then one summary line; any finding fails the target (and so `make test` and CI).
lint: dev
	@ruff_out=$$($(VENV)/bin/ruff check --quiet --output-format concise src tests benchmarks 2>&1); ruff_rc=$$?; \
	mypy_out=$$($(VENV)/bin/mypy --no-error-summary 2>&1); mypy_rc=$$?; \
	[ -z "$$ruff_out" ] || echo "$$ruff_out"; [ -z "$$mypy_out" ] || echo "$$mypy_out"; \
	ruff_n=$$(printf '%s\n' "$$ruff_out" | grep -c ':[0-9]*:[0-9]*: '); \
	mypy_n=$$(printf '%s\n' "$$mypy_out" | grep -c ': error: '); \
	if [ $$ruff_rc -eq 0 ] && [ $$mypy_rc -eq 0 ]; then \
	  echo "lint: OK (ruff on src tests benchmarks, mypy on src/gankit: no findings)"; \
	else \
	  echo "lint: FAILED: ruff $$ruff_n finding(s) (exit $$ruff_rc), mypy $$mypy_n error(s) (exit $$mypy_rc); see above"; \
	  exit 1; \
	fi

test: lint
	$(PY) -m pytest -q -n $(JOBS)

bench: install
	$(PY) benchmarks/toy.py

clean:
	rm -rf $(VENV) runs
