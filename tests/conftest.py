import os

import pytest
import yaml

from helpers import dag

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")


@pytest.fixture(scope="module")
def tiny():
    """open_clip's architecture with seeded random weights, (model, preprocess, tokenizer): scores with no ties, none
    known in advance; the evaluators' tests score their fixtures with it."""
    import torch

    from tripletclip import models

    torch.manual_seed(0)
    model, _, preprocess, tokenizer = models.create("ViT-Tiny-P16-64")
    return model.eval(), preprocess, tokenizer


@pytest.fixture(scope="session")
def dag_run(tmp_path_factory):
    """The whole DAG on the tiny config with every benchmark, run locally once per session."""
    workdir = tmp_path_factory.mktemp("dag")
    (workdir / "config.yaml").write_text(yaml.safe_dump(dag.tiny_config(benchmarks=None)), encoding="utf-8")
    result = dag.snakemake(workdir, "all")
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir
