# make       set up .venv, fetch the example models and photos, build project.yaml
# make test  the same set-up plus test dependencies, then the test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
DOIT   := $(VENV)/bin/doit

.PHONY: all setup test toolenvs system-test-deps lint clean
all: setup
	$(DOIT)

setup: $(VENV)/.installed data/photos/.copied data/digits/.written

# uv (its pin in requirements.txt) installs the pinned requirements: the same packages as pip, in about
# 16 s instead of a minute (it reads PyPI, or UV_INDEX_URL).  It compiles their bytecode as pip does: without
# it, a process that imports TensorFlow where .pyc files are not written (PYTHONDONTWRITEBYTECODE) compiles
# it again, 16 s instead of 6.  The checkout itself goes in editable, without dependencies: that registers
# its doit plugins (build database, build lock, `doit explain`).
UV_INSTALL := $(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(PY)

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check $$(grep '^uv==' requirements.txt)
	$(UV_INSTALL) -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.installed-test: requirements-test.txt $(VENV)/.installed
	$(UV_INSTALL) -r requirements-test.txt
	touch $@

# the example's photographs, and 16 crops, shrinks and mirror images of each (data/augmented)
data/photos/.copied: $(VENV)/.installed tasks/model/example_data.py
	$(PY) -m tasks.model.example_data data/photos data/augmented
	touch $@

# the 450 digits of scikit-learn that models/digits.py does not train on, one folder per class
data/digits/.written: $(VENV)/.installed models/digits.py
	$(PY) models/digits.py data/digits
	touch $@

# the test files shared out over two processes (a file's tests stay together, with its fixtures), each on
# cores of its own (tests/conftest.py); TEST_WORKERS=0 runs them in this one
TEST_WORKERS ?= 2

test: setup $(VENV)/.installed-test system-test-deps toolenvs
	$(DOIT) fetch
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=12 tests

# Tool environments (tasks/model/toolenvs/*.txt): converters whose pins clash with ours, each in a
# virtualenv of its own under ~/.cache/npuforge/toolenvs (NPUFORGE_TOOLENVS), made once per lock.
toolenvs: $(VENV)/.installed
	$(PY) -m tasks.model.toolenv

# Debian packages the tests use: Chromium renders the HTML report, OpenSSH's server is the test board,
# adb is the other transport to boards.
system-test-deps:
	@if ! command -v chromium >/dev/null || ! test -x /usr/sbin/sshd || ! command -v adb >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    chromium openssh-server openssh-client adb; fi

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	$(DOIT) clean || true
	rm -rf build
