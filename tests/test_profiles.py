"""The commands users type, exactly as typed: `snakemake all`, `snakemake eval_sugarcrepe` (the workflow profile
profiles/default gives the cores) and `snakemake --profile slurm all` (a bare profile name, which Snakemake looks up in
the working directory: the repository's `slurm` links to profiles/slurm). Snakemake merges the workflow profile into
any `--profile`, overriding its keys one by one, so the two must not share a key."""

import subprocess
import sys

import pytest
import yaml
from snakemake import cli
from snakemake.utils import available_cpu_count

from helpers.dag import REPO, tiny_config


def profile(name: str) -> dict:
    return yaml.safe_load((REPO / "profiles" / name / "config.yaml").read_text(encoding="utf-8"))


def test_the_workflow_profile_overrides_nothing_another_profile_sets():
    default = set(profile("default"))
    assert "cores" in default
    for other in ("slurm", "local"):
        assert default.isdisjoint(profile(other)), other
    assert (REPO / "slurm").resolve() == (REPO / "profiles/slurm").resolve()


@pytest.fixture
def at_repo_root(monkeypatch):
    monkeypatch.chdir(REPO)


@pytest.mark.parametrize("argv", [["--profile", "slurm", "all"], ["--profile", "profiles/slurm", "all"]])
def test_the_slurm_profile_as_typed_keeps_its_bundles_and_gets_the_shared_settings(at_repo_root, argv):
    _, args = cli.parse_args(argv)
    assert args.executor == "slurm" and args.jobs == 100 and args.retries == 2 and args.keep_going
    assert args.group_components == {"negate": 50, "synthesize": 50, "score": 50, "benchmarks": 10}
    assert {k: r.value for k, r in args.resources.items()} == {"mem_mb": 64000, "gpu": 1, "cpus_per_task": 8}
    assert args.set_resource_scopes == {"gpu": "local", "cpus_per_task": "local"}
    assert args.rerun_incomplete and args.printshellcmds and args.notemp  # from profiles/default


@pytest.mark.parametrize("argv", [["eval_sugarcrepe"], ["all"], ["--profile", "profiles/local", "all"]])
def test_a_local_run_as_typed_has_its_cores(at_repo_root, argv):
    _, args = cli.parse_args(argv)
    assert args.cores == available_cpu_count() and args.executor in (None, "local")
    assert args.rerun_incomplete and args.printshellcmds


def test_the_bare_slurm_profile_plans_the_dag_from_the_repository_root(tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(tiny_config()), encoding="utf-8")
    dry = subprocess.run([sys.executable, "-m", "snakemake", "--profile", "slurm", "--directory", str(tmp_path), "-n",
                          "all"], cwd=REPO, capture_output=True, encoding="utf-8", timeout=300)
    out = dry.stdout + dry.stderr
    assert dry.returncode == 0, out[-3000:]
    assert "Using profiles slurm and workflow specific profile profiles/default" in out
    assert "This was a dry-run" in out
