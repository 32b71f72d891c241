# kagglekit: `make demo` and `make test` work on a fresh machine (they create .venv first).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
KK := $(VENV)/bin/kagglekit
COMPETITION ?= demo-digits
SHARED ?= ../shared/data
PYTEST_ARGS ?=

.PHONY: venv test test-e2e demo bench soak clean kaggle-env kaggle-env-test

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# The default tier: unit and integration tests (tests/unit, tests/integration), five minutes at most on two
# cores. -n auto: one pytest worker per core (pytest-xdist).
test: venv
	$(PY) -m pytest -n auto -m "unit or integration" $(PYTEST_ARGS)

# The end-to-end tier (tests/e2e): real kernel sessions, reruns, fan-out, kill -9 and resume, the bench run;
# then the kernel tests again in the venv pinned to Kaggle's image.
test-e2e: venv
	$(PY) -m pytest -n auto -m e2e $(PYTEST_ARGS)
	$(MAKE) kaggle-env-test

demo: venv
	bash scripts/demo.sh $(COMPETITION)

# Issue 5: kagglekit vs ImageDataGenerator, image_dataset_from_directory and plain model.fit (~10 min).
bench: venv
	$(KK) bench -c dogs-vs-cats --data-dir $(SHARED)/dogs-vs-cats --out benchmarks/RESULTS.md $(BENCH_ARGS)

# Issue 24: the soak: 200 submits after random faults, 50 fetches with cut and silent downloads, 4 kill -9s of
# train and kernel output, against a sandbox on loopback with the stock client (SOAK_ARGS, e.g. --submits 20).
soak: venv
	nice -n 10 $(KK) soak $(SOAK_ARGS)

# Issue 4: the kernel tests in an environment pinned to Kaggle's Python image, so a kernel never needs
# newer releases than Kaggle has (TensorFlow 2.19, Keras 3.13, pandas 2.3, scikit-learn 1.6, Pillow 11.3).
# nbclient and ipykernel: the sandbox runs notebook kernels with them (Kaggle's image has both).
KAGGLE_VENV ?= .venv-kaggle
KAGGLE_PINS := "tensorflow==2.19.*" "keras==3.13.*" "pandas==2.3.*" "scikit-learn==1.6.*" "pillow==11.3.*" \
	"typer==0.24.*" rich "kaggle>=1.7" matplotlib pytest pytest-xdist scipy nbclient ipykernel nbformat

kaggle-env: $(KAGGLE_VENV)/.installed

$(KAGGLE_VENV)/.installed: Makefile
	$(PYTHON) -m venv $(KAGGLE_VENV)
	$(KAGGLE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(KAGGLE_VENV)/bin/python -m pip install --quiet $(KAGGLE_PINS)
	$(KAGGLE_VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $@

kaggle-env-test: kaggle-env
	$(KAGGLE_VENV)/bin/python -m pytest -n auto -p no:cacheprovider tests/integration/test_kernel.py tests/integration/test_code_competition.py \
		tests/integration/test_kernel_notebooks.py tests/e2e/test_notebook_kernels.py tests/e2e/test_weights_in_kernel.py \
		tests/e2e/test_kernels_end_to_end.py tests/e2e/test_code_competition_reruns.py $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(KAGGLE_VENV) build *.egg-info .pytest_cache
