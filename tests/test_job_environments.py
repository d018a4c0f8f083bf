"""Every rule's job finds the package `tripletclip` in whatever environment runs it (a per-rule conda env, a container,
another venv), with nothing installed there by hand; and `negate.python` runs the negate jobs in another environment's
interpreter (vLLM's, which pins its own torch). Conda's channels are not reachable here, so the mechanism is tested
the way it fails: jobs run by an interpreter that has every dependency but not the package."""

import site
import subprocess
import sys
import venv

import pytest
import yaml

from helpers.dag import REPO, tiny_config
from tripletclip import io

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory):
    """A venv that sees this project's dependencies (a .pth to our site-packages, whose own .pth files, our editable
    install among them, a plain path entry does not run) but not the package itself."""
    root = tmp_path_factory.mktemp("bare")
    venv.EnvBuilder(with_pip=False).create(root / "env")
    python = root / "env/bin/python"
    target = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                            capture_output=True, encoding="utf-8", check=True).stdout.strip()
    (root / "env" / target.removeprefix(str(root / "env") + "/") / "deps.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n", encoding="utf-8")
    probe = subprocess.run([str(python), "-c", "import torch, snakemake, webdataset\nimport tripletclip"], cwd=root,
                           capture_output=True, encoding="utf-8")
    assert "No module named 'tripletclip'" in probe.stderr, probe.stderr  # dependencies yes, the package no
    return python


def tiny(workdir, **negate) -> None:
    config = tiny_config()
    config["world"].update(num_samples=12, val_samples=4)
    config["download"].update(samples_per_shard=12)
    config["negate"].update(negate)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")


def test_jobs_run_by_an_interpreter_without_the_package_find_it(bare_python, tmp_path):
    """Snakemake itself, and so every job's script, run by the bare interpreter, as under a conda env or a container
    (whose python runs the rule's script) or another venv."""
    tiny(tmp_path)
    done = subprocess.run([str(bare_python), "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
                           str(tmp_path), "--cores", "2", "results/negate/00000.jsonl"], cwd=tmp_path,
                          capture_output=True, encoding="utf-8", timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    stats = io.read_json(tmp_path / "results/negate/00000_stats.json")
    assert stats["in"] == 12 and stats["negated"] == 12
    assert io.read_json(tmp_path / "results/download/stats.json")["successes"] == 12


def test_negate_python_runs_the_negate_job_in_another_environment(bare_python, tmp_path):
    tiny(tmp_path, python=str(bare_python))
    done = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
                           str(tmp_path), "--cores", "2", "results/negate/00000.jsonl"], cwd=tmp_path,
                          capture_output=True, encoding="utf-8", timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    log = (tmp_path / "logs/negate/00000.log").read_text(encoding="utf-8")
    assert f"negate job under {bare_python}" in log  # the job itself says which interpreter ran it
    assert io.read_json(tmp_path / "results/negate/00000_stats.json")["negated"] == 12
    assert not list((tmp_path / "results/negate").glob(".*spec.json"))


def test_a_wrong_negate_python_fails_naming_it(tmp_path):
    from tripletclip.negate import job

    with pytest.raises(FileNotFoundError, match="negate.python: '/no/such/python' is not an executable"):
        job.run_with("/no/such/python", {"negatives": str(tmp_path / "n.jsonl")})
