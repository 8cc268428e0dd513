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
# (on the first pass it does not exist yet: the checks below wait for the restart).
SPEC_MK := .make/spec.mk
-include $(SPEC_MK)
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
PRECISION    ?= force_fp16
DEVICE       ?= 0
LOOP         ?= 100
ORT_PROVIDER ?= cpu
ARTIFACTS    ?= artifacts
PYTHON       ?= .venv/bin/python
ASCEND_SET_ENV ?= $(SPEC_DEFAULT_SET_ENV)
UPSTREAM_REPO  ?= $(SPEC_UPSTREAM_REPO_URL)
UPSTREAM_DIR   ?= data/upstream/SeMask-Segmentation
SMOKE        ?=
DEMO_IMAGES  ?= 4

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
CONFIG_GOALS := all perf table weights labels bins onnx om preds report crosscheck
NEEDS_CONFIG := $(if $(SPEC_STEM),$(filter $(CONFIG_GOALS) $(A)/%,$(MAKECMDGOALS)))

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
$(call need_posint,LOOP,100)
$(if $(LIMIT),$(call need_posint,LIMIT,10))
$(if $(shell [[ $(call q,$(DEVICE)) =~ ^[0-9]+$$ ]] && echo ok),,$(error DEVICE=$(DEVICE) is not a device id; use e.g. DEVICE=0))
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
# make needs these answers to plan: refuse a DATA_ROOT inside ARTIFACTS, mark ARTIFACTS as the kit's, take
# its lock for as long as this make runs (a second run waits; NOWAIT=1 refuses), and read the dataset's
# native size (the labels' size; the ONNX resizes its logits back to it when HEIGHTxWIDTH differs).
PREFLIGHT := $(shell PYTHONPATH=tools $(HOST_PY) -m semask.core.workspace preflight --artifacts $(call q,$(A)) \
    --data-root $(call q,$(DATA_ROOT)) --owner-pid $$PPID $(if $(NOWAIT),--nowait) \
    --default-native $(SPEC_NATIVE_HEIGHT)x$(SPEC_NATIVE_WIDTH))
ifneq ($(firstword $(PREFLIGHT)),ok)
$(error $(or $(patsubst error:,,$(PREFLIGHT)),the ARTIFACTS/DATA_ROOT check failed (see above)))
endif
NATIVE := $(word 2,$(PREFLIGHT))
BACKEND_RESOLVED := $(shell $(ASCEND_SRC) $(HOST_PY) tools/select_backend.py --backend $(BACKEND) --set-env $(call q,$(ASCEND_SET_ENV)))
ifeq ($(BACKEND_RESOLVED),)
$(error BACKEND=$(BACKEND) could not be used (see the message above))
endif
ifeq ($(BACKEND_RESOLVED),ascend)
SOC_RESOLVED := $(shell $(ASCEND_SRC) $(HOST_PY) tools/detect_soc.py --soc $(SOC) --device $(DEVICE))
ifeq ($(SOC_RESOLVED),)
$(error SOC=$(SOC) could not be resolved (see above); pass SOC=Ascend310P3 or your chip)
endif
endif
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
OM         := $(A)/om/$(STEM)_$(SOC_RESOLVED)_$(PRECISION).om
LABELS_DIR := $(A)/labels/$(LABELS)_$(LIMIT_TAG)
LABELS_JSON := $(LABELS_DIR)/labels.json
BINS_DIR   := $(A)/bins/$(HEIGHT)x$(WIDTH)_$(INPUT_DTYPE)_$(LIMIT_TAG)
BINS       := $(BINS_DIR)/manifest.json
ifeq ($(BACKEND_RESOLVED),ascend)
MODEL_FILE := $(OM)
RUN        := ascend_$(STEM)_$(SOC_RESOLVED)_$(PRECISION)_$(LIMIT_TAG)
PROVIDER   := ais_bench
else
MODEL_FILE := $(ONNX_SIM)
RUN        := ort-$(ORT_PROVIDER)_$(STEM)_$(LIMIT_TAG)
PROVIDER   := $(ORT_PROVIDER)
endif
PRED_SUMMARY := $(A)/preds/$(RUN)_summary.json
REPORT     := $(A)/reports/$(RUN).json
PERF_JSON  := $(A)/perf/$(RUN)_loop$(LOOP).json
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
PREDS_CHECK := $(STATE)/check_preds_$(RUN).stamp
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
$(PY) tools/provenance.py --out $(1) --backend $(BACKEND_RESOLVED) --provider $(PROVIDER) \
    $(PROV_VARS) $(PROV_FILES) --command $(call q,$(COMMAND))
endef

VARS := MODEL=$(MODEL) BS=$(BS) HEIGHT=$(HEIGHT) WIDTH=$(WIDTH) INPUT_DTYPE=$(INPUT_DTYPE) \
        LABEL_DTYPE=$(LABEL_DTYPE) LABELS=$(LABELS) SOC=$(SOC_RESOLVED) PRECISION=$(PRECISION) \
        BACKEND=$(BACKEND_RESOLVED) ORT_PROVIDER=$(ORT_PROVIDER) LIMIT=$(LIMIT) LOOP=$(LOOP) DEVICE=$(DEVICE)
PROV_VARS := $(foreach v,$(VARS),--var $(v)) --var $(call q,WEIGHTS=$(WEIGHTS)) --var $(call q,DATA_ROOT=$(DATA_ROOT))
PROV_FILES := --file $(call q,weights=$(WEIGHTS)) --file onnx=$(ONNX_SIM) $(if $(filter ascend,$(BACKEND_RESOLVED)),--file om=$(OM))
COMMAND := make $(MAKECMDGOALS) $(MAKEOVERRIDES)
SMOKE_FLAG := $(if $(SMOKE),--smoke)

# ------------------------------------------------------------------------------ verbs
.PHONY: help all perf demo demo-run clean distclean env test bench weights labels bins onnx om preds report \
        upstream crosscheck table

help:
	@echo "SeMask-FPN inference kit"
	@echo
	@echo "verbs:"
	@echo "  make all BS=4      weights -> labels -> bins -> ONNX -> onnxsim -> (atc) -> infer -> score -> table"
	@echo "  make perf BS=8     pure-inference throughput of that batch size"
	@echo "  make demo          the whole pipeline on synthetic data with random weights (no downloads)"
	@echo "  make env           create .venv from env/requirements.txt and check the environment"
	@echo "  make test          run the test suite"
	@echo "  make bench         run the benchmarks in bench/ (writes bench/out/)"
	@echo "  make clean         remove \$$(ARTIFACTS), keep downloads and data"
	@echo "  make distclean     clean, and remove downloads (weights, upstream clone) and the venvs"
	@echo "  make table         print the results table of the last run again"
	@echo "  steps: weights labels bins onnx om preds report upstream crosscheck"
	@echo
	@echo "variables (default):"
	@echo "  BS=1  MODEL=$(SPEC_DEFAULT_MODEL) ($(SPEC_MODELS))  BACKEND=auto ($(SPEC_BACKENDS))"
	@echo "  WEIGHTS=data/weights/semask_\$$(MODEL).pth (downloaded) | <path> | random"
	@echo "  DATA_ROOT=data/cityscapes  HEIGHT=1024  WIDTH=2048  LIMIT=(all images)"
	@echo "  INPUT_DTYPE=$(SPEC_DEFAULT_INPUT_DTYPE) ($(SPEC_INPUT_DTYPES))  LABEL_DTYPE=$(SPEC_DEFAULT_LABEL_DTYPE) ($(SPEC_LABEL_DTYPES))  LABELS=polygons ($(SPEC_LABEL_MODES))"
	@echo "  SOC=auto (read from npu-smi)  PRECISION=force_fp16  DEVICE=0  LOOP=100"
	@echo "  ORT_PROVIDER=cpu ($(SPEC_ORT_PROVIDERS))  ARTIFACTS=artifacts  PYTHON=.venv/bin/python"
	@echo "  ASCEND_SET_ENV=/usr/local/Ascend/ascend-toolkit/set_env.sh  UPSTREAM_REPO=<url or local mirror>"

all: $(REPORT)

perf: $(PERF_JSON)
	@$(PY) tools/results_table.py --perf $(PERF_JSON) --provenance $(PERF_JSON:.json=.provenance.json)

table:
	@$(PY) tools/results_table.py --report $(REPORT) --summary $(PRED_SUMMARY) $(SMOKE_FLAG)

weights: $(WEIGHTS_DEP)
labels: $(LABELS_JSON)
bins: $(BINS)
onnx: $(ONNX_SIM)
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
	rm -rf data/weights data/upstream .venv env/upstream/venv .make

# ------------------------------------------------------------------------------ demo (no downloads)
DEMO_A := $(ARTIFACTS)/demo
DEMO_DATA := $(ARTIFACTS)/demo-data/cityscapes
demo: $(DEMO_DATA)/.complete
	$(MAKE) all ARTIFACTS=$(DEMO_A) MODEL=small WEIGHTS=random DATA_ROOT=$(DEMO_DATA) LIMIT=$(DEMO_IMAGES) \
	    BACKEND=ort ORT_PROVIDER=cpu HEIGHT=1024 WIDTH=2048 BS=$(BS) SMOKE=1

$(DEMO_DATA)/.complete: | $(PY_DEP)
	PYTHONPATH=tools $(HOST_PY) -m semask.core.workspace mark --artifacts $(call q,$(ARTIFACTS))
	rm -rf $(DEMO_DATA).partial
	$(PY) tools/make_synthetic_cityscapes.py --out $(DEMO_DATA).partial --num $(DEMO_IMAGES) --height 1024 --width 2048
	echo $(DEMO_IMAGES) > $(DEMO_DATA).partial/.complete
	rm -rf $(DEMO_DATA) && mv $(DEMO_DATA).partial $(DEMO_DATA)

# ------------------------------------------------------------------------------ pipeline
$(VENV_STAMP): env/requirements.txt
	python3 -m venv .venv
	.venv/bin/python -m pip install -q --upgrade pip
	.venv/bin/python -m pip install -r env/requirements.txt
	.venv/bin/python -c 'import sys; print(sys.version)' > $@

$(A)/onnx $(A)/om $(A)/preds $(A)/reports $(A)/perf $(A)/env data/weights:
	mkdir -p $@

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
	$(PY) tools/preprocess.py --data-root $(call q,$(DATA_ROOT)) --out $(BINS_DIR) --dtype $(INPUT_DTYPE) \
	    --height $(HEIGHT) --width $(WIDTH) $(LIMIT_ARG)
	@$(call refresh,$@)

$(ONNX_RAW): $(SPEC_CODE_MODEL) $(WEIGHTS_DEP) $(WEIGHTS_STAMP) | $(PY_DEP) $(ENV_JSON) $(A)/onnx
	$(PY) tools/export_onnx.py --model $(MODEL) --weights $(call q,$(WEIGHTS)) --batch-size $(BS) \
	    --height $(HEIGHT) --width $(WIDTH) --input-dtype $(INPUT_DTYPE) --label-dtype $(LABEL_DTYPE) \
	    $(if $(OUT_TAG),--out-height $(OUT_HEIGHT) --out-width $(OUT_WIDTH)) --out $@ --no-simplify

$(ONNX_SIM): $(ONNX_RAW)
	$(PY) tools/export_onnx.py --simplify $< --out $@

$(OM): $(ONNX_SIM) | $(A)/om
	$(ASCEND_SRC) $(PY) tools/atc_compile.py --onnx $< --output-om $@ --batch-size $(BS) --height $(HEIGHT) \
	    --width $(WIDTH) --soc $(SOC) --precision $(PRECISION) --input-dtype $(INPUT_DTYPE) --device $(DEVICE)

ifeq ($(BACKEND_RESOLVED),ascend)
$(PRED_SUMMARY): $(OM) $(BINS) $(PREDS_CHECK) | $(A)/preds
	$(ASCEND_SRC) $(PY) tools/ais_infer.py --om $(OM) --input $(BINS_DIR) --output $(A)/preds \
	    --output-dirname $(RUN) --batch-size $(BS) --device $(DEVICE)

$(PERF_JSON): $(OM) | $(A)/perf
	$(call provenance,$(@:.json=.provenance.json))
	$(ASCEND_SRC) $(PY) tools/ais_infer.py --om $(OM) --batch-size $(BS) --device $(DEVICE) --loop $(LOOP) --out-json $@
else
$(PRED_SUMMARY): $(ONNX_SIM) $(BINS) $(PREDS_CHECK) | $(A)/preds
	$(PY) tools/infer_ort.py --model $(ONNX_SIM) --input $(BINS_DIR) --output $(A)/preds \
	    --output-dirname $(RUN) --batch-size $(BS) --provider $(ORT_PROVIDER) --device $(DEVICE)

$(PERF_JSON): $(ONNX_SIM) | $(A)/perf
	$(call provenance,$(@:.json=.provenance.json))
	$(PY) tools/perf.py --model $(ONNX_SIM) --batch-size $(BS) --loop $(LOOP) --provider $(ORT_PROVIDER) \
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
