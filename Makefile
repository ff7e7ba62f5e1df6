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
INDEPENDENT ?= datasets/sim_independent
NO_PRECURSORS ?= datasets/sim_no_precursors
RUN ?= runs/default
STORE ?= model_store/models
REPORT ?= docs/default_model_report
# real quiet days for the sanity check and the injection-recovery curves: BMKG LUT, and Conrad Observatory
# (WIC) days: the full days of the workplace's shared data where present, else the 12 h in tests/data
SHARED_WIC := $(wildcard ../shared/data/iaga2002/wic*vsec.sec.gz)
REAL_DAYS ?= tests/data/S230101.LUT.gz $(if $(SHARED_WIC),$(SHARED_WIC),tests/data/wic20230712vsec_00-12h.sec.gz)
TRAIN := $(PY) -m training

.PHONY: test run model bench bench-archive clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,train,cdf,mseed,fast,archive]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

run: $(STAMP)
	$(PY) -m app --host $(HOST) --port $(PORT)

# The default (direction-aware) and the power-only model, every evaluation behind them, and their report
# (about 80 min on 2 cores; see docs/training.md), then the network stage's model fitted on a simulated dense array
# and measured on another (about 11 min more; docs/network.md). Progress: a log line per 50 simulated days, per
# fold and per epoch, per 10 days through the network chain. Each step writes into $(RUN); the models are exported
# last, the network model tied to the default model just exported.
model: $(STAMP)
	$(TRAIN) build-dataset --source sim --config configs/sim_default.yaml --out $(DATASET) --quiet
	$(TRAIN) build-dataset --source sim --config configs/sim_independent.yaml --out $(INDEPENDENT) --quiet
	$(TRAIN) build-dataset --source sim --config configs/sim_no_precursors.yaml --out $(NO_PRECURSORS) --quiet
	$(TRAIN) cv --config configs/default_model.yaml --data $(DATASET) --out $(RUN)/cv_loeo --quiet
	$(TRAIN) cv --config configs/power_model.yaml --data $(DATASET) --out $(RUN)/cv_loeo_power --no-controls --quiet
	$(TRAIN) cv --config configs/default_model.yaml --data $(DATASET) --out $(RUN)/cv_loso --scheme loso --folds 3 --no-controls --quiet
	$(TRAIN) cv --config configs/default_model.yaml --data $(NO_PRECURSORS) --out $(RUN)/cv_no_precursors --max-folds 2 --no-controls --quiet
	$(TRAIN) cv --config configs/station_model.yaml --data $(DATASET) --out $(RUN)/cv_loeo_station --no-controls --quiet
	$(TRAIN) cv --config configs/station_model.yaml --data $(DATASET) --out $(RUN)/cv_loso_station --scheme loso --folds 3 --no-controls --quiet
	$(TRAIN) train --config configs/default_model.yaml --data $(DATASET) --out $(RUN)/train --name default --quiet
	$(TRAIN) train --config configs/power_model.yaml --data $(DATASET) --out $(RUN)/train_power --name power --quiet
	$(TRAIN) train --config configs/station_model.yaml --data $(DATASET) --out $(RUN)/train_station --name station --quiet
	$(TRAIN) evaluate --run $(RUN)/train --data $(INDEPENDENT) --out $(RUN)/independent.json
	$(TRAIN) evaluate --run $(RUN)/train_power --data $(INDEPENDENT) --out $(RUN)/independent_power.json
	$(TRAIN) evaluate --run $(RUN)/train_station --data $(INDEPENDENT) --out $(RUN)/independent_station.json
	$(TRAIN) station-eval --config configs/sim_default.yaml --runs $(RUN)/train $(RUN)/train_power $(RUN)/train_station --out $(RUN)/station_eval.json
	$(TRAIN) real-check --run $(RUN)/train --real $(REAL_DAYS) --config configs/sim_default.yaml --out $(RUN)/real_check.json
	$(TRAIN) real-check --run $(RUN)/train_power --real $(REAL_DAYS) --config configs/sim_default.yaml --out $(RUN)/real_check_power.json
	$(TRAIN) ceilings --data $(DATASET) --out $(RUN)/ceilings.json
	$(TRAIN) sim-check --config configs/sim_default.yaml --real $(REAL_DAYS) --days 30 --out $(RUN)/sim_check.json > $(RUN)/sim_check.md
	$(TRAIN) network-fit --run $(RUN)/train --out $(RUN)/network_fit.json
	$(TRAIN) network-eval --run $(RUN)/train --network $(RUN)/network_fit.json --out $(RUN)/network_eval.json
	rm -rf $(REPORT) && mkdir -p $(REPORT)
	for r in cv_loeo cv_loeo_power cv_loeo_station cv_loso cv_loso_station cv_no_precursors; do cp -r $(RUN)/$$r $(REPORT)/$$r; done
	cp $(RUN)/station_eval.json $(REPORT)/station_eval.json
	cp $(RUN)/sim_check.md $(REPORT)/sim_check.md
	cp $(RUN)/network_eval.json $(REPORT)/network_eval.json
	$(TRAIN) model-report --runs $(RUN) --out $(REPORT)
	$(TRAIN) export --run $(RUN)/train --store $(STORE) --name default --metrics $(REPORT)/metrics_default.json --default
	$(TRAIN) export --run $(RUN)/train_power --store $(STORE) --name power --metrics $(REPORT)/metrics_power.json
	$(TRAIN) export --run $(RUN)/train_station --store $(STORE) --name station --metrics $(REPORT)/metrics_station.json
	$(TRAIN) network-export --network $(RUN)/network_fit.json --evaluation $(RUN)/network_eval.json --model-store $(STORE) --model default

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

# The archive runner's speed: in-process loop vs Dask with one and two workers, per-task overhead, a year of one
# station's days end to end, and a projection to 10^6 station-days (a few minutes; docs/archive.md)
bench-archive: $(STAMP)
	$(PY) -m benchmarks.archive
