# SeMask-FPN offline-inference kit: Cityscapes in, mIoU and fps out, on Ascend (atc + ais_bench)
# or ONNX Runtime. One file target per artifact; `make help` lists the verbs and variables.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.SUFFIXES:
MAKEFLAGS += --no-builtin-rules --no-print-directory
.DEFAULT_GOAL := help

# ------------------------------------------------------------------------------ the run's plan
# One Python call while make reads this file (tools/plan_run.py -> semask/run/plan.py): it refuses unknown
# command-line variables and bad values (one line each, exit 2, nothing written), resolves BACKEND, SOC
# and the dataset's native size, takes the ARTIFACTS lock, refreshes the stamps, and writes every
# variable, fact and artifact path below into an include. Rules use those names; Python reads the same
# plan back from $(PLAN_JSON). Under make -n / -q nothing under ARTIFACTS is written.
DRY_RUN := $(if $(findstring n,$(filter-out --%,$(firstword -$(MAKEFLAGS)))),1,$(if $(findstring q,$(filter-out --%,$(firstword -$(MAKEFLAGS)))),1))
CMDLINE_VARS := $(foreach v,$(.VARIABLES),$(if $(filter command line,$(origin $(v))),$(v)))
# shell-quote a value (paths may hold spaces)
q = '$(subst ','\'',$(1))'
# the interpreter of parse-time work (standard library only): the venv once it exists, else the host's python3
# (HOST_PYTHON names the interpreter that creates .venv: env/check_host.py checks it first); a python3 older than
# 3.7 (the plan's syntax) is replaced by HOST_PYTHON or the first python3.14 ... python3.11, with a one-line note
HOST_PY := $(if $(wildcard $(or $(PYTHON),.venv/bin/python)),$(or $(PYTHON),.venv/bin/python),$(shell python3 \
    env/check_host.py parse-python $(if $(HOST_PYTHON),--python $(call q,$(HOST_PYTHON)))))
ifeq ($(HOST_PY),)
$(error no Python for make's parse-time work (the line above says why); nothing was run)
endif
PLAN_MK := $(shell $(HOST_PY) tools/plan_run.py --owner-pid $$PPID --goals $(call q,$(or $(MAKECMDGOALS),help)) \
    $(if $(DRY_RUN),--dry-run) $(foreach v,$(CMDLINE_VARS),$(call q,$(v)=$($(v)))))
# the plan says on failure whether a variable is to blame (!variables) or not (!failed: lines above say why)
ifeq ($(PLAN_MK),!variables)
$(error the make variables above need fixing (`make help` lists them); nothing was run)
endif
ifeq ($(filter-out !%,$(PLAN_MK)),)
$(error nothing was run (the error above says why))
endif
include $(PLAN_MK)

PY_DEP := $(if $(filter .venv/bin/python,$(PYTHON)),.venv/.installed)
PY := $(PYTHON)
# a pipeline step: every value it needs comes from the run's plan (semask/run/steps.py)
STEP := $(PY) -m semask

# A step that may leave its manifest unchanged refreshes its mtime, but never creates an empty one.
refresh = $(PY) -c 'import json, os, sys; json.load(open(sys.argv[1])); os.utime(sys.argv[1])' $(1) \
    || { echo "error: $(1) is missing or unreadable after its step; this is a kit bug, please report it" >&2; exit 1; }

# ------------------------------------------------------------------------------ verbs
.PHONY: help all perf demo clean distclean env test bench weights labels bins onnx om preds report \
        upstream crosscheck table tables reproduce atc-check verify platforms fp16-check

help:
	@echo "SeMask-FPN inference kit"
	@echo
	@echo "verbs:"
	@echo "  make all BS=4      weights -> labels -> bins -> ONNX -> onnxsim -> (atc) -> infer -> score -> table"
	@echo "  make perf BS=8     pure-inference throughput of that batch size"
	@echo "  make reproduce     the published table: BS_LIST x PRECISIONS, mIoU + fps beside the published figures"
	@echo "  make demo          the whole pipeline on synthetic data with random weights (no downloads)"
	@echo "  make env           create .venv from env/requirements.txt (HOST_PYTHON=/path/to/python3.11) and check it"
	@echo "  make platforms     resolve every pin for cp311 manylinux_2_28 x86_64 and aarch64 (needs the registry)"
	@echo "  make test          run the test suite"
	@echo "  make bench         run the benchmarks in bench/ (writes bench/out/)"
	@echo "  make clean         remove what the kit made under \$$(ARTIFACTS) (refuses if anything else is there)"
	@echo "  make distclean     clean, and remove downloads (weights, upstream clone), data/demo and the venvs"
	@echo "  make table         print the results table of the last run again (RUN=<name>: another run)"
	@echo "  make tables        one table of every run under \$$(ARTIFACTS)"
	@echo "  make verify        re-hash every artifact against its manifest/sidecar; marks what changed for make all"
	@echo "  steps: weights labels bins onnx om preds report upstream crosscheck"
	@echo "  make atc-check     (Ascend) atc's pre-check of the graph: unsupported ops and why"
	@echo "  make fp16-check    the 310P's fp16 numerics predicted on the CPU: SQNR, costly ops, a keep_dtype cfg for atc"
	@echo
	@echo "variables (default), on the command line or in the environment; any other command-line name is refused:"
	@$(HOST_PY) tools/semask/spec.py --variables

all: $(REPORT)

perf: $(PERF_JSON)
	@$(STEP) perf-table --plan $(PLAN_JSON)

# the last run (reports/latest), or RUN=<name>; needs no pipeline variables
table: | $(PY_DEP)
	@$(PY) tools/results_table.py run --artifacts $(call q,$(A)) $(if $(RUN),--run $(call q,$(RUN)))

tables: | $(PY_DEP)
	@$(PY) tools/results_table.py all --artifacts $(call q,$(A))

# the tool exits 1 (make: "Error 1", exit 2) when a file changed behind make's back; the next `make all` redoes its step
verify: | $(PY_DEP)
	@$(PY) tools/verify_artifacts.py --artifacts $(call q,$(A))

# every (BS, precision) through the file targets below, run by recursive make: artifacts are reused
reproduce: | $(PY_DEP)
	@$(PY) tools/reproduce.py --plan $(PLAN_JSON) --make $(call q,$(MAKE)) --command $(call q,$(COMMAND))

weights: $(WEIGHTS_DEP)
labels: $(LABELS_JSON)
bins: $(BINS)
onnx: $(ONNX_USED)
om: $(OM)
preds: $(PRED_SUMMARY)
report: $(REPORT)
upstream: $(UPSTREAM_DIR).stamp

env: .venv/.installed
	$(HOST_PY) tools/mark_artifacts.py --artifacts $(call q,$(A)) --checkout $(call q,$(CURDIR))
	$(PY) tools/check_env.py --out $(A)/env/env_check.json --need all

test: | $(PY_DEP)
	$(PY) -m pytest -q

# every pin resolved for cp311 on manylinux_2_28 x86_64 and aarch64 (pip --dry-run --report; needs the registry)
platforms: | $(PY_DEP)
	@$(PY) tools/check_platforms.py --requirements env/requirements.txt

bench: | $(PY_DEP)
	$(PY) bench/run_all.py --out bench/out

clean:
	@$(HOST_PY) tools/clean_artifacts.py --artifacts $(call q,$(ARTIFACTS)) --data-root $(call q,$(DATA_ROOT)) \
	    --checkout $(call q,$(CURDIR)) $(if $(filter 1,$(NOWAIT)),--nowait)

distclean: clean
	rm -rf data/weights data/upstream data/demo .venv .venv.partial env/upstream/venv .make

# ------------------------------------------------------------------------------ demo (no downloads)
DEMO_A := $(ARTIFACTS)/demo
# an input, so it lives in data/ (outside any ARTIFACTS): `make clean` keeps it, `make distclean` removes it
# shared by every ARTIFACTS: the stamp names the set's size, so another DEMO_IMAGES/HEIGHT/WIDTH remakes it
DEMO_DONE := $(DEMO_DATA)/.complete-$(DEMO_IMAGES)-$(DEMO_HEIGHT)x$(DEMO_WIDTH)
demo: $(DEMO_DONE)
	@$(HOST_PY) tools/mark_artifacts.py --artifacts $(call q,$(ARTIFACTS)) --checkout $(call q,$(CURDIR))
	$(MAKE) all ARTIFACTS=$(DEMO_A) MODEL=$(DEMO_MODEL) WEIGHTS=$(DEMO_WEIGHTS) DATA_ROOT=$(DEMO_DATA) LIMIT=$(DEMO_IMAGES) \
	    BACKEND=ort ORT_PROVIDER=cpu HEIGHT=$(DEMO_HEIGHT) WIDTH=$(DEMO_WIDTH) BS=$(BS) SMOKE=1
	@$(STEP) demo-latest --plan $(PLAN_JSON)

$(DEMO_DONE): | $(PY_DEP)
	rm -rf $(DEMO_DATA).partial
	$(PY) tools/make_synthetic_cityscapes.py --out $(DEMO_DATA).partial --num $(DEMO_IMAGES) --height $(DEMO_HEIGHT) --width $(DEMO_WIDTH)
	echo $(DEMO_IMAGES) > $(DEMO_DATA).partial/$(notdir $(DEMO_DONE))
	rm -rf $(DEMO_DATA) && mv $(DEMO_DATA).partial $(DEMO_DATA)

# ------------------------------------------------------------------------------ pipeline
# HOST_PYTHON names the interpreter that creates .venv (else the first python3.14 ... python3.11, python3 on PATH
# that is >= 3.11); env/check_host.py also checks glibc, the machine and the free disk before pip runs. The venv is
# built as .venv.partial and renamed when complete, so a failed or killed `make env` leaves no half-made .venv.
.venv/.installed: env/requirements.txt pyproject.toml
	@checker=$$(command -v python3 || command -v python || echo $(call q,$(HOST_PYTHON))); \
	venv_python=$$("$$checker" env/check_host.py check --checkout . $(if $(HOST_PYTHON),--python $(call q,$(HOST_PYTHON)))); \
	echo "creating .venv with $$venv_python ($$("$$venv_python" -c 'import sys; print(sys.version.split()[0])'))"; \
	rm -rf .venv.partial; \
	"$$venv_python" -m venv .venv.partial; \
	.venv.partial/bin/python -m pip install -q --upgrade pip; \
	.venv.partial/bin/python -m pip install -r env/requirements.txt; \
	.venv.partial/bin/python -m pip install -q --no-deps --no-build-isolation -e .; \
	.venv.partial/bin/python env/check_host.py relocate --venv .venv.partial --to .venv; \
	.venv.partial/bin/python -c 'import sys; print(sys.version)' > .venv.partial/.installed; \
	rm -rf .venv.old; if [ -e .venv ] || [ -L .venv ]; then mv .venv .venv.old; fi; \
	mv .venv.partial .venv; rm -rf .venv.old

$(A)/onnx $(A)/om $(A)/preds $(A)/reports $(A)/perf $(A)/env data/weights:
	$(STEP_UMASK) mkdir -p $@

$(ENV_JSON): | $(PY_DEP) $(A)/env
	$(STEP_PREFIX) $(STEP) env --plan $(PLAN_JSON)

data/weights/semask_%.pth: | $(PY_DEP) data/weights
	$(PY) tools/fetch_weights.py --model $* --out $@ --lock env/weights.lock

$(UPSTREAM_DIR).stamp: | $(PY_DEP)
	$(PY) tools/fetch_upstream.py --dest $(UPSTREAM_DIR) --repo $(call q,$(UPSTREAM_REPO)) --commit $(SPEC_UPSTREAM_COMMIT)

# Each step reads every value from the run's plan ($(PLAN_JSON), semask/run/steps.py): the recipes name the step
# only, the same for every backend (the plan's STEP_PREFIX is Ascend's umask 027 and CANN's set_env.sh, else empty).
# By hand, each step is also a CLI with plain flags, e.g.
#   .venv/bin/python tools/export_onnx.py --model reduced --weights tests/fixtures/weights_reduced.npz --out x.onnx
# Each step's code comes from spec.STEP_CODE, the table its in-code fingerprint reads too.
# Labels are always made at the dataset's native size (they do not depend on HEIGHT/WIDTH).
$(LABELS_JSON): $(wildcard $(DATA_STAMP)) $(wildcard $(LABELS_CHECK)) $(SPEC_CODE_LABELS) | $(PY_DEP) $(ENV_JSON)
	$(STEP) labels --plan $(PLAN_JSON)
	@$(call refresh,$@)

# labels first: prepare validates the dataset (and downloads it when credentials are set)
$(BINS): $(wildcard $(DATA_STAMP)) $(wildcard $(BINS_CHECK)) $(SPEC_CODE_BINS) | $(PY_DEP) $(ENV_JSON) $(LABELS_JSON)
	$(STEP_PREFIX) $(STEP) bins --plan $(PLAN_JSON)
	@$(call refresh,$@)

$(ONNX_RAW): $(SPEC_CODE_MODEL) $(wildcard $(WEIGHTS_STAMP)) | $(PY_DEP) $(ENV_JSON) $(A)/onnx $(WEIGHTS_DEP)
	$(STEP) export --plan $(PLAN_JSON)

$(ONNX_SIM): $(ONNX_RAW)
	$(STEP) simplify --plan $(PLAN_JSON)

# the graph atc gets: the simplified ONNX with Resize half_pixel -> pytorch_half_pixel and int32 Gather
# indices, verified against the raw export (the ORT path keeps running $(ONNX_SIM) unchanged)
$(ONNX_ATC): $(ONNX_SIM) tools/semask/backends/ascend/graph.py
	$(STEP) atc-graph --plan $(PLAN_JSON)

$(OM): $(ONNX_ATC) | $(A)/om
	$(STEP_PREFIX) $(STEP) build --plan $(PLAN_JSON)

# the NPU's fp16 imitated with ORT on the ATC graph and the run's frames (no NPU needed); writes $(FP16_DIR)/keep_dtype.cfg
fp16-check: $(ONNX_ATC) $(BINS) | $(A)/reports
	$(STEP) fp16-check --plan $(PLAN_JSON)

atc-check: $(ONNX_ATC) | $(A)/om
	$(STEP_PREFIX) $(STEP) atc-check --plan $(PLAN_JSON)

$(ONNX_ORT_RAW): $(SPEC_CODE_MODEL) tools/semask/model/ort_graph.py $(wildcard $(WEIGHTS_STAMP)) | $(PY_DEP) $(ENV_JSON) $(A)/onnx $(WEIGHTS_DEP)
	$(STEP) export-ort --plan $(PLAN_JSON)

$(ONNX_ORT): $(ONNX_ORT_RAW)
	$(STEP) simplify-ort --plan $(PLAN_JSON)

# PRECISION=int8 (OpenVINO): NNCF's IR of the ORT graph, calibrated on the first CALIB bins; its sidecar is the
# target and the MODEL_FILE of such a run
$(INT8_IR): $(ONNX_ORT) $(BINS)
	$(STEP) quantize --plan $(PLAN_JSON)

# MODEL_FILE is what the plan's backend runs: the OM (Ascend), the ONNX it uses, or OpenVINO's int8 IR sidecar
$(PRED_SUMMARY): $(MODEL_FILE) $(BINS) $(wildcard $(PREDS_CHECK)) | $(A)/preds
	$(STEP_PREFIX) $(STEP) infer --plan $(PLAN_JSON)

$(PERF_JSON): $(MODEL_FILE) | $(A)/perf
	$(STEP_PREFIX) $(STEP) perf --plan $(PLAN_JSON)

$(REPORT): $(LABELS_JSON) $(PRED_SUMMARY) $(SPEC_CODE_SCORE) $(wildcard $(ORT_FP32_SUMMARY)) | $(A)/reports
	$(STEP) report --plan $(PLAN_JSON)

# ------------------------------------------------------------------------------ upstream cross-check
UPSTREAM_ENV := env/upstream/venv/.setup.stamp

$(UPSTREAM_ENV): env/upstream/requirements.txt env/upstream/setup.sh
	bash env/upstream/setup.sh

crosscheck: $(UPSTREAM_DIR).stamp $(UPSTREAM_ENV) $(WEIGHTS_DEP) | $(PY_DEP)
	mkdir -p $(A)/crosscheck
	$(STEP) crosscheck --plan $(PLAN_JSON)
