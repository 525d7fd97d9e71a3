# Set-up and checks of the Open edX Aspects Tutor plugins. See README.md.
.DEFAULT_GOAL := help
.PHONY: help install system-packages test test-all lint format docs query-contexts bench demo clean

PYTHON ?= python3
VENV := .venv
VENV_CC07 := .venv-cc07
VENV_RALPH := .venv-ralph
VENV_DBT := .venv-dbt
VENV_SUPERSET := .venv-superset
VENV_LMS := .venv-lms
VENV_REFERENCE := .venv-reference
VENV_OPENEDX := .venv-openedx
PLUGINS := clickhouse ralph superset aspects
EMBEDDED_SDK := @superset-ui/embedded-sdk@0.4.0
APT_PACKAGES := docker-compose wget curl git mariadb-server redis-server chromium caddy
# Root runs apt directly (CI); anyone else goes through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-16s %s\n", $$1, $$2}'

install: system-packages ## Install everything the tests need: apt packages and virtualenvs
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements/test.txt $(foreach p,common $(PLUGINS),-e tutor-contrib-$(p))
	$(PYTHON) -m venv $(VENV_CC07)
	$(VENV_CC07)/bin/pip install --quiet -r requirements/clickhouse-connect-0.7.txt
	$(PYTHON) -m venv $(VENV_RALPH)
	$(VENV_RALPH)/bin/pip install --quiet -r requirements/ralph.txt
	$(PYTHON) -m venv $(VENV_DBT)
	$(VENV_DBT)/bin/pip install --quiet -r requirements/dbt.txt
	$(PYTHON) -m venv $(VENV_SUPERSET)
	$(VENV_SUPERSET)/bin/pip install --quiet -r requirements/superset.txt
	$(PYTHON) -m venv $(VENV_LMS)
	$(VENV_LMS)/bin/pip install --quiet -r requirements/lms.txt
	@# The embedded SDK that the LMS's Reports tab loads (from unpkg.com, its newest release)
	npm install --silent --no-save --no-package-lock --prefix .npm $(EMBEDDED_SDK)
	$(PYTHON) -m venv $(VENV_OPENEDX)
	$(VENV_OPENEDX)/bin/pip install --quiet --ignore-requires-python -r requirements/openedx.txt

system-packages:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing $$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

# One test process per core, at most four (each runs its own Superset, ClickHouse and MariaDB);
# a test file stays in one process, so its module fixtures are made once.
PARALLEL = -n auto --maxprocesses 4 --dist loadfile

test: lint ## Lint, then run the default test suite
	$(VENV)/bin/pytest -m "not slow" $(PARALLEL)

test-all: lint $(VENV_REFERENCE) ## Lint, then run every suite, slow ones included (the reference plugin's venv too)
	$(VENV)/bin/pytest $(PARALLEL)

lint: ## Check code style and formatting
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: ## Fix code style and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(VENV_REFERENCE) ## Run the benchmarks into docs/performance.md; each a ratio against a baseline
	$(VENV)/bin/python bench/run_all.py

# The reference plugin that the rendering benchmark compares with, with the Tutor it requires.
$(VENV_REFERENCE): requirements/reference.txt
	$(PYTHON) -m venv $(VENV_REFERENCE)
	$(VENV_REFERENCE)/bin/pip install --quiet -r requirements/reference.txt
	touch $(VENV_REFERENCE)

demo: ## Run the whole stack natively with test data (in .demo/, or DEMO_ROOT); Ctrl-C stops it
	$(VENV)/bin/python tools/demo.py

docs: ## Regenerate docs/configuration.md, the plugins' configuration sections and docs/upgrading-from-aspects.md
	$(VENV)/bin/python tools/generate_config_docs.py
	$(VENV)/bin/python tools/generate_upgrade_docs.py

query-contexts: ## Write each bundle chart's saved query context from its params
	$(VENV)/bin/python -m tutoraspects.query_context

clean: ## Remove virtualenvs and caches
	rm -rf $(VENV) $(VENV_CC07) $(VENV_RALPH) $(VENV_DBT) $(VENV_SUPERSET) $(VENV_LMS) $(VENV_OPENEDX) $(VENV_REFERENCE) .npm .pytest_cache .ruff_cache
