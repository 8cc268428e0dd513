# SeMask-FPN offline-inference kit: Cityscapes in, mIoU and fps out, on Ascend (atc + ais_bench)
# or ONNX Runtime. One file target per artifact; `make help` lists the verbs and variables.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.SUFFIXES:
MAKEFLAGS += --no-builtin-rules --no-print-directory
.DEFAULT_GOAL := help

# ------------------------------------------------------------------------------ vocabulary
# Model names, dtype choices and defaults, the upstream pin and the artifact stem come from one
# place, tools/semask/spec.py, through a generated makefile that make rebuilds when spec.py changes
# (while it is missing or older than spec.py, make rebuilds it and restarts: the checks below wait).
SPEC_MK := .make/spec.mk
-include $(SPEC_MK)
SPEC_FRESH := $(if $(SPEC_STEM),$(shell [ $(SPEC_MK) -nt tools/semask/spec.py ] && echo yes))
$(SPEC_MK): tools/semask/spec.py
	@mkdir -p $(@D)
	@PYTHONPATH=tools $(if $(wildcard $(PYTHON)),$(PYTHON),python3) -m semask.spec --make > $@.$$$$.tmp && mv $@.$$$$.tmp $@

# ------------------------------------------------------------------------------ variables
BS           ?= 1
MODEL        ?= $(SPEC_DEFAULT_MODEL)
BACKEND      ?= auto
WEIGHTS      ?= data/weights/semask_$(MODEL).pth
DATA_ROOT    ?= data/cityscapes
HEIGHT       ?= 1024
WIDTH        ?= 2048
LIMIT        ?=
INPUT_DTYPE  ?= $(SPEC_DEFAULT_INPUT_DTYPE)
LABEL_DTYPE  ?= $(SPEC_DEFAULT_LABEL_DTYPE)
LABELS       ?= polygons
SOC          ?= auto
PRECISION    ?= $(SPEC_DEFAULT_PRECISION)
PRECISION_V2 ?=
OP_SELECT_IMPLMODE ?=
DEVICE       ?= 0
LOOP         ?= auto
PERF_SECONDS ?= 60
BS_LIST      ?= 1 4 8
PRECISIONS   ?= force_fp16
ACCURACY_EACH_BS ?=
FORCE        ?=
ORT_PROVIDER ?= cpu
ARTIFACTS    ?= artifacts
PYTHON       ?= .venv/bin/python
ASCEND_SET_ENV ?= $(SPEC_DEFAULT_SET_ENV)
UPSTREAM_REPO  ?= $(SPEC_UPSTREAM_REPO_URL)
UPSTREAM_DIR   ?= data/upstream/SeMask-Segmentation
SMOKE        ?=
DEMO_IMAGES  ?= 4
DEMO_MODEL   ?= small
DEMO_WEIGHTS ?= random
DEMO_HEIGHT  ?= 1024
DEMO_WIDTH   ?= 2048

A := $(ARTIFACTS)

# shell-quote a value (paths may hold spaces)
q = '$(subst ','\'',$(1))'

# ------------------------------------------------------------------------------ python env
VENV_STAMP := .venv/.installed
ifeq ($(PYTHON),.venv/bin/python)
PY_DEP := $(VENV_STAMP)
else
PY_DEP :=
endif
PY := PYTHONPATH=tools$${PYTHONPATH:+:$$PYTHONPATH} $(PYTHON)
# parse-time helpers run before .venv exists on a fresh clone; they need only the standard library
HOST_PY := $(if $(wildcard $(PYTHON)),$(PYTHON),python3)
ASCEND_SRC := if [ -f $(call q,$(ASCEND_SET_ENV)) ]; then set +u; . $(call q,$(ASCEND_SET_ENV)) >/dev/null 2>&1; set -u; fi;

# ------------------------------------------------------------------------------ checks (pipeline verbs only)
CONFIG_GOALS := all perf weights labels bins onnx om preds report crosscheck atc-check reproduce paths
NEEDS_CONFIG := $(if $(SPEC_FRESH),$(filter $(CONFIG_GOALS) $(A)/%,$(MAKECMDGOALS)))

posint = $(shell [[ $(call q,$(1)) =~ ^[1-9][0-9]*$$ ]] && echo ok)
need_posint = $(if $(call posint,$($(1))),,$(error $(1)=$($(1)) is not a positive integer; use e.g. $(1)=$(2)))
choose = $(if $(filter $($(1)),$(2)),,$(error $(1)=$($(1)) is not one of: $(2)))

ifneq ($(NEEDS_CONFIG),)
ifneq ($(words $(A)),1)
$(error ARTIFACTS=$(A) contains spaces, which make cannot use in file names; choose a path without spaces)
endif
$(call need_posint,BS,4)
$(call need_posint,HEIGHT,1024)
$(call need_posint,WIDTH,2048)
$(if $(filter auto,$(LOOP)),,$(call need_posint,LOOP,100))
$(call need_posint,PERF_SECONDS,60)
ifneq ($(filter reproduce,$(MAKECMDGOALS)),)
$(if $(strip $(BS_LIST)),,$(error BS_LIST is empty; use e.g. BS_LIST="1 4 8"))
$(foreach b,$(BS_LIST),$(if $(call posint,$(b)),,$(error BS_LIST=$(BS_LIST): $(b) is not a positive integer; use e.g. BS_LIST="1 4 8")))
$(if $(strip $(PRECISIONS)),,$(error PRECISIONS is empty; use e.g. PRECISIONS=force_fp16))
endif
$(if $(LIMIT),$(call need_posint,LIMIT,10))
$(if $(shell [[ $(call q,$(DEVICE)) =~ ^[0-9]+$$ ]] && (( 10#$(DEVICE) <= $(SPEC_DEVICE_MAX) )) && echo ok),,$(error DEVICE=$(DEVICE) is not a device id 0-$(SPEC_DEVICE_MAX) (what ais_bench accepts); use e.g. DEVICE=0))
$(if $(filter auto $(SPEC_SOC_VERSIONS),$(SOC)),,$(error SOC=$(SOC) is not a documented atc --soc_version; use SOC=auto (read from npu-smi) or one of: $(SPEC_SOC_VERSIONS)))
$(call choose,PRECISION,$(SPEC_ATC_PRECISION_MODES))
$(if $(PRECISION_V2),$(call choose,PRECISION_V2,$(SPEC_ATC_PRECISION_MODES_V2)))
$(if $(OP_SELECT_IMPLMODE),$(call choose,OP_SELECT_IMPLMODE,$(SPEC_OP_SELECT_IMPLMODES)))
ifneq ($(PRECISION_V2),)
ifneq ($(filter command% environment%,$(origin PRECISION)),)
$(error PRECISION=$(PRECISION) and PRECISION_V2=$(PRECISION_V2) cannot be combined (atc refuses --precision_mode with --precision_mode_v2); unset one of them)
endif
endif
$(call choose,MODEL,$(SPEC_MODELS))
$(call choose,BACKEND,$(SPEC_BACKENDS))
$(call choose,INPUT_DTYPE,$(SPEC_INPUT_DTYPES))
$(call choose,LABEL_DTYPE,$(SPEC_LABEL_DTYPES))
$(call choose,LABELS,$(SPEC_LABEL_MODES))
$(call choose,ORT_PROVIDER,$(SPEC_ORT_PROVIDERS))
ifneq ($(words $(WEIGHTS)),1)
$(error WEIGHTS=$(WEIGHTS) contains spaces; move the checkpoint to a path without spaces)
endif
ifeq ($(WEIGHTS),data/weights/semask_reduced.pth)
$(error MODEL=reduced has no official weights; use WEIGHTS=tests/fixtures/weights_reduced.npz or WEIGHTS=random)
endif
ifeq ($(filter random data/weights/semask_%.pth,$(WEIGHTS)),)
ifeq ($(wildcard $(WEIGHTS)),)
$(error WEIGHTS=$(WEIGHTS) does not exist; give an existing .pth/.npz, WEIGHTS=random, or leave WEIGHTS unset to download the official file)
endif
endif
BACKEND_RESOLVED := $(shell $(ASCEND_SRC) $(HOST_PY) tools/select_backend.py --backend $(BACKEND) --set-env $(call q,$(ASCEND_SET_ENV)))
ifeq ($(BACKEND_RESOLVED),)
$(error BACKEND=$(BACKEND) could not be used (see the message above))
endif
ifeq ($(BACKEND_RESOLVED),ascend)
# ais_bench (2024+) refuses paths with other characters; checked on the resolved path, before anything is written
A_REAL := $(shell realpath -m $(call q,$(A)))
ifneq ($(shell re='^[$(SPEC_AIS_PATH_CHARS)]+$$'; [[ $(call q,$(A_REAL)) =~ $$re ]] && echo ok),ok)
$(error ARTIFACTS=$(A) (resolved: $(A_REAL)) has characters ais_bench rejects; with BACKEND=ascend its path may only use [$(SPEC_AIS_PATH_CHARS)], e.g. ARTIFACTS=artifacts)
endif
endif
ifneq ($(filter atc-check,$(MAKECMDGOALS)),)
ifneq ($(BACKEND_RESOLVED),ascend)
$(error make atc-check needs atc: BACKEND=$(BACKEND) resolved to $(BACKEND_RESOLVED); source the CANN set_env.sh (ASCEND_SET_ENV) or pass BACKEND=ascend)
endif
endif
# make needs these answers to plan: refuse a DATA_ROOT inside ARTIFACTS, mark ARTIFACTS as the kit's, take
# its lock for as long as this make runs (a second run waits; NOWAIT=1 refuses), and read the dataset's
# native size (the labels' size; the ONNX resizes its logits back to it when HEIGHTxWIDTH differs).
PREFLIGHT := $(shell PYTHONPATH=tools $(HOST_PY) -m semask.core.workspace preflight --artifacts $(call q,$(A)) \
    --data-root $(call q,$(DATA_ROOT)) --owner-pid $$PPID $(if $(NOWAIT),--nowait) \
    --default-native $(SPEC_NATIVE_HEIGHT)x$(SPEC_NATIVE_WIDTH) --checkout $(call q,$(CURDIR)))
ifneq ($(firstword $(PREFLIGHT)),ok)
$(error $(or $(patsubst error:,,$(PREFLIGHT)),the ARTIFACTS/DATA_ROOT check failed (see above)))
endif
NATIVE := $(word 2,$(PREFLIGHT))
ifeq ($(BACKEND_RESOLVED),ascend)
SOC_RESOLVED := $(shell $(ASCEND_SRC) $(HOST_PY) tools/detect_soc.py --soc $(SOC) --device $(DEVICE))
ifeq ($(SOC_RESOLVED),)
$(error SOC=$(SOC) could not be resolved (see above); pass SOC=Ascend310P3 or your chip)
endif
endif
# every step that writes holds ARTIFACTS' writer lock for its life (semask.core.workspace.writer_lock)
export SEMASK_ARTIFACTS := $(A)
endif

# ------------------------------------------------------------------------------ artifact names
LIMIT_TAG  := $(if $(LIMIT),first$(LIMIT),all)
LIMIT_ARG  := $(if $(LIMIT),--limit $(LIMIT),)
OUT_TAG    := $(if $(NATIVE),$(if $(filter $(HEIGHT)x$(WIDTH),$(NATIVE)),,_out$(NATIVE)))
OUT_HEIGHT := $(if $(OUT_TAG),$(firstword $(subst x, ,$(NATIVE))),$(HEIGHT))
OUT_WIDTH  := $(if $(OUT_TAG),$(lastword $(subst x, ,$(NATIVE))),$(WIDTH))
STEM       := $(SPEC_STEM)$(OUT_TAG)
ONNX_RAW   := $(A)/onnx/$(STEM).onnx
ONNX_SIM   := $(A)/onnx/$(STEM)_sim.onnx
ONNX_ATC   := $(A)/onnx/$(STEM)_sim_atc.onnx
# every atc knob that changes the compiled model is in its name
OM_TAG     := $(SOC_RESOLVED)_$(if $(PRECISION_V2),v2-$(PRECISION_V2),$(PRECISION))$(if $(OP_SELECT_IMPLMODE),_$(OP_SELECT_IMPLMODE))
OM         := $(A)/om/$(STEM)_$(OM_TAG).om
ATC_CHECK  := $(A)/om/$(STEM)_$(SOC_RESOLVED).atc_check.json
# ONNX Runtime's own graph (semask.model.ort_graph): same model, fused for ORT; the Ascend ONNX stays as is
ONNX_ORT_RAW := $(A)/onnx/$(STEM)_ort_raw.onnx
ONNX_ORT   := $(A)/onnx/$(STEM)_ort.onnx
LABELS_DIR := $(A)/labels/$(LABELS)_$(LIMIT_TAG)
LABELS_JSON := $(LABELS_DIR)/labels.json
BINS_DIR   := $(A)/bins/$(HEIGHT)x$(WIDTH)_$(INPUT_DTYPE)_$(LIMIT_TAG)
BINS       := $(BINS_DIR)/manifest.json
ifeq ($(BACKEND_RESOLVED),ascend)
MODEL_FILE := $(OM)
ONNX_USED  := $(ONNX_SIM)
RUN_NAME   := ascend_$(STEM)_$(OM_TAG)_$(LIMIT_TAG)
PROVIDER   := ais_bench
else
# the fused graph is built and measured for the CPU provider; CUDA/CANN keep the plain simplified graph
ONNX_USED  := $(if $(filter cpu,$(ORT_PROVIDER)),$(ONNX_ORT),$(ONNX_SIM))
MODEL_FILE := $(ONNX_USED)
RUN_NAME   := ort-$(ORT_PROVIDER)_$(STEM)_$(LIMIT_TAG)
PROVIDER   := $(ORT_PROVIDER)
endif
PRED_SUMMARY := $(A)/preds/$(RUN_NAME)_summary.json
REPORT     := $(A)/reports/$(RUN_NAME).json
# LOOP=auto fits the timed runs into PERF_SECONDS (at least 3 after warm-up): the budget names the file
LOOP_TAG   := $(if $(filter auto,$(LOOP)),auto$(PERF_SECONDS)s,$(LOOP))
PERF_JSON  := $(A)/perf/$(RUN_NAME)_loop$(LOOP_TAG).json
REPRO_DIR  := $(A)/reports/reproduce_$(if $(filter ascend,$(BACKEND_RESOLVED)),ascend-$(SOC_RESOLVED),ort-$(ORT_PROVIDER))_$(MODEL)_$(HEIGHT)x$(WIDTH)_$(INPUT_DTYPE)_$(LIMIT_TAG)
ENV_JSON   := $(A)/env/env_$(BACKEND_RESOLVED).json
WEIGHTS_DEP := $(filter-out random,$(WEIGHTS))
UPSTREAM_STAMP := $(UPSTREAM_DIR).stamp

# Inputs that are not in any file name, and outputs edited behind make's back, are tracked by stamps
# (semask/core/stamps.py). Make refreshes them by remaking its include $(STAMPS_MK) on every run, before
# it plans: the WEIGHTS and DATA_ROOT stamps change only when the identity (size, mtime, ctime, inode,
# symlinks followed) of a file changes; a check stamp is touched when a finished step's manifest is
# unreadable or a file it lists is missing or was changed after it, so that step is redone (resumed).
STATE := $(A)/.state
WEIGHTS_STAMP := $(STATE)/weights_$(MODEL).txt
DATA_STAMP := $(STATE)/data_root.txt
LABELS_CHECK := $(STATE)/check_labels_$(LABELS)_$(LIMIT_TAG).stamp
BINS_CHECK := $(STATE)/check_bins_$(notdir $(BINS_DIR)).stamp
PREDS_CHECK := $(STATE)/check_preds_$(RUN_NAME).stamp
ifneq ($(NEEDS_CONFIG),)
STAMPS_MK := $(STATE)/stamps.mk
-include $(STAMPS_MK)
$(STAMPS_MK): FORCE
	@PYTHONPATH=tools $(HOST_PY) -m semask.core.stamps --include $@ --weights $(WEIGHTS_STAMP) $(call q,$(WEIGHTS)) \
	    --data-root $(DATA_STAMP) $(call q,$(DATA_ROOT)) --check labels $(LABELS_JSON) $(LABELS_CHECK) \
	    --check bins $(BINS) $(BINS_CHECK) --check preds $(PRED_SUMMARY) $(PREDS_CHECK)
endif
.PHONY: FORCE
FORCE:

# A step that may leave its manifest unchanged refreshes its mtime, but never creates an empty one.
refresh = $(PY) -c 'import json, os, sys; json.load(open(sys.argv[1])); os.utime(sys.argv[1])' $(1) \
    || { echo "error: $(1) is missing or unreadable after its step; this is a kit bug, please report it" >&2; exit 1; }

# The provenance record every measured number gets (one recipe for score and perf).
define provenance
$(PY) tools/record_provenance.py --out $(1) --backend $(BACKEND_RESOLVED) --provider $(PROVIDER) \
    $(PROV_VARS) $(PROV_FILES) --command $(call q,$(COMMAND))
endef

# reports/latest names the run `make table` reprints: set when `make all` (or `make report`) is asked for,
# rewritten only when it changes, so an up-to-date `make all` leaves the tree untouched
ifneq ($(and $(NEEDS_CONFIG),$(filter all report,$(MAKECMDGOALS))),)
LATEST_REL := $(patsubst $(A)/%,%,$(REPORT))
$(shell mkdir -p $(call q,$(A)/reports) && { printf '%s\n' $(call q,$(LATEST_REL)) | cmp -s - $(call q,$(A)/reports/latest) || printf '%s\n' $(call q,$(LATEST_REL)) > $(call q,$(A)/reports/latest); })
endif

VARS := MODEL=$(MODEL) BS=$(BS) HEIGHT=$(HEIGHT) WIDTH=$(WIDTH) INPUT_DTYPE=$(INPUT_DTYPE) \
        LABEL_DTYPE=$(LABEL_DTYPE) LABELS=$(LABELS) SOC=$(SOC_RESOLVED) PRECISION=$(PRECISION) \
        PRECISION_V2=$(PRECISION_V2) OP_SELECT_IMPLMODE=$(OP_SELECT_IMPLMODE) \
        BACKEND=$(BACKEND_RESOLVED) ORT_PROVIDER=$(ORT_PROVIDER) LIMIT=$(LIMIT) LOOP=$(LOOP) DEVICE=$(DEVICE) \
        PERF_SECONDS=$(PERF_SECONDS)
PROV_VARS := $(foreach v,$(VARS),--var $(v)) --var $(call q,WEIGHTS=$(WEIGHTS)) --var $(call q,DATA_ROOT=$(DATA_ROOT))
PROV_FILES := --file $(call q,weights=$(WEIGHTS)) --file onnx=$(ONNX_USED) $(if $(filter ascend,$(BACKEND_RESOLVED)),--file om=$(OM))
COMMAND := make $(MAKECMDGOALS) $(MAKEOVERRIDES)
SMOKE_FLAG := $(if $(SMOKE),--smoke)
# Ascend steps write 0750 folders / 0640 files (the newest ais_bench refuses looser ones)
ASCEND_UMASK := $(if $(filter ascend,$(BACKEND_RESOLVED)),umask 027;)
ATC_PRECISION_ARGS := $(if $(PRECISION_V2),--precision-v2 $(PRECISION_V2),--precision $(PRECISION)) \
                      $(if $(OP_SELECT_IMPLMODE),--op-select-implmode $(OP_SELECT_IMPLMODE))

# ------------------------------------------------------------------------------ verbs
.PHONY: help all perf demo demo-run clean distclean env test bench weights labels bins onnx om preds report \
        upstream crosscheck table tables reproduce paths atc-check verify

help:
	@echo "SeMask-FPN inference kit"
	@echo
	@echo "verbs:"
	@echo "  make all BS=4      weights -> labels -> bins -> ONNX -> onnxsim -> (atc) -> infer -> score -> table"
	@echo "  make perf BS=8     pure-inference throughput of that batch size"
	@echo "  make reproduce     the published table: BS_LIST x PRECISIONS, mIoU + fps beside the published figures"
	@echo "  make demo          the whole pipeline on synthetic data with random weights (no downloads)"
	@echo "  make env           create .venv from env/requirements.txt and check the environment"
	@echo "  make test          run the test suite"
	@echo "  make bench         run the benchmarks in bench/ (writes bench/out/)"
	@echo "  make clean         remove what the kit made under \$$(ARTIFACTS) (refuses if anything else is there)"
	@echo "  make distclean     clean, and remove downloads (weights, upstream clone), data/demo and the venvs"
	@echo "  make table         print the results table of the last run again (RUN=<name>: another run)"
	@echo "  make tables        one table of every run under \$$(ARTIFACTS)"
	@echo "  make verify        re-hash every artifact against its manifest/sidecar; marks what changed for make all"
	@echo "  steps: weights labels bins onnx om preds report upstream crosscheck"
	@echo "  make atc-check     (Ascend) atc's pre-check of the graph: unsupported ops and why"
	@echo
	@echo "variables (default):"
	@echo "  BS=1  MODEL=$(SPEC_DEFAULT_MODEL) ($(SPEC_MODELS))  BACKEND=auto ($(SPEC_BACKENDS))"
	@echo "  WEIGHTS=data/weights/semask_\$$(MODEL).pth (downloaded) | <path> | random"
	@echo "  DATA_ROOT=data/cityscapes  HEIGHT=1024  WIDTH=2048  LIMIT=(all images)"
	@echo "  INPUT_DTYPE=$(SPEC_DEFAULT_INPUT_DTYPE) ($(SPEC_INPUT_DTYPES))  LABEL_DTYPE=$(SPEC_DEFAULT_LABEL_DTYPE) ($(SPEC_LABEL_DTYPES))  LABELS=polygons ($(SPEC_LABEL_MODES))"
	@echo "  SOC=auto (read from npu-smi)  PRECISION=force_fp16 ($(SPEC_ATC_PRECISION_MODES))"
	@echo "  PRECISION_V2= (instead of PRECISION: $(SPEC_ATC_PRECISION_MODES_V2))  OP_SELECT_IMPLMODE= ($(SPEC_OP_SELECT_IMPLMODES))"
	@echo "  DEVICE=0 (0-$(SPEC_DEVICE_MAX))  LOOP=auto (fits PERF_SECONDS=60, >= 3)"
	@echo "  reproduce: BS_LIST=\"1 4 8\"  PRECISIONS=force_fp16  ACCURACY_EACH_BS=(empty)  FORCE=(empty)"
	@echo "  ORT_PROVIDER=cpu ($(SPEC_ORT_PROVIDERS))  ARTIFACTS=artifacts  PYTHON=.venv/bin/python"
	@echo "  ASCEND_SET_ENV=/usr/local/Ascend/ascend-toolkit/set_env.sh  UPSTREAM_REPO=<url or local mirror>"

all: $(REPORT)

perf: $(PERF_JSON)
	@$(PY) tools/results_table.py --perf $(PERF_JSON) --provenance $(PERF_JSON:.json=.provenance.json) \
	    --artifacts $(call q,$(A))

# the last run (reports/latest), or RUN=<name>; needs no pipeline variables
table: | $(PY_DEP)
	@$(PY) tools/results_table.py --artifacts $(call q,$(A)) $(if $(RUN),--run $(call q,$(RUN)))

tables: | $(PY_DEP)
	@$(PY) tools/results_table.py --artifacts $(call q,$(A)) --all

# the tool exits 1 (make: "Error 1", exit 2) when a file changed behind make's back; the next `make all` redoes its step
verify: | $(PY_DEP)
	@$(PY) tools/verify_artifacts.py --artifacts $(call q,$(A))

# every (BS, precision) through the file targets below, run by recursive make: artifacts are reused
SUBMAKE := $(MAKE)
reproduce: | $(PY_DEP)
	@$(PY) tools/reproduce.py --make $(call q,$(SUBMAKE)) --artifacts $(call q,$(A)) --out-dir $(call q,$(REPRO_DIR)) \
	    --backend $(BACKEND_RESOLVED) --bs-list $(call q,$(BS_LIST)) --precisions $(call q,$(PRECISIONS)) \
	    $(if $(ACCURACY_EACH_BS),--accuracy-each-bs) --model $(MODEL) --height $(HEIGHT) --width $(WIDTH) $(LIMIT_ARG) \
	    --data-root $(call q,$(DATA_ROOT)) --provider $(ORT_PROVIDER) --loop $(LOOP) --perf-seconds $(PERF_SECONDS) \
	    $(if $(FORCE),--force) --command $(call q,$(COMMAND)) $(PROV_VARS) --var BS_LIST=$(call q,$(BS_LIST)) \
	    --var PRECISIONS=$(call q,$(PRECISIONS)) --var ACCURACY_EACH_BS=$(call q,$(ACCURACY_EACH_BS))

# the file targets of the current variables, for tools/reproduce.py
paths:
	@printf '%s\n' $(call q,RUN_NAME=$(RUN_NAME)) $(call q,REPORT=$(REPORT)) $(call q,PERF_JSON=$(PERF_JSON)) \
	    $(call q,PRED_SUMMARY=$(PRED_SUMMARY)) $(call q,MODEL_FILE=$(MODEL_FILE))

weights: $(WEIGHTS_DEP)
labels: $(LABELS_JSON)
bins: $(BINS)
onnx: $(ONNX_USED)
om: $(OM)
preds: $(PRED_SUMMARY)
report: $(REPORT)
upstream: $(UPSTREAM_STAMP)

env: $(VENV_STAMP)
	PYTHONPATH=tools $(HOST_PY) -m semask.core.workspace mark --artifacts $(call q,$(A))
	$(PY) tools/check_env.py --out $(A)/env/env_check.json --need all

test: | $(PY_DEP)
	$(PY) -m pytest -q

bench: | $(PY_DEP)
	$(PY) bench/run_all.py --out bench/out

clean:
	@PYTHONPATH=tools $(HOST_PY) -m semask.core.workspace clean --artifacts $(call q,$(ARTIFACTS)) \
	    --data-root $(call q,$(DATA_ROOT)) --checkout $(call q,$(CURDIR))

distclean: clean
	rm -rf data/weights data/upstream data/demo .venv env/upstream/venv .make

# ------------------------------------------------------------------------------ demo (no downloads)
DEMO_A := $(ARTIFACTS)/demo
# an input, so it lives in data/ (outside any ARTIFACTS): `make clean` keeps it, `make distclean` removes it
DEMO_DATA ?= data/demo/cityscapes
# shared by every ARTIFACTS: the stamp names the set's size, so another DEMO_IMAGES/HEIGHT/WIDTH remakes it
DEMO_DONE := $(DEMO_DATA)/.complete-$(DEMO_IMAGES)-$(DEMO_HEIGHT)x$(DEMO_WIDTH)
demo: $(DEMO_DONE)
	@PYTHONPATH=tools $(HOST_PY) -m semask.core.workspace mark --artifacts $(call q,$(ARTIFACTS)) --checkout $(call q,$(CURDIR))
	$(MAKE) all ARTIFACTS=$(DEMO_A) MODEL=$(DEMO_MODEL) WEIGHTS=$(DEMO_WEIGHTS) DATA_ROOT=$(DEMO_DATA) LIMIT=$(DEMO_IMAGES) \
	    BACKEND=ort ORT_PROVIDER=cpu HEIGHT=$(DEMO_HEIGHT) WIDTH=$(DEMO_WIDTH) BS=$(BS) SMOKE=1
	@mkdir -p $(call q,$(A)/reports) && { printf 'demo/'; cat $(call q,$(DEMO_A)/reports/latest); } > $(call q,$(A)/reports/latest.tmp) \
	    && mv $(call q,$(A)/reports/latest.tmp) $(call q,$(A)/reports/latest)

$(DEMO_DONE): | $(PY_DEP)
	rm -rf $(DEMO_DATA).partial
	$(PY) tools/make_synthetic_cityscapes.py --out $(DEMO_DATA).partial --num $(DEMO_IMAGES) --height $(DEMO_HEIGHT) --width $(DEMO_WIDTH)
	echo $(DEMO_IMAGES) > $(DEMO_DATA).partial/$(notdir $(DEMO_DONE))
	rm -rf $(DEMO_DATA) && mv $(DEMO_DATA).partial $(DEMO_DATA)

# ------------------------------------------------------------------------------ pipeline
$(VENV_STAMP): env/requirements.txt
	python3 -m venv .venv
	.venv/bin/python -m pip install -q --upgrade pip
	.venv/bin/python -m pip install -r env/requirements.txt
	.venv/bin/python -c 'import sys; print(sys.version)' > $@

$(A)/onnx $(A)/om $(A)/preds $(A)/reports $(A)/perf $(A)/env data/weights:
	$(ASCEND_UMASK) mkdir -p $@

$(ENV_JSON): | $(PY_DEP) $(A)/env
	$(if $(filter ascend,$(BACKEND_RESOLVED)),$(ASCEND_SRC)) $(PY) tools/check_env.py --out $@ --backend $(BACKEND_RESOLVED) --need all

data/weights/semask_%.pth: | $(PY_DEP) data/weights
	$(PY) tools/fetch_weights.py --model $* --out $@ --lock env/weights.lock

$(UPSTREAM_STAMP): | $(PY_DEP)
	$(PY) tools/fetch_upstream.py --dest $(UPSTREAM_DIR) --repo $(call q,$(UPSTREAM_REPO)) --commit $(SPEC_UPSTREAM_COMMIT)

# Each step's code comes from spec.STEP_CODE, the table its in-code fingerprint reads too.
# Labels are always made at the dataset's native size (they do not depend on HEIGHT/WIDTH).
$(LABELS_JSON): $(DATA_STAMP) $(LABELS_CHECK) $(SPEC_CODE_LABELS) | $(PY_DEP) $(ENV_JSON)
	$(PY) tools/prepare_cityscapes.py --data-root $(call q,$(DATA_ROOT)) --out $(LABELS_DIR) --labels $(LABELS) \
	    $(LIMIT_ARG)
	@$(call refresh,$@)

# labels first: prepare validates the dataset (and downloads it when credentials are set)
$(BINS): $(DATA_STAMP) $(BINS_CHECK) $(SPEC_CODE_BINS) | $(PY_DEP) $(ENV_JSON) $(LABELS_JSON)
	$(ASCEND_UMASK) $(PY) tools/preprocess.py --data-root $(call q,$(DATA_ROOT)) --out $(BINS_DIR) --dtype $(INPUT_DTYPE) \
	    --height $(HEIGHT) --width $(WIDTH) $(LIMIT_ARG)
	@$(call refresh,$@)

$(ONNX_RAW): $(SPEC_CODE_MODEL) $(WEIGHTS_DEP) $(WEIGHTS_STAMP) | $(PY_DEP) $(ENV_JSON) $(A)/onnx
	$(PY) tools/export_onnx.py --model $(MODEL) --weights $(call q,$(WEIGHTS)) --batch-size $(BS) \
	    --height $(HEIGHT) --width $(WIDTH) --input-dtype $(INPUT_DTYPE) --label-dtype $(LABEL_DTYPE) \
	    $(if $(OUT_TAG),--out-height $(OUT_HEIGHT) --out-width $(OUT_WIDTH)) --out $@ --no-simplify

$(ONNX_SIM): $(ONNX_RAW)
	$(PY) tools/export_onnx.py --simplify $< --out $@

# the graph atc gets: the simplified ONNX with Resize half_pixel -> pytorch_half_pixel and int32 Gather
# indices, verified against PyTorch (the ORT path keeps running $(ONNX_SIM) unchanged)
$(ONNX_ATC): $(ONNX_SIM) tools/semask/model/ascend_graph.py tools/atc_graph.py
	$(PY) tools/atc_graph.py --onnx $< --out $@

$(OM): $(ONNX_ATC) | $(A)/om
	$(ASCEND_UMASK) $(ASCEND_SRC) $(PY) tools/atc_compile.py --onnx $< --output-om $@ --batch-size $(BS) --height $(HEIGHT) \
	    --width $(WIDTH) --soc $(SOC) $(ATC_PRECISION_ARGS) --input-dtype $(INPUT_DTYPE) --device $(DEVICE)

atc-check: $(ONNX_ATC) | $(A)/om
	$(ASCEND_UMASK) $(ASCEND_SRC) $(PY) tools/atc_check.py --onnx $(ONNX_ATC) --soc $(SOC) --device $(DEVICE) --out $(ATC_CHECK)

$(ONNX_ORT_RAW): $(SPEC_CODE_MODEL) tools/semask/model/ort_graph.py $(WEIGHTS_DEP) $(WEIGHTS_STAMP) | $(PY_DEP) $(ENV_JSON) $(A)/onnx
	$(PY) tools/export_onnx.py --model $(MODEL) --weights $(call q,$(WEIGHTS)) --batch-size $(BS) \
	    --height $(HEIGHT) --width $(WIDTH) --input-dtype $(INPUT_DTYPE) --label-dtype $(LABEL_DTYPE) \
	    $(if $(OUT_TAG),--out-height $(OUT_HEIGHT) --out-width $(OUT_WIDTH)) --target ort --out $@ --no-simplify

$(ONNX_ORT): $(ONNX_ORT_RAW)
	$(PY) tools/export_onnx.py --simplify $< --out $@

ifeq ($(BACKEND_RESOLVED),ascend)
$(PRED_SUMMARY): $(OM) $(BINS) $(PREDS_CHECK) | $(A)/preds
	$(ASCEND_UMASK) $(ASCEND_SRC) $(PY) tools/ais_infer.py --om $(OM) --input $(BINS_DIR) --output $(A)/preds \
	    --output-dirname $(RUN_NAME) --batch-size $(BS) --device $(DEVICE)

$(PERF_JSON): $(OM) | $(A)/perf
	$(call provenance,$(@:.json=.provenance.json))
	$(ASCEND_UMASK) $(ASCEND_SRC) $(PY) tools/ais_infer.py --om $(OM) --batch-size $(BS) --device $(DEVICE) --loop $(LOOP) \
	    --seconds $(PERF_SECONDS) --out-json $@
else
$(PRED_SUMMARY): $(ONNX_USED) $(BINS) $(PREDS_CHECK) | $(A)/preds
	$(PY) tools/infer_ort.py --model $(ONNX_USED) --input $(BINS_DIR) --output $(A)/preds \
	    --output-dirname $(RUN_NAME) --batch-size $(BS) --provider $(ORT_PROVIDER) --device $(DEVICE)

$(PERF_JSON): $(ONNX_USED) | $(A)/perf
	$(call provenance,$(@:.json=.provenance.json))
	$(PY) tools/perf.py --model $(ONNX_USED) --batch-size $(BS) --loop $(LOOP) --seconds $(PERF_SECONDS) --provider $(ORT_PROVIDER) \
	    --device $(DEVICE) $(if $(wildcard $(BINS)),--input $(BINS_DIR)) --out-json $@
endif

$(REPORT): $(LABELS_JSON) $(PRED_SUMMARY) $(SPEC_CODE_SCORE) | $(A)/reports
	$(call provenance,$(@:.json=.provenance.json))
	$(PY) tools/score.py --pred $(PRED_SUMMARY) --labels $(LABELS_DIR) --label-dtype $(LABEL_DTYPE) \
	    --height $(OUT_HEIGHT) --width $(OUT_WIDTH) --out-json $@ --out-md $(@:.json=.md) \
	    --panels 3 --data-root $(call q,$(DATA_ROOT)) --panel-dir $(@:.json=_panels) \
	    --provenance $(@:.json=.provenance.json)
	$(PY) tools/results_table.py --report $@ --summary $(PRED_SUMMARY) $(SMOKE_FLAG) --out $(@:.json=.table.md)

# ------------------------------------------------------------------------------ upstream cross-check
UPSTREAM_ENV := env/upstream/venv/.setup.stamp
CROSSCHECK_NUM ?= 2
CROSSCHECK_ONNX ?=
CROSSCHECK_JSON := $(A)/crosscheck/crosscheck_$(MODEL)_$(HEIGHT)x$(WIDTH)_n$(CROSSCHECK_NUM).json

$(UPSTREAM_ENV): env/upstream/requirements.txt env/upstream/setup.sh
	bash env/upstream/setup.sh

crosscheck: $(UPSTREAM_STAMP) $(UPSTREAM_ENV) $(WEIGHTS_DEP) | $(PY_DEP)
	mkdir -p $(A)/crosscheck
	$(PY) tools/crosscheck.py --upstream $(UPSTREAM_DIR) --model $(MODEL) --weights $(call q,$(WEIGHTS)) \
	    --num $(CROSSCHECK_NUM) --height $(HEIGHT) --width $(WIDTH) \
	    $(if $(wildcard $(DATA_ROOT)/leftImg8bit),--data-root $(call q,$(DATA_ROOT))) \
	    $(if $(CROSSCHECK_ONNX),--onnx $(call q,$(CROSSCHECK_ONNX))) --out-json $(CROSSCHECK_JSON)
