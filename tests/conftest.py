import os

import pytest
import yaml

from helpers import dag

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")


@pytest.fixture(scope="session")
def dag_run(tmp_path_factory):
    """The whole DAG on the tiny config, run locally once per session."""
    workdir = tmp_path_factory.mktemp("dag")
    (workdir / "config.yaml").write_text(yaml.safe_dump(dag.tiny_config()), encoding="utf-8")
    result = dag.snakemake(workdir, "all")
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir
