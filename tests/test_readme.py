"""The README's claims that a test can hold: every config key and every rule is described, and the tools it tells users
to type are there."""

import re
import subprocess
import sys
from pathlib import Path

import torch
import yaml

from helpers.dag import REPO
from tripletclip.evals import BENCHMARKS

README = (REPO / "README.md").read_text(encoding="utf-8")
# The words of the README's inline code spans (fenced blocks left out: their backticks do not pair).
CODE = {word for span in re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", README, flags=re.S))
        for word in re.findall(r"[A-Za-z_{}][A-Za-z0-9_{}]*", span)}


def schema_keys(node, path=()):
    for key, value in (node.get("properties") or {}).items():
        yield path + (key,)
        yield from schema_keys(value, path + (key,))


def test_every_config_key_is_described():
    schema = yaml.safe_load((REPO / "schemas/config.schema.yaml").read_text(encoding="utf-8"))
    # ARO's per-dataset keys live inside its free-form `datasets` block
    keys = [*schema_keys(schema), ("eval", "aro", "datasets", "min_count"), ("eval", "aro", "datasets", "max_words")]
    assert [".".join(k) for k in keys if k[-1] not in CODE] == []


def test_every_rule_is_described():
    listed = subprocess.run([sys.executable, "-m", "snakemake", "--list-rules"], cwd=REPO, capture_output=True,
                            encoding="utf-8", check=True).stdout
    rules = {line.split()[0] for line in listed.splitlines() if line and not line[0].isspace()}
    # one rule per benchmark: the README names the pattern
    # whole names, longest first: sugarcrepe_pp is not sugarcrepe followed by _pp, world_valset holds no valse
    pattern = "(?<![a-z])(?:" + "|".join(sorted(BENCHMARKS, key=len, reverse=True)) + ")(?![a-z])"
    named = {re.sub(pattern, "{benchmark}", rule) for rule in rules}
    assert sorted(r for r in named if r not in CODE) == []


def test_the_tools_it_names_are_installed():
    assert torch.__version__.startswith("2.14.1") and "`2.14.1+cu130`" in README
    assert (Path(sys.executable).parent / "hf").exists() and "hf download" in README
    assert "huggingface-cli" not in README
