# Two commands do everything on a fresh machine with Python 3.11, git and make:
#   make book   -> .venv with the pinned environment, then the site in _build/html
#   make test   -> the same environment, then the whole test suite
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: all setup jupyter-roles instructor-lab book book-solutions test test-fast lint format screenshots bench mutation mutation-grading lock clean

all: book

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Re-install only when the lock or the package metadata changes.
$(STAMP): requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	$(MAKE) --no-print-directory jupyter-roles
	touch $(STAMP)

setup: $(STAMP)

# A learner's JupyterLab shows the learner's tools only. nbgrader's install enables all its
# extensions for everyone in the environment; the instructor's (formgrader, create assignment)
# and those that need an exchange (course and assignment lists, which otherwise say "Error
# fetching courses!") are disabled for the environment here, and `make instructor-lab` enables
# them again through the config folder tools/jupyter-instructor/ (JUPYTER_CONFIG_PATH).
# Validate stays. A JupyterHub with an exchange enables the learners' assignment list again
# (see the instructor guide).
INSTRUCTOR_SERVER_EXTENSIONS := nbgrader.server_extensions.formgrader \
	nbgrader.server_extensions.course_list nbgrader.server_extensions.assignment_list
INSTRUCTOR_LAB_PLUGINS := @jupyter/nbgrader:formgrader @jupyter/nbgrader:create-assignment \
	@jupyter/nbgrader:course-list @jupyter/nbgrader:assignment-list
INSTRUCTOR_JUPYTER := $(CURDIR)/tools/jupyter-instructor

jupyter-roles: | $(BIN)/python
	$(BIN)/jupyter server extension disable --sys-prefix $(INSTRUCTOR_SERVER_EXTENSIONS) >/dev/null
	$(BIN)/jupyter labextension disable --level=sys_prefix $(INSTRUCTOR_LAB_PLUGINS) >/dev/null

# The instructor's JupyterLab, in the course folder: formgrader at /formgrader, create assignment.
instructor-lab: $(STAMP)
	JUPYTER_CONFIG_PATH=$(INSTRUCTOR_JUPYTER)$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH} $(BIN)/jupyter lab

book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going

# Self-learner edition: worked solutions in collapsible blocks, built into _build/solutions/_build/html.
book-solutions: $(STAMP)
	RNNCOURSE_SHOW_SOLUTIONS=1 $(BIN)/jupyter-book build . -W -n --keep-going --path-output _build/solutions

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

screenshots: $(STAMP)
	$(BIN)/python -m tests.site_screenshots

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_rnn.py

# Mutation testing ([tool.mutmut] in pyproject.toml) in its own virtualenv that sees the course's
# packages; make test never needs it. make mutation: the numerical core, about an hour on two
# cores; make mutation-grading: the grading core (rnncourse/grading but the ex*.py spec modules).
# Both share mutants/ and the test selection; each names its mutants, so each reruns them all.
MUTMUT := /tmp/rnncourse-mutmut
NUMERICAL_MUTANTS := "rnncourse.rnn.*" "rnncourse.lstm.*" "rnncourse.lstm_fused.*" \
	"rnncourse.gru.*" "rnncourse.bptt.*"
GRADING_MUTANTS := "rnncourse.grading.*"
# mutmut forks one child per mutant after torch has started its OpenMP threads; GNU OpenMP is not
# fork-safe, and such a child blocks for ever at no CPU (so mutmut's CPU-time limit never ends it).
MUTMUT_RUN := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(MUTMUT)/bin/mutmut run --max-children 2

$(MUTMUT)/bin/mutmut: | $(STAMP)
	$(PYTHON) -m venv $(MUTMUT)
	$(MUTMUT)/bin/pip install --quiet mutmut==3.8.1
	$(BIN)/python -c "import sysconfig; print(sysconfig.get_path('purelib'))" \
	  > $$($(MUTMUT)/bin/python -c "import sysconfig; print(sysconfig.get_path('purelib'))")/course.pth

mutation: $(STAMP) $(MUTMUT)/bin/mutmut
	$(MUTMUT_RUN) $(NUMERICAL_MUTANTS); $(MUTMUT)/bin/mutmut results

mutation-grading: $(STAMP) $(MUTMUT)/bin/mutmut
	$(MUTMUT_RUN) $(GRADING_MUTANTS); $(MUTMUT)/bin/mutmut results

# Regenerate the pinned environment from requirements.in (needs the registry).
lock:
	rm -rf /tmp/rnncourse-lock && $(PYTHON) -m venv /tmp/rnncourse-lock
	/tmp/rnncourse-lock/bin/pip install --quiet -r requirements.in
	(echo "# Pinned environment shared by learners, graders and CI. Regenerate with 'make lock'."; \
	 /tmp/rnncourse-lock/bin/pip freeze --exclude-editable | sed 's/+cpu$$//') > requirements.lock

clean:
	rm -rf _build
