# The two commands: `make run` (the whole product on embedded defaults) and `make test`.
# Both create the virtualenv and fetch pinned front-end assets on first use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
ASSETS := web/static/vendor/.assets-stamp

.PHONY: run test bench lint install assets clean help

help:
	@echo "make run    start PostgreSQL, Temporal (+UI), worker and web with demo data"
	@echo "make test   lint, type-check and run every test (unit, workflow, integration, browser)"
	@echo "make bench  run the benchmarks and print the table"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (found %s)" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(STAMP)

$(ASSETS): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p web/static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js web/static/vendor/
	cp node_modules/@picocss/pico/css/pico.min.css web/static/vendor/
	cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css web/static/vendor/
	@touch $@

assets: $(ASSETS)

run: $(STAMP) $(ASSETS)
	$(BIN)/backoffice run

test: $(STAMP) $(ASSETS)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP) $(ASSETS)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules web/static/vendor .pytest_cache .mypy_cache .ruff_cache
