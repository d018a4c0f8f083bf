"""The paper's five rows in one run (TripletCLIP Tables 2-5): LaCLIP, LaCLIP+HN, NegCLIP (a rules set of four
negatives), NegCLIP++ (the main set) and TripletCLIP, on rewritten captions, through the whole DAG; and a set or an arm
added later runs only its own jobs."""

import copy
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers.dag import PAPER_ARMS as PAPER, snakemake, tiny_config
from tripletclip import io

pytestmark = pytest.mark.slow


def paper_config():
    config = tiny_config()
    config["train"].update(methods=list(PAPER), arms=copy.deepcopy(PAPER), seeds=[0])
    config["negate"].update(input="rewrites", sets={"rules": {"backend": "rules", "num_negatives": 4,
                                                              "input": "captions"}})
    config["rewrite"].update(backend="shapes", num_rewrites=3)
    config["eval"]["benchmarks"] = ["sugarcrepe"]
    return config


def jobs(result) -> dict[str, int]:
    """{rule: jobs} of a dry run's job table."""
    table = result.stdout.split("Job stats:")[1].split("\n\n")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m[1] != "total"}


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("paper")
    (workdir / "config.yaml").write_text(yaml.safe_dump(paper_config()), encoding="utf-8")
    result = snakemake(workdir, "all")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return workdir


def test_each_caption_is_rewritten_once_and_negated_once_per_set(paper):
    for shard in ("00000", "00001"):
        downloaded = sum(1 for _ in io.iter_shard(paper / f"results/download/{shard}.tar"))
        rewrites = io.read_jsonl(paper / f"results/rewrite/{shard}.jsonl")
        main = io.read_jsonl(paper / f"results/negate/{shard}.jsonl")
        rules = io.read_jsonl(paper / f"results/negate/rules/{shard}.jsonl")
        assert len(rewrites) == len(main) == len(rules) == downloaded == 48
        assert len({r["key"] for r in rewrites}) == 48
        assert all(len(r["rewrites"]) == 3 and r["caption"] not in r["rewrites"] for r in rewrites)
        # the main set negated each caption's first rewrite, the rules set the caption itself, four times
        first = {r["key"]: r["rewrites"][0] for r in rewrites}
        assert all(row["caption"] == first[row["key"]] for row in main)
        captions = {r["key"]: r["caption"] for r in rewrites}
        assert all(row["caption"] == captions[row["key"]] and row["backend"] == "rules" for row in rules)
        counts = [len(row["negatives"]) for row in rules]  # of distinct types, as many as the caption allows
        assert 1 <= min(counts) and max(counts) == 4 and sum(counts) > 2 * 48
        assert io.read_json(paper / f"results/rewrite/{shard}_stats.json")["rewritten"] == 48
    # no arm reads the rules set's images: none are made
    assert not (paper / "results/synthesize/rules").exists()


def test_the_report_shows_the_papers_five_rows_and_what_each_spent(paper):
    long = pd.read_csv(paper / "results/report/results.csv")
    assert list(dict.fromkeys(long.loc[long["trained"], "method"])) == list(PAPER)
    significance = pd.read_csv(paper / "results/report/significance.csv")
    assert set(significance["baseline"]) == {"laclip"}
    metrics = {arm: io.read_json(paper / f"results/train/{arm}/seed0/metrics.json") for arm in PAPER}
    assert all(m["pairs_seen"] == 64 for m in metrics.values())
    hn = metrics["laclip_hn"]
    assert hn["real_pairs_seen"] + hn["synthetic_pairs_seen"] == 64 and hn["synthetic_pairs_seen"] > 0
    assert metrics["laclip"]["synthetic_pairs_seen"] == 0 and metrics["laclip"]["real_pairs_seen"] == 64
    assert (metrics["negclip_rules"]["negatives"], metrics["negclip_rules"]["captions"]) == ("rules", "original")
    assert (metrics["tripletclip_laclip"]["negatives"], metrics["tripletclip_laclip"]["captions"]) == ("main", "rewrites")
    assert metrics["negclip_rules"]["captions_per_step"] == 16 * 5 and metrics["negclip_pp"]["captions_per_step"] == 32
    assert all(m["unique_real_images"] == min(m["real_pairs_seen"], 96) for m in metrics.values())
    markdown = (paper / "results/report/results.md").read_text(encoding="utf-8")
    compute = markdown.split("### Compute")[1].split("###")[0]
    assert re.search(r"\| laclip_hn\s+\| clip\s+\| main\s+\| rewrites \+ negative pairs\s+\|", compute), compute
    assert re.search(r"\| negclip_rules\s+\| negclip\s+\| rules\s+\| original\s+\|", compute), compute
    real = hn["real_pairs_seen"]
    assert f"of its 64 pairs, {real} were real ({real / 64:.0%}) and {64 - real} synthetic" in compute
    view = io.read_json(paper / "results/train/negclip_rules/view.json")
    assert view["negative_set"] == "rules" and len(view["negatives"]) == 2


def test_a_set_or_an_arm_added_later_runs_only_its_own_jobs(paper):
    config = paper_config()
    config["negate"]["sets"]["more"] = {"backend": "rules", "types": ["replace_att"], "input": "captions"}
    config["train"]["arms"]["negimage_more"] = {"loss": "negimage", "negatives": "more"}
    config["train"]["methods"].append("negimage_more")
    (paper / "more.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    result = snakemake(paper, "all", "-n", "--configfile", str(paper / "more.yaml"))
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    # its negatives and images, shard by shard; its training, export and evaluation; the report
    assert jobs(result) == {"negate_set": 2, "synthesize_set": 2, "arm_view": 1, "train": 1, "export": 1,
                            "eval_analogues_model": 1, "significance": 1, "report": 1, "all": 1}


def test_the_papers_cc3m_setup_plans_on_a_laptop(tmp_path):
    """config/tripletclip_cc3m.yaml's dry run, its files stood in for by tiny ones in their layouts (a headerless
    CC3M list, LaCLIP's four files of one line per row) and the authors' checkpoints left out (the leaderboard's test
    checks their specs): every stage of the paper's five rows is planned; a release file of another length stops it."""
    from snakemake.utils import update_config

    repo = Path(__file__).resolve().parents[1]
    config = yaml.safe_load((repo / "config.yaml").read_text(encoding="utf-8"))
    update_config(config, yaml.safe_load((repo / "config/tripletclip_cc3m.yaml").read_text(encoding="utf-8")))
    config["models"] = {}
    config["report"]["published"] = {k: v for k, v in config["report"]["published"].items() if "-cc3m" not in k}
    rows = 25
    (tmp_path / "data/cc3m").mkdir(parents=True)
    (tmp_path / "data/cc3m/Train_GCC-training.tsv").write_text(
        "".join(f"a caption {i}\thttp://example.com/{i}.jpg\n" for i in range(rows)), encoding="utf-8")
    config["download"].update(num_samples=rows, samples_per_shard=10)
    (tmp_path / "data/laclip").mkdir()
    for path in config["rewrite"]["files"]:
        (tmp_path / path).write_text("".join(f"a rewrite of caption {i}\n" for i in range(rows)), encoding="utf-8")
    for benchmark in ("sugarcrepe", "retrieval", "zeroshot"):
        from tripletclip.plan import benchmark_paths

        for _, path in benchmark_paths(config, benchmark):
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            if "." in Path(path).name:
                (tmp_path / path).write_text("{}", encoding="utf-8")
            else:
                (tmp_path / path).mkdir(exist_ok=True)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    result = snakemake(tmp_path, "all", "-n")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    planned = jobs(result)
    assert planned["download"] == 1 and planned["rewrite"] == planned["negate"] == planned["negate_set"] == 3
    assert planned["synthesize"] == planned["pack"] == 3 and "synthesize_set" not in planned
    assert planned["train"] == planned["export"] == 5 and planned["arm_view"] == 5
    with open(tmp_path / config["rewrite"]["files"][2], "a", encoding="utf-8") as f:
        f.write("one line too many\n")
    result = snakemake(tmp_path, "all", "-n")
    assert result.returncode != 0
    assert "cc3m_mscoco.txt has 26 lines, but the URL list has 25 rows" in result.stdout + result.stderr
