# The two commands a newcomer needs (see README.md):
#   make dev   — install everything, then run hub + proxy + dev cluster with the sample courses
#   make test  — install everything (Chromium and PostgreSQL included), then lint and run the whole test suite
.PHONY: dev test setup setup-browser lint unit bench clean helm-catalog

dev: setup
	.venv/bin/coursehub dev $(ARGS)

# Two modules at a time, each module on one worker (its platform fixture is module-scoped);
# TEST_WORKERS=0 runs one after the other, in the suite order tests/conftest.py sets.
TEST_WORKERS ?= 2

test: setup-browser lint
	.venv/bin/pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

setup:
	scripts/bootstrap.sh

setup-browser:
	scripts/bootstrap.sh --browser --postgres

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

unit: setup
	.venv/bin/pytest tests/unit $(PYTEST_ARGS)

bench: setup
	.venv/bin/python bench/spawn.py $(ARGS)
	.venv/bin/python bench/exchange.py
	.venv/bin/python bench/autograde.py --students 100
	.venv/bin/python bench/admission.py
	.venv/bin/python bench/upload_lag.py
	.venv/bin/python bench/gpu_fleet.py
	.venv/bin/python bench/metrics_scrape.py
	.venv/bin/python bench/storm.py

# Copy courses/ into the Helm chart (helm/coursehub/files/courses) and record its checksum.
helm-catalog: setup
	.venv/bin/python scripts/sync_helm_catalog.py

clean:
	rm -rf .coursehub-dev .pytest_cache test-artifacts
