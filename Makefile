# The two commands: `make run` (the main job on data_samples/) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# CPU build of torch; GPU users install their CUDA build into the venv first (see README).
TORCH_SPEC ?= torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: run test venv clean samples bench

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/vtkit run --out reports/sample --publish README.md

test: $(STAMP)
	$(BIN)/python -m pytest -q

samples: $(STAMP)
	$(BIN)/python -m vtkit.samples --out data_samples

bench: $(STAMP)   # each benchmark's table goes into its README block (bench/publish.py)
	for b in bench/bench_*.py; do $(BIN)/python bench/publish.py $$(basename $$b .py) -- $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
