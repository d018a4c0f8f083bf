"""The commands users type, exactly as typed: `snakemake all`, `snakemake results/eval/sugarcrepe.csv` (the workflow profile
profiles/default gives the cores) and `snakemake --profile slurm all` (a bare profile name, which Snakemake looks up in
the working directory: the repository's `slurm` links to profiles/slurm). Snakemake merges the workflow profile into
any `--profile`, overriding its keys one by one, so the two must not share a key."""

import re
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
    assert args.group_components == {"negate": 50, "synthesize": 50, "score": 50, "benchmarks": 20}
    assert {k: r.value for k, r in args.resources.items()} == {"mem_mb": 512000, "gpu": 8, "cpus_per_task": 64}
    assert args.set_resource_scopes == {"gpu": "local", "cpus_per_task": "local"}
    assert args.rerun_incomplete and args.printshellcmds and args.notemp  # from profiles/default


@pytest.mark.parametrize("argv", [["results/eval/sugarcrepe.csv"], ["all"], ["--profile", "profiles/local", "all"]])
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


def readme_slurm_example() -> dict:
    readme = (REPO / "docs/cluster.md").read_text(encoding="utf-8")
    return yaml.safe_load(re.search(r"```yaml\n(resources:\n.*?)```", readme, re.S).group(1))["resources"]


def plan(tmp_path, resources: dict) -> subprocess.CompletedProcess:
    config = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    config["resources"] = resources
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "snakemake", "--profile", "slurm", "--directory", str(tmp_path), "-n",
                           "all"], cwd=REPO, capture_output=True, encoding="utf-8", timeout=300)


def test_the_readme_cluster_example_plans_every_job_as_asked(tmp_path):
    """Bundled rules take their bundle's partition (pack: synthesize's, export: eval's), and no job is cut to less
    than the config asks for."""
    dry = plan(tmp_path, readme_slurm_example())
    out = dry.stdout + dry.stderr
    assert dry.returncode == 0, out[-3000:]
    train = next(line for line in out.splitlines() if "gres=gpu:8" in line)
    assert "nodes=2" in train and "mem_mb=400000" in train and "slurm_partition=gpu" in train and "qos=long" in train
    assert "cpus_per_task=16" in out  # download's


def test_a_job_asking_more_than_the_profile_allows_is_refused_by_name(tmp_path):
    resources = readme_slurm_example() | {"synthesize": {"gpu": 16, "mem_mb": 64000, "partition": "gpu"}}
    dry = plan(tmp_path, resources)
    assert dry.returncode != 0 and "resources.synthesize.gpu: 16 > 8" in dry.stdout + dry.stderr
    dry = plan(tmp_path, readme_slurm_example() | {"eval": {"nodes": 2}})
    assert dry.returncode != 0 and "`nodes` is set for eval" in dry.stdout + dry.stderr
