# kzlab: the two commands a new user runs are `make demo` and `make test` (as root).
# Each first runs the provisioning script, which installs what is missing and returns
# at once when everything is already there. On a machine without make, `./kzlab demo`
# and `./kzlab test` install make first and then run these targets.
PY      := .venv/bin/python
S       ?= baseline
ARGS    ?=
WORKERS ?= 2
DEMO    := kz2019_certificate

.PHONY: setup demo test test-fresh-root run list clean bench lint

setup:
	@bash tools/setup/provision.sh

demo: setup
	$(PY) -m scenarios run $(DEMO)

# The suite, then alone the tests that judge every run on the machine (mark serial).
# WORKERS=N shares the first part between N pytest-xdist workers, each module on one (its
# lab built once) and the scenario plays on one (tests/conftest.py); WORKERS=0 runs it in
# one process. Two workers suit the 2-core machine the suite is sized for (about 11 minutes
# of tests against 20 in one process; README). --no-loadscope-reorder hands the groups out
# in collection order, so the plays (sorted first: tests/lab/conftest.py), the longest
# group, start at once rather than after every group that has more tests.
test: setup
	$(PY) -m pytest -n $(WORKERS) --dist loadgroup --no-loadscope-reorder -m 'not fresh_root and not serial'
	$(PY) -m pytest -m serial

# On demand (minutes): a minimal Debian root from debootstrap plays `./kzlab demo`.
test-fresh-root: setup
	$(PY) -m pytest -m fresh_root -rA tests/minimal

run: setup
	$(PY) -m scenarios run $(S) $(ARGS)

list: setup
	@$(PY) -m scenarios list

# No python3 yet: nothing was ever provisioned, so no run can have left anything.
clean:
	@if [ -x /usr/bin/python3 ]; then /usr/bin/python3 -m tools.lab.clean; else echo "kzlab clean: nothing to clean"; fi

bench: setup
	$(PY) -m bench

# Style (ruff), the layers importing one way (import-linter contract in pyproject.toml),
# and types (mypy).
lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	.venv/bin/lint-imports
	$(PY) -m mypy
	for lab in labs/[0-9][0-9]-*/; do $(PY) -m mypy $$(find "$$lab" -name '*.py') || exit 1; done

# Course labs (labs/INSTRUCTORS.md): a student's sealed lab, the checker, the student
# copy, and a class's grades.
L          ?= 1
STUDENT    ?=
SUBMISSION ?= lab$(L)-work
OUT        ?= handout
SUBMISSIONS ?= submissions

.PHONY: lab check handout grade-all walkthrough

lab: setup
	$(PY) -m labs lab $(L) --student "$(STUDENT)" $(ARGS)

check:
	@$(PY) -m labs check $(L) --student "$(STUDENT)" --submission "$(SUBMISSION)" $(ARGS)

handout:
	@$(PY) -m labs handout --out "$(OUT)"

grade-all:
	@$(PY) -m labs grade-all $(L) --submissions "$(SUBMISSIONS)" $(ARGS)

# A handout's commands typed as written, as a new student types them (lab N's Mininet CLI
# for the `mininet>` lines); exit 0 only when every one ran.
walkthrough: setup
	$(PY) -m labs walkthrough $(L) --student "$(STUDENT)" $(ARGS)
