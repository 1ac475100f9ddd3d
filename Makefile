# Two commands on a fresh machine: `make report` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install data train report docs notebook test test-fast bench clean

# torch is pinned first: its CPU wheel lies on this machine's disk, while an unpinned `torch`
# would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

data: install
	$(VENV)/bin/nnscope data

train: install
	$(VENV)/bin/nnscope train

report: install
	$(VENV)/bin/nnscope report

# docs/results.md: the sentences of the current default report, measured, not copied by hand
docs: report
	cp report/results.md docs/results.md

# the tutorial (docs/tutorial.ipynb) in JupyterLab from the project's venv (the test extra brings JupyterLab and anywidget);
# JupyterLab refuses to start as root (a container's user) without --allow-root
notebook: install
	$(VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) docs/tutorial.ipynb

test: install
	$(VENV)/bin/nnscope data >/dev/null
	$(PY) -m pytest -q

# the unit tests alone: no real data, no training
test-fast: install
	$(PY) -m pytest -q -m "not slow and not browser"

bench: install
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) runs report .pytest_cache
