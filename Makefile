# ladder's developer commands. `make dev` and `make test` work on a fresh
# machine: the first run creates .venv and installs from the repo's own files.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov and cfn-lint live apart: checkov pins an older boto3 than ladder's.
SCAN_VENV := .venv-scan
SCAN_STAMP := $(SCAN_VENV)/.installed

.PHONY: dev test lint bench soak synth clean

$(STAMP): layers/requirements-core.txt layers/requirements.txt layers/requirements-stream.txt layers/requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r layers/requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

$(SCAN_STAMP): layers/requirements-scan.txt
	test -x $(SCAN_VENV)/bin/python || $(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SCAN_VENV)/bin/python -m pip install --quiet -r layers/requirements-scan.txt
	touch $(SCAN_STAMP)

dev: $(STAMP)
	$(BIN)/python -m ladder_dev.dev

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint $(SCAN_STAMP)
	$(BIN)/pytest

# Lambda layers (pip wheels for arm64, no Docker) and every stage's template, cdk-nag included.
synth: $(STAMP)
	$(BIN)/python -m ladder_dev.build_layers
	$(BIN)/python -m ladder_dev.synth $(STAGES)

bench: $(STAMP)
	$(BIN)/python -m ladder_dev.bench

# A bounded mixed workload (60 s by default) on a local stack: figures, then invariants.
soak: $(STAMP)
	$(BIN)/python -m ladder_dev.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) $(SCAN_VENV) .bench .build cdk.out .pytest_cache .ruff_cache .hypothesis
