# workbench: `make demo` and `make test` work on a fresh machine with only Python 3.11.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast lint format bench schema lock dashboard hub up down clean

WEB_APP := workbench/web/assets/index.html

install: $(STAMP) $(WEB_APP)

# Reinstall only when the declared or locked dependencies change.
$(STAMP): pyproject.toml requirements.lock hub/package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]'
	@# The team server's proxy, from its lock file; one person's workbench does without it.
	if command -v npm >/dev/null; then npm ci --prefix hub --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the team server's proxy is not installed (only \`workbench hub\` needs it)"; fi
	touch $(STAMP)

# The web app a model is exported as (`workbench export ID --web DIR`): web/'s sources and
# onnxruntime-web from its lock file, copied into the package; rebuilt when missing or changed.
$(WEB_APP): web/package-lock.json web/build.mjs $(wildcard web/src/*)
	if command -v npm >/dev/null; then npm ci --prefix web --no-audit --no-fund --loglevel=error && node web/build.mjs; \
	else echo "npm not found: the web app is not built (only \`workbench export --web\` needs it)"; fi

demo: install
	$(BIN)/workbench demo

# The dashboard on http://127.0.0.1:8866/ (Voila; the embedded default unless WORKBENCH_* are set).
dashboard: install
	$(BIN)/workbench dashboard

# The team server (as root, with WORKBENCH_HUB_DATABASE_URL and the shared services set): docs/security.md.
hub: install
	$(BIN)/workbench hub

test: install
	$(BIN)/python -m pytest tests

test-fast: install
	$(BIN)/python -m pytest tests -m "not slow"

# ruff for style and mistakes, mypy for types (workbench/ and workers/; settings in pyproject.toml).
lint: install
	$(BIN)/ruff check workbench workers tests benchmarks examples
	$(BIN)/ruff format --check workbench workers tests benchmarks examples
	$(BIN)/mypy

format: install
	$(BIN)/ruff format workbench workers tests benchmarks
	$(BIN)/ruff check --fix workbench workers tests benchmarks

bench: install
	PYTHONPATH=. $(BIN)/python benchmarks/bench_catalog.py
	PYTHONPATH=. $(BIN)/python benchmarks/bench_jobs.py

# sql/schema.sql is generated from the Alembic migrations; a test fails when it drifts.
schema: install
	$(BIN)/workbench db sql > sql/schema.sql

# Re-resolve every transitive dependency from the pins in pyproject.toml.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet -e '.[dev]'
	.lock-venv/bin/pip freeze --exclude-editable | grep -v '^-e' > requirements.lock
	rm -rf .lock-venv

up:
	docker-compose up -d

down:
	docker-compose down

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
