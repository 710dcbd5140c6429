# kzlab: the two commands a new user runs are `make demo` and `make test` (as root).
# Each first runs the provisioning script, which installs what is missing and returns
# at once when everything is already there.
PY      := .venv/bin/python
S       ?= baseline
ARGS    ?=
DEMO    := kz2019_certificate

.PHONY: setup demo test run list clean bench lint

setup:
	@bash tools/setup/provision.sh

demo: setup
	$(PY) -m scenarios run $(DEMO)

test: setup
	$(PY) -m pytest

run: setup
	$(PY) -m scenarios run $(S) $(ARGS)

list: setup
	@$(PY) -m scenarios list

clean:
	@/usr/bin/python3 -m tools.lab.clean

bench: setup
	$(PY) -m bench

lint: setup
	$(PY) -m ruff check .
