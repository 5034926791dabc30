# One-command entry points. Each sets up .venv (and the EGL system libraries) on first use.
#   make figures [SCALE=smoke|cpu|full] [ONLY=00,11] [FORCE=1]   regenerate figures: the workflow (workflow/Snakefile)
#                [CORES=all] [GPUS=n]                           on this machine's cores and GPUs
#   make test                                                      the unit tier (minutes)
#   make check                                                     everything CI runs: the generated pages, every test
#   make bench [BENCH=name]                                        benchmarks -> bench/results/
#   make lab [LAB_ARGS=--allow-root]                               JupyterLab on notebooks/ (edits reach the .py sources)
#   make report [SCALE=full|cpu|smoke]                              the write-up as one HTML page -> build/report/<scale>/
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
SCALE ?= cpu
ONLY ?=
CORES ?= all
GPUS ?= $(shell nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
BENCH ?=
STAMP := $(VENV)/.setup-stamp
# a notebook stopped or failed runs again next time; whether it must run is its source hash, not file metadata
KEEP := --rerun-incomplete --keep-incomplete --rerun-triggers mtime

.PHONY: setup figures test check bench sync clean-build lab report

$(STAMP): pyproject.toml scripts/setup_env.sh
	VENV=$(VENV) bash scripts/setup_env.sh
	touch $@

setup: $(STAMP)

figures: $(STAMP)
	$(VENV)/bin/snakemake -s workflow/Snakefile --cores $(CORES) --resources gpu=$(or $(GPUS),0) $(KEEP) \
	  --config scale=$(SCALE) gpus=$(or $(GPUS),0) $(if $(ONLY),only=$(ONLY)) $(if $(FORCE),force=1) $(SNAKEMAKE_ARGS)
	$(PY) -m sdfnets.repro.workflow drift --scale $(SCALE)

# the report's scale: the one with committed values unless SCALE is given
report: $(STAMP)
	$(PY) -m sdfnets report --scale $(if $(filter command line environment,$(origin SCALE)),$(SCALE),full)

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile -q -m "not slow"

check: $(STAMP)
	$(PY) -m sdfnets.repro.results --check
	$(PY) -m pytest -n 2 --dist loadfile -q

bench: $(STAMP)
	$(PY) bench/run.py $(BENCH)

# keep the .ipynb copies in step with the reviewed py:percent sources
sync: $(STAMP)
	$(VENV)/bin/jupytext --sync notebooks/[0-9][0-9]_*.py

# JupyterLab with the project's kernel (.venv's python3); jupytext pairs every .ipynb with its
# py:percent source, so an edit saved in the lab lands in the reviewed .py file
$(VENV)/.lab-stamp: $(STAMP)
	$(PY) -m pip install -q -e ".[lab]"
	touch $@

lab: $(VENV)/.lab-stamp
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(LAB_ARGS)

clean-build:
	rm -rf build
