# Quick start: `make run` (the whole DAG on the embedded default) and `make test`. Both create .venv when missing.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Nothing may reach for the network at import time.
export NO_ALBUMENTATIONS_UPDATE := 1
export WANDB_MODE := disabled
export PATH := $(BIN):$(PATH)

.PHONY: run test claim claim-flops finetune dry-run lint clean gpu-wheels

# torch goes first, by exact version: 2.14.1 is the CPU build served here (docs/quickstart.md, "Quick start").
$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(VENV)/bin/pip install --quiet -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/snakemake all

# The paper's rows, CE-CLIP and NegImage over three seeds on the shapes world, in runs/claim/ (docs/training.md, "The
# paper's claim in miniature"); claim-flops: the same at equal training FLOPs, in runs/claim_flops/.
claim: $(STAMP)
	mkdir -p runs/claim && cp config.yaml runs/claim/config.yaml
	$(BIN)/snakemake --snakefile $(CURDIR)/Snakefile --directory runs/claim all --configfile $(CURDIR)/config/claim.yaml

claim-flops: $(STAMP)
	mkdir -p runs/claim_flops && cp config.yaml runs/claim_flops/config.yaml
	$(BIN)/snakemake --snakefile $(CURDIR)/Snakefile --directory runs/claim_flops all \
		--configfile $(CURDIR)/config/claim.yaml $(CURDIR)/config/flops.yaml

# Fine-tuning on the shapes world (docs/training.md, "Fine-tuning a pretrained CLIP"): a CLIP pretrained on a colour-skewed
# world (runs/finetune/pretrain/), then every method fine-tuned from it on pairs given as COCO (runs/finetune/).
FINETUNE_PAIRS := runs/finetune/coco/dataset_coco.json
$(FINETUNE_PAIRS): $(STAMP) tripletclip/world.py tripletclip/shapes.py
	$(BIN)/python -m tripletclip.world karpathy runs/finetune/coco --images 1000 --captions-per-image 2 --seed 0

finetune: $(STAMP) $(FINETUNE_PAIRS)
	mkdir -p runs/finetune/pretrain && cp config.yaml runs/finetune/pretrain/config.yaml && cp config.yaml runs/finetune/
	$(BIN)/snakemake --snakefile $(CURDIR)/Snakefile --directory runs/finetune/pretrain results/models/clip/seed0 \
		--configfile $(CURDIR)/config/finetune_pretrain.yaml
	$(BIN)/snakemake --snakefile $(CURDIR)/Snakefile --directory runs/finetune all --configfile $(CURDIR)/config/finetune.yaml

test: $(STAMP)
	$(BIN)/pytest

# The wheels benchmarks/gpu_check.sh installs on a GPU node without network (docs/cluster.md, "Running on a cluster"): what
# benchmarks/gpu_wheels.txt names, for CPython 3.12 manylinux x86_64 at .venv's versions (this package is imported
# from the repository itself).
GPU_WHEELS := benchmarks/wheels
gpu-wheels: $(STAMP)
	rm -rf $(GPU_WHEELS) && mkdir -p $(GPU_WHEELS)
	$(BIN)/pip freeze --exclude-editable > $(GPU_WHEELS)/constraints.txt
	$(BIN)/pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
		-r benchmarks/gpu_wheels.txt -c $(GPU_WHEELS)/constraints.txt -d $(GPU_WHEELS)
	rm $(GPU_WHEELS)/constraints.txt
	$(BIN)/python benchmarks/gpu_check.py size

dry-run: $(STAMP)
	$(BIN)/snakemake -n all

lint: $(STAMP)
	$(BIN)/snakemake --lint

clean:
	rm -rf results logs .snakemake runs
