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
ARTIFACTS_OK := $(shell mkdir -p $(call q,$(A)) 2>&1 && { [ -w $(call q,$(A)) ] && echo ok || echo no write permission; })
ifneq ($(ARTIFACTS_OK),ok)
$(error ARTIFACTS=$(A) is not a writable folder ($(ARTIFACTS_OK)); set ARTIFACTS to a folder you can write)
endif
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
STEM       := $(SPEC_STEM)
ONNX_RAW   := $(A)/onnx/$(STEM).onnx
ONNX_SIM   := $(A)/onnx/$(STEM)_sim.onnx
# ONNX Runtime's own graph (semask.model.ort_graph): same model, fused for ORT; the Ascend ONNX stays as is
ONNX_ORT_RAW := $(A)/onnx/$(STEM)_ort_raw.onnx
ONNX_ORT   := $(A)/onnx/$(STEM)_ort.onnx
OM         := $(A)/om/$(STEM)_$(SOC_RESOLVED)_$(PRECISION).om
LABELS_DIR := $(A)/labels/$(LABELS)_$(LIMIT_TAG)
LABELS_JSON := $(LABELS_DIR)/labels.json
BINS_DIR   := $(A)/bins/$(HEIGHT)x$(WIDTH)_$(INPUT_DTYPE)_$(LIMIT_TAG)
BINS       := $(BINS_DIR)/manifest.json
ifeq ($(BACKEND_RESOLVED),ascend)
MODEL_FILE := $(OM)
ONNX_USED  := $(ONNX_SIM)
RUN        := ascend_$(STEM)_$(SOC_RESOLVED)_$(PRECISION)_$(LIMIT_TAG)
PROVIDER   := ais_bench
else
# the fused graph is built and measured for the CPU provider; CUDA/CANN keep the plain simplified graph
ONNX_USED  := $(if $(filter cpu,$(ORT_PROVIDER)),$(ONNX_ORT),$(ONNX_SIM))
MODEL_FILE := $(ONNX_USED)
RUN        := ort-$(ORT_PROVIDER)_$(STEM)_$(LIMIT_TAG)
PROVIDER   := $(ORT_PROVIDER)
endif
PRED_SUMMARY := $(A)/preds/$(RUN)_summary.json
REPORT     := $(A)/reports/$(RUN).json
PERF_JSON  := $(A)/perf/$(RUN)_loop$(LOOP).json
ENV_JSON   := $(A)/env/env_$(BACKEND_RESOLVED).json
WEIGHTS_DEP := $(filter-out random,$(WEIGHTS))
UPSTREAM_STAMP := $(UPSTREAM_DIR).stamp

# Inputs that are not in any file name are tracked by stamps rewritten at parse time only when
# their content changes (move-if-change), so swapping WEIGHTS or DATA_ROOT rebuilds what it must.
# The DATA_ROOT stamp also holds a hash of the val files' names, sizes and mtimes: replacing a bad
# image or annotation re-runs labels and preprocess (both resumable: unchanged files are kept).
DATA_LISTING = $(shell cd $(call q,$(DATA_ROOT)) 2>/dev/null && find leftImg8bit/val gtFine/val -type f -printf '%p %s %T@\n' 2>/dev/null | LC_ALL=C sort | sha256sum | cut -c1-64)
STATE := $(A)/.state
define stamp
$(shell mkdir -p $(call q,$(dir $(1))) && { printf '%s\n' $(call q,$(2)) | cmp -s - $(call q,$(1)) || printf '%s\n' $(call q,$(2)) > $(call q,$(1)); })
endef
ifneq ($(NEEDS_CONFIG),)
$(call stamp,$(STATE)/weights_$(MODEL).txt,$(if $(WEIGHTS_DEP),$(shell realpath -m $(call q,$(WEIGHTS))),random))
$(call stamp,$(STATE)/data_root.txt,$(shell realpath -m $(call q,$(DATA_ROOT))) files:$(DATA_LISTING))
endif

VARS := MODEL=$(MODEL) BS=$(BS) HEIGHT=$(HEIGHT) WIDTH=$(WIDTH) INPUT_DTYPE=$(INPUT_DTYPE) \
        LABEL_DTYPE=$(LABEL_DTYPE) LABELS=$(LABELS) SOC=$(SOC_RESOLVED) PRECISION=$(PRECISION) \
        BACKEND=$(BACKEND_RESOLVED) ORT_PROVIDER=$(ORT_PROVIDER) LIMIT=$(LIMIT) LOOP=$(LOOP) DEVICE=$(DEVICE)
PROV_VARS := $(foreach v,$(VARS),--var $(v)) --var $(call q,WEIGHTS=$(WEIGHTS)) --var $(call q,DATA_ROOT=$(DATA_ROOT))
PROV_FILES := --file $(call q,weights=$(WEIGHTS)) --file onnx=$(ONNX_USED) $(if $(filter ascend,$(BACKEND_RESOLVED)),--file om=$(OM))
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
onnx: $(ONNX_USED)
om: $(OM)
preds: $(PRED_SUMMARY)
report: $(REPORT)
upstream: $(UPSTREAM_STAMP)

env: $(VENV_STAMP)
	$(PY) tools/check_env.py --out $(A)/env/env_check.json --need all

test: | $(PY_DEP)
	$(PY) -m pytest -q

bench: | $(PY_DEP)
	$(PY) bench/run_all.py --out bench/out

clean:
	rm -rf $(call q,$(ARTIFACTS))

distclean: clean
	rm -rf data/weights data/upstream .venv env/upstream/venv .make

# ------------------------------------------------------------------------------ demo (no downloads)
DEMO_A := $(ARTIFACTS)/demo
DEMO_DATA := $(DEMO_A)/cityscapes
demo: $(DEMO_DATA)/.complete
	$(MAKE) all ARTIFACTS=$(DEMO_A) MODEL=small WEIGHTS=random DATA_ROOT=$(DEMO_DATA) LIMIT=$(DEMO_IMAGES) \
	    BACKEND=ort ORT_PROVIDER=cpu HEIGHT=1024 WIDTH=2048 BS=$(BS) SMOKE=1

$(DEMO_DATA)/.complete: | $(PY_DEP)
	rm -rf $(DEMO_DATA).partial
	$(PY) tools/make_synthetic_cityscapes.py --out $(DEMO_DATA).partial --num $(DEMO_IMAGES) --height 1024 --width 2048
	rm -rf $(DEMO_DATA) && mv $(DEMO_DATA).partial $(DEMO_DATA)
	touch $@

# ------------------------------------------------------------------------------ pipeline
$(VENV_STAMP): env/requirements.txt
	python3 -m venv .venv
	.venv/bin/python -m pip install -q --upgrade pip
	.venv/bin/python -m pip install -r env/requirements.txt
	touch $@

$(A)/onnx $(A)/om $(A)/preds $(A)/reports $(A)/perf $(A)/env data/weights:
	mkdir -p $@

$(ENV_JSON): | $(PY_DEP) $(A)/env
	$(if $(filter ascend,$(BACKEND_RESOLVED)),$(ASCEND_SRC)) $(PY) tools/check_env.py --out $@ --backend $(BACKEND_RESOLVED) --need all

data/weights/semask_%.pth: | $(PY_DEP) data/weights
	$(PY) tools/fetch_weights.py --model $* --out $@ --lock env/weights.lock

$(UPSTREAM_STAMP): | $(PY_DEP)
	$(PY) tools/fetch_upstream.py --dest $(UPSTREAM_DIR) --repo $(call q,$(UPSTREAM_REPO)) --commit $(SPEC_UPSTREAM_COMMIT)

LABELS_CODE := tools/semask/data/labels.py tools/prepare_cityscapes.py
BINS_CODE := tools/semask/data/bins.py tools/semask/data/cityscapes.py tools/semask/spec.py tools/preprocess.py
SCORE_CODE := tools/semask/evaluate/scoring.py tools/semask/evaluate/metrics.py tools/semask/evaluate/predictions.py tools/score.py
$(LABELS_JSON): $(STATE)/data_root.txt $(LABELS_CODE) | $(PY_DEP) $(ENV_JSON)
	$(PY) tools/prepare_cityscapes.py --data-root $(call q,$(DATA_ROOT)) --out $(LABELS_DIR) --labels $(LABELS) \
	    --height $(HEIGHT) --width $(WIDTH) $(LIMIT_ARG)
	touch $@

# labels first: prepare validates the dataset (and downloads it when credentials are set)
$(BINS): $(STATE)/data_root.txt $(BINS_CODE) | $(PY_DEP) $(ENV_JSON) $(LABELS_JSON)
	$(PY) tools/preprocess.py --data-root $(call q,$(DATA_ROOT)) --out $(BINS_DIR) --dtype $(INPUT_DTYPE) \
	    --height $(HEIGHT) --width $(WIDTH) $(LIMIT_ARG)
	touch $@

MODEL_CODE := tools/semask/model/network.py tools/semask/spec.py tools/semask/model/checkpoint.py tools/semask/model/export.py \
              tools/export_onnx.py
$(ONNX_RAW): $(MODEL_CODE) $(WEIGHTS_DEP) $(STATE)/weights_$(MODEL).txt | $(PY_DEP) $(ENV_JSON) $(A)/onnx
	$(PY) tools/export_onnx.py --model $(MODEL) --weights $(call q,$(WEIGHTS)) --batch-size $(BS) \
	    --height $(HEIGHT) --width $(WIDTH) --input-dtype $(INPUT_DTYPE) --label-dtype $(LABEL_DTYPE) \
	    --out $@ --no-simplify

$(ONNX_SIM): $(ONNX_RAW)
	$(PY) tools/export_onnx.py --simplify $< --out $@

$(ONNX_ORT_RAW): $(MODEL_CODE) tools/semask/model/ort_graph.py $(WEIGHTS_DEP) $(STATE)/weights_$(MODEL).txt | $(PY_DEP) $(ENV_JSON) $(A)/onnx
	$(PY) tools/export_onnx.py --model $(MODEL) --weights $(call q,$(WEIGHTS)) --batch-size $(BS) \
	    --height $(HEIGHT) --width $(WIDTH) --input-dtype $(INPUT_DTYPE) --label-dtype $(LABEL_DTYPE) \
	    --target ort --out $@ --no-simplify

$(ONNX_ORT): $(ONNX_ORT_RAW)
	$(PY) tools/export_onnx.py --simplify $< --out $@

$(OM): $(ONNX_SIM) | $(A)/om
	$(ASCEND_SRC) $(PY) tools/atc_compile.py --onnx $< --output-om $@ --batch-size $(BS) --height $(HEIGHT) \
	    --width $(WIDTH) --soc $(SOC) --precision $(PRECISION) --input-dtype $(INPUT_DTYPE) --device $(DEVICE)

ifeq ($(BACKEND_RESOLVED),ascend)
$(PRED_SUMMARY): $(OM) $(BINS) | $(A)/preds
	$(ASCEND_SRC) $(PY) tools/ais_infer.py --om $(OM) --input $(BINS_DIR) --output $(A)/preds \
	    --output-dirname $(RUN) --batch-size $(BS) --device $(DEVICE)

$(PERF_JSON): $(OM) | $(A)/perf
	$(PY) tools/provenance.py --out $(@:.json=.provenance.json) --backend ascend --provider $(PROVIDER) \
	    $(PROV_VARS) $(PROV_FILES) --command $(call q,$(COMMAND))
	$(ASCEND_SRC) $(PY) tools/ais_infer.py --om $(OM) --batch-size $(BS) --device $(DEVICE) --loop $(LOOP) --out-json $@
else
$(PRED_SUMMARY): $(ONNX_USED) $(BINS) | $(A)/preds
	$(PY) tools/infer_ort.py --model $(ONNX_USED) --input $(BINS_DIR) --output $(A)/preds \
	    --output-dirname $(RUN) --batch-size $(BS) --provider $(ORT_PROVIDER) --device $(DEVICE)

$(PERF_JSON): $(ONNX_USED) | $(A)/perf
	$(PY) tools/provenance.py --out $(@:.json=.provenance.json) --backend ort --provider $(PROVIDER) \
	    $(PROV_VARS) $(PROV_FILES) --command $(call q,$(COMMAND))
	$(PY) tools/perf.py --model $(ONNX_USED) --batch-size $(BS) --loop $(LOOP) --provider $(ORT_PROVIDER) \
	    --device $(DEVICE) $(if $(wildcard $(BINS)),--input $(BINS_DIR)) --out-json $@
endif

$(REPORT): $(LABELS_JSON) $(PRED_SUMMARY) $(SCORE_CODE) | $(A)/reports
	$(PY) tools/provenance.py --out $(@:.json=.provenance.json) --backend $(BACKEND_RESOLVED) --provider $(PROVIDER) \
	    $(PROV_VARS) $(PROV_FILES) --command $(call q,$(COMMAND))
	$(PY) tools/score.py --pred $(PRED_SUMMARY) --labels $(LABELS_DIR) --label-dtype $(LABEL_DTYPE) \
	    --height $(HEIGHT) --width $(WIDTH) --out-json $@ --out-md $(@:.json=.md) \
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
