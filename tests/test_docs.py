"""The README and the reference in docs/: every config key and every rule is named there, every link resolves, the
README's commands run (dry) as typed, and the tools they tell users to type are there."""

import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from helpers.dag import REPO
from tripletclip.evals import BENCHMARKS

README = (REPO / "README.md").read_text(encoding="utf-8")
PAGES = sorted((REPO / "docs").glob("*.md"))
DOCS = README + "\n".join(page.read_text(encoding="utf-8") for page in PAGES)
# The words of the inline code spans (fenced blocks left out: their backticks do not pair).
CODE = {word for text in [README, *(p.read_text(encoding="utf-8") for p in PAGES)]
        for span in re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
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
    # whole names, longest first: sugarcrepe_pp is not sugarcrepe followed by _pp, world_valset holds no valse
    pattern = "(?<![a-z])(?:" + "|".join(sorted(BENCHMARKS, key=len, reverse=True)) + ")(?![a-z])"
    named = {re.sub(pattern, "{benchmark}", rule) for rule in rules}
    assert sorted(r for r in named if r not in CODE) == []


def test_the_tools_it_names_are_installed():
    assert torch.__version__.startswith("2.14.1") and "`2.14.1+cu130`" in DOCS
    assert (Path(sys.executable).parent / "hf").exists() and "hf download" in DOCS
    assert "huggingface-cli" not in DOCS


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation but hyphens dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return {slug(line.lstrip("#")) for line in text.splitlines() if re.match(r"#{1,6} ", line)}


def test_every_link_resolves():
    """Each relative link and image of the README and docs/ names a file that exists, and its #anchor a heading
    there."""
    broken, checked = [], 0
    for page in [REPO / "README.md", *PAGES]:
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            checked += 1
            if not file.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and file.suffix == ".md" and anchor not in anchors(file):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert broken == [] and checked > 50


def test_the_readme_reaches_its_first_command_within_one_screen_and_links_every_page():
    assert README.index("make run") < len("\n".join(README.splitlines()[:50]))
    assert {p.name for p in PAGES} <= set(re.findall(r"\]\(docs/([\w.]+\.md)", README)) | {"README.md"}
    assert len(README.splitlines()) < 150


def readme_commands() -> list[str]:
    """The commands the README tells users to type: its fenced bash blocks' lines and its table's `type` cells."""
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    cells = re.findall(r"\| `((?:make|snakemake) [^`]+)` \|", README)
    return [c for c in lines + cells if c]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """The repository's files as a fresh clone holds them: the commands run in their own copy."""
    root = tmp_path_factory.mktemp("checkout")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode("utf-8").split("\0")
    for name in filter(None, listed):
        source, target = REPO / name, root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(source.readlink())
        elif source.is_file():
            shutil.copy2(source, target)
    return root


# The configs that need real data on disk: as typed, their dry run stops before any job, naming the first missing
# path under data/ and its key (tests/test_arms.py and tests/test_finetune.py run their DAGs on tiny stand-ins).
NEEDS_DATA = {"config/evaluate.yaml": "eval.sugarcrepe.benchmark: data/sugarcrepe",
              "config/finetune_coco.yaml": "coco.annotations: data/karpathy/dataset_coco.json does not exist",
              "config/tripletclip_cc3m.yaml": "download.url_list: no file 'data/cc3m/Train_GCC-training.tsv'"}


def test_the_readmes_commands_run_as_typed(checkout):
    commands = readme_commands()
    assert {c.split()[0] for c in commands} == {"make", "snakemake"} and len(commands) >= 6
    for command in commands:
        argv = shlex.split(command)
        if argv[0] == "make":  # the target exists and its recipe expands (`make -n`)
            result = subprocess.run(["make", "-n", *argv[1:]], cwd=checkout, capture_output=True, encoding="utf-8")
            assert result.returncode == 0, (command, result.stderr[-2000:])
            continue
        if "--profile" in argv and importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
            continue  # `pip install -e ".[slurm]"` (make test installs it)
        result = subprocess.run([sys.executable, "-m", "snakemake", *argv[1:], "-n"], cwd=checkout,
                                capture_output=True, encoding="utf-8", timeout=600)
        out = result.stdout + result.stderr
        config = next((c for c in NEEDS_DATA if c in argv), None)
        if config:
            assert result.returncode != 0 and NEEDS_DATA[config] in out, (command, out[-2000:])
        else:
            assert result.returncode == 0 and "Job stats" in out, (command, out[-2000:])
