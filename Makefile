# Two commands for a new user: `make test` and `make run`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 0.0.0.0
PORT ?= 8000

export HF_HUB_OFFLINE := 1
export PYTHONDONTWRITEBYTECODE := 1

DATASET ?= datasets/sim_default
RUN ?= runs/default
STORE ?= model_store/models

.PHONY: test run model bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,train,cdf,mseed]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

run: $(STAMP)
	$(PY) -m app --host $(HOST) --port $(PORT)

# Build the simulated dataset, cross-validate, train and export the default model (~45 min on 2 cores).
# Progress: a bar per simulated day while the dataset builds, then a log line per fold and epoch
# (--quiet only hides the per-batch bars).
model: $(STAMP)
	$(PY) -m training build-dataset --source sim --config configs/sim_default.yaml --out $(DATASET)
	$(PY) -m training cv --config configs/default_model.yaml --data $(DATASET) --out $(RUN)/cv --quiet
	$(PY) -m training train --config configs/default_model.yaml --data $(DATASET) --out $(RUN)/train --name default --quiet
	$(PY) -m training export --run $(RUN)/train --store $(STORE) --name default --cv-report $(RUN)/cv/report.json --default
	rm -rf docs/default_model_cv && cp -r $(RUN)/cv docs/default_model_cv

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
