# ctrnn-bench. `make bench` and `make test` set up what is missing first.
PYTHON   ?= python3
VENV     ?= .venv
PY       := $(VENV)/bin/python

MODEL     ?= baselines
FRAMEWORK ?= all
DEVICE    ?= cpu
TASK      ?= flipflop-*
PROFILE   ?= quick
SEEDS     ?= 0
RESULTS   ?= results
OUTDIR    ?= leaderboard
FORCE     ?=
OPEN      ?=
IMPL      ?= fast
RESULT    ?=
NAME      ?=
EXECUTOR  ?= local
JOBS      ?= 1
ENSEMBLE  ?= 27
PART      ?=
N         ?=
L         ?=
GRID      ?= paper
TUNING_SEEDS ?= 0

# Set by the user (command line or environment), not by the defaults above.
given = $(filter command line environment environment override,$(origin $(1)))

.PHONY: setup data perf bench expressivity tune check-submission test test-fast leaderboard screenshots gpu-check analyze list lint clean

$(PY):
	$(PYTHON) -m venv --system-site-packages $(VENV) || $(PYTHON) -m venv --system-site-packages --without-pip $(VENV)

setup: $(PY)
	@$(PY) -m bench.tools.install $(if $(call given,MODEL),--model '$(MODEL)')

# The real data sets, into the data cache (.cache/data): installs the data extra if missing.
# `make bench` prepares what the tasks it runs lack by itself.
data: setup
	@$(PY) -m bench.tools.install --extra data
	@$(PY) -m bench data $(if $(filter 1 yes true,$(FORCE)),--force)

# The leaderboard is regenerated even when some cells diverged; the run's status is kept.
bench: setup
	@$(PY) -m bench run --model '$(MODEL)' --framework '$(FRAMEWORK)' --device '$(DEVICE)' \
		--task '$(TASK)' --profile '$(PROFILE)' --seeds '$(SEEDS)' --results-dir '$(RESULTS)' \
		--impl '$(IMPL)' --executor '$(EXECUTOR)' --jobs '$(JOBS)' --ensemble '$(ENSEMBLE)' \
		$(if $(TIME_LIMIT),--time-limit '$(TIME_LIMIT)') \
		$(if $(MEMORY_LIMIT),--memory-limit '$(MEMORY_LIMIT)') \
		$(if $(filter 1 yes true,$(OPEN)),--open) \
		$(if $(filter 1 yes true,$(FORCE)),--force); status=$$?; \
	if [ $$status -ne 2 ]; then \
		$(PY) -m bench leaderboard --results-dir '$(RESULTS)' --out '$(OUTDIR)' || exit $$?; fi; \
	exit $$status

# Expressivity: capacity searches over (model, N, L) on every expressivity-* task. Defaults:
# the task's grid for the profile and its models; JAX, the faster framework on a CPU.
expressivity: setup
	@$(PY) -m bench sweep expressivity --framework '$(if $(call given,FRAMEWORK),$(FRAMEWORK),jax)' \
		--device '$(DEVICE)' --profile '$(PROFILE)' --seeds '$(SEEDS)' --results-dir '$(RESULTS)' \
		--impl '$(IMPL)' --ensemble '$(ENSEMBLE)' $(if $(call given,MODEL),--models '$(MODEL)') $(if $(N),--N '$(N)') $(if $(L),--L '$(L)') \
		$(if $(filter 1 yes true,$(FORCE)),--force); status=$$?; \
	if [ $$status -ne 2 ]; then \
		$(PY) -m bench leaderboard --results-dir '$(RESULTS)' --out '$(OUTDIR)' || exit $$?; fi; \
	exit $$status

# External tuning: the task's declared grid (GRID, default the authors' 27 settings) on the
# tuning seeds, then the selected setting on SEEDS. Defaults: claim 1 under the authors'
# protocol (gnODE and nODE, N = 2, 2-bit square and ring, paper profile, JAX, seeds 1-5 after
# tuning on seed 0).
tune: setup
	@$(PY) -m bench tune --model '$(if $(call given,MODEL),$(MODEL),gnode,node)' \
		--task '$(if $(call given,TASK),$(TASK),flipflop-2bit-square,flipflop-2bit-ring)' \
		--framework '$(if $(call given,FRAMEWORK),$(FRAMEWORK),jax)' --device '$(DEVICE)' \
		--profile '$(if $(call given,PROFILE),$(PROFILE),paper)' \
		--seeds '$(if $(call given,SEEDS),$(SEEDS),1-5)' --grid '$(GRID)' \
		--tuning-seeds '$(TUNING_SEEDS)' --results-dir '$(RESULTS)' --impl '$(IMPL)' \
		--executor '$(EXECUTOR)' --jobs '$(JOBS)' --ensemble '$(ENSEMBLE)' \
		$(if $(filter 1 yes true,$(OPEN)),--open) \
		$(if $(filter 1 yes true,$(FORCE)),--force); status=$$?; \
	if [ $$status -ne 2 ]; then \
		$(PY) -m bench leaderboard --results-dir '$(RESULTS)' --out '$(OUTDIR)' || exit $$?; fi; \
	exit $$status

# One training step of every baseline under both implementations, beside torch.nn.GRU, and
# the sweeps over T and N (SWEEPS=0 skips them); writes results/perf and leaderboard/perf.md.
perf: setup
	$(PY) -m bench perf --device '$(DEVICE)' --framework '$(FRAMEWORK)' --results-dir '$(RESULTS)' \
		--out '$(OUTDIR)' $(if $(filter 0 no false,$(SWEEPS)),--no-sweeps) $(if $(PART),--part '$(PART)')

# Every CUDA path in one prepared command, for a lent GPU: OUT=<folder> gets results, pages, log.
gpu-check: $(PY)
	@test -n '$(OUT)' || { echo "error: give the output folder: make gpu-check OUT=<folder>"; exit 2; }
	$(PY) -m bench gpu-check --out '$(OUT)'

# A submission against the contract: metadata, build, shapes, gradients, seeds, a smoke run.
check-submission: setup
	@test -n '$(NAME)' || { echo "error: give the folder's name: make check-submission NAME=<name>"; exit 2; }
	@$(PY) -m bench.tools.install --model '$(NAME)'
	@$(PY) -m bench check 'submissions/$(NAME)'

leaderboard: setup
	$(PY) -m bench leaderboard --results-dir '$(RESULTS)' --out '$(OUTDIR)'

# The HTML site in headless Chromium (no console error), and docs/img's two screenshots.
screenshots: setup
	@$(PY) -m bench.tools.install --extra test --browser
	$(PY) -m bench screenshots --site '$(OUTDIR)/site' --out docs/img

# The memory metric and the attractor analysis again, from the checkpoints (RESULT=<file>: that
# one; default: every flip-flop result not analysed by this version; FORCE=1 redoes them).
analyze: setup
	$(PY) -m bench analyze $(if $(RESULT),--result '$(RESULT)',--results-dir '$(RESULTS)' \
		--task '$(if $(call given,TASK),$(TASK),flipflop-*)' $(if $(filter 1 yes true,$(FORCE)),--force))

list: setup
	@$(PY) -m bench list

# The data extra too, where it can be installed (its tests skip where it cannot).
# TEST_WORKERS pytest processes where pytest-xdist is installed (the test extra), one test file
# each at a time; without it, one process.
TEST_WORKERS ?= 2
test: setup
	@$(PY) -m bench.tools.install --extra data --optional
	@$(PY) -m bench.tools.install --extra test --optional --browser --model submissions
	@$(PY) -m bench.tools.install --extra ray --optional
	@if $(PY) -c "import xdist" 2>/dev/null; then w="-n $(TEST_WORKERS) --dist loadfile"; fi; \
	echo "$(PY) -m pytest -q $$w"; $(PY) -m pytest -q $$w

# The tests that start no process and train nothing (not marked slow): a couple of minutes.
test-fast: setup
	$(PY) -m pytest -q -m "not slow"

# Pinned, so that a new release of a checker never turns CI red by itself.
LINTERS = ruff==0.17.6 mypy==2.4.1 import-linter==2.17 types-PyYAML==6.0.12.20261122 \
	types-tabulate==0.10.0.20261006 pandas-stubs==3.1.0.261029

lint: setup
	@$(PY) -m pip install -q $(LINTERS) >/dev/null
	$(PY) -m ruff check bench tasks baselines submissions tests
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
