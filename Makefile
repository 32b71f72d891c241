# kagglekit: `make demo` and `make test` work on a fresh machine (they create .venv first).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
KK := $(VENV)/bin/kagglekit
COMPETITION ?= demo-digits
SHARED ?= ../shared/data
PYTEST_ARGS ?=

.PHONY: venv test demo bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

demo: venv
	bash scripts/demo.sh $(COMPETITION)

# Issue 5: kagglekit vs ImageDataGenerator, image_dataset_from_directory and plain model.fit (~10 min).
bench: venv
	$(KK) bench -c dogs-vs-cats --data-dir $(SHARED)/dogs-vs-cats --out benchmarks/RESULTS.md $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
