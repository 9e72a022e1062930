# Linli — `make run` to try it, `make test` to check it. `make help` lists every target.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi

.DEFAULT_GOAL := help
.PHONY: help install install-dev run serve worker migrate seed test lint typecheck format bench clean chromium

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@

install: $(VENV)/.installed ## Create .venv and install the runtime requirements

install-dev: $(VENV)/.installed-dev ## Create .venv and install the development requirements

migrate: install ## Apply database migrations (SQLite file unless DATABASE_URL is set)
	$(FLASK) db upgrade

seed: migrate ## Create the demo org tree, logins and residents (idempotent)
	$(FLASK) seed-demo

run: export LINLI_ENV ?= development
run: seed ## Install, migrate, seed a demo and serve on http://127.0.0.1:5000 (fake WeChat unless WECHAT_APPID)
	$(FLASK) dev

serve: install ## Serve with gunicorn (production-like; configure through the environment)
	LINLI_ENV=production $(BIN)/gunicorn --bind 127.0.0.1:5000 --workers 2 --access-logfile - wsgi:app

lint: install-dev ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install-dev ## Format the code with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

chromium: ## Install Debian's Chromium (and a Chinese font) for the console's browser tests, where missing
	@test -x /usr/bin/chromium || { DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-wqy-microhei \
		|| { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-wqy-microhei; } \
		|| echo "chromium could not be installed: the browser tests will be skipped (or fail in CI)"; }

test: lint chromium ## Install, lint, type-check and run the whole test suite (PostgreSQL and Redis when reachable)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install-dev ## Run every benchmark under bench/ and print one table (LINLI_BENCH_QUICK=1: a short try)
	$(BIN)/python -m bench.run_all $(BENCH_ARGS)

clean: ## Remove the virtualenv, caches and the local SQLite database
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache var
