# Two commands on a fresh machine (see README):
#   make demo   installs everything into .venv and runs the main job on the built-in default
#   make test   installs everything into .venv and runs the tests
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch; install a CUDA build yourself first on a GPU machine.
TORCH ?= torch==2.13.0

.PHONY: install demo test
install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip show -q torch >/dev/null 2>&1 || $(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

demo: install  # mcid is kept out of the shipped history, so the demo is a target the library has never seen
	$(VENV)/bin/intertask recommend --target mcid

test: install
	$(PY) -m pytest -q
