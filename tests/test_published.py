"""The papers' numbers (tripletclip/evals/data/published.csv) beside ours: the shipped table, which rows match,
the differences, and the report's section and CSV."""

import re
import shlex
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_report import OUTPUTS, write_named

from tripletclip import published, report
from tripletclip.evals import eqben, mmvp_vlm, valse, whatsup
from tripletclip.evals import spec as spec_benchmark
from tripletclip.models import ModelSpec

ROWS = published.load()


def test_the_shipped_table_holds_the_papers_numbers():
    table = pd.DataFrame(ROWS)
    assert list(table.columns) == list(published.COLUMNS) and table["source"].str.len().gt(10).all()
    openai = table[(table["model"] == "ViT-B-32") & (table["pretrained"] == "openai")
                   & (table["benchmark"] == "sugarcrepe")].set_index("metric")["value"]
    # SugarCrepe's paper, OpenAI ViT-B/32, every category (shared/papers.md)
    assert openai.to_dict() == {"replace_obj": 90.92, "replace_att": 80.08, "replace_rel": 69.20,
                                "swap_obj": 61.38, "swap_att": 63.96, "add_obj": 77.21, "add_att": 68.79}
    avg = table[(table["benchmark"] == "sugarcrepe") & (table["metric"] == "avg")].set_index("pretrained")["value"]
    assert avg["cc3m-tripletclip"] == 63.49 and avg["cc12m-negclip"] == 68.00  # TripletCLIP's Table 4
    aro = table[table["benchmark"] == "aro"].set_index(["pretrained", "metric"])["value"]
    assert aro[("ce-clip", "vg_relation")] == 83.0 and aro[("negclip", "vg_attribution")] == 70.5
    assert not table.duplicated(["benchmark", "metric", "model", "pretrained"]).any()


def test_a_bad_table_names_its_line(tmp_path):
    path = tmp_path / "published.csv"
    path.write_text("benchmark,metric,model,pretrained,value,source\nsugarcrepe,avg,ViT-B-32,openai,n/a,x\n",
                    encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: value 'n/a' is not a number"):
        published.load(path)
    path.write_text("benchmark,metric,value\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no column"):
        published.load(path)


def test_models_match_by_architecture_and_tag_and_others_when_named():
    specs = {"openai-b32": {"model": "ViT-B-32-quickgelu", "pretrained": "openai", "quick_gelu": True},
             "mine": {"model": "ViT-B-32", "pretrained": "/runs/epoch_10.pt"},
             "laion": {"model": "ViT-B-32", "pretrained": "laion2b_s34b_b79k"},
             "laion400m": {"model": "ViT-B-32", "pretrained": "laion400m_e32"}}  # a tag with no published row
    chosen = {"tripletclip": {"model": "ViT-B-32", "pretrained": "cc3m-tripletclip"},
              "mine": {"model": "ViT-B-32", "pretrained": "negclip"}}
    assert published.matches(specs, chosen, ROWS) == {
        "tripletclip": ("ViT-B-32", "cc3m-tripletclip"), "mine": ("ViT-B-32", "negclip"),
        "openai-b32": ("ViT-B-32", "openai"),  # the QuickGELU name is the same weights
        "laion": ("ViT-B-32", "laion2b_s34b_b79k")}
    with pytest.raises(ValueError, match="no published row for model 'ViT-B-16', pretrained 'openai'"):
        published.matches({}, {"x": {"model": "ViT-B-16", "pretrained": "openai"}}, ROWS)


def test_the_report_sets_matched_rows_beside_the_papers(tmp_path):
    paths = [write_named(tmp_path, "openai-b32", {"replace_obj": 91.0, "add_att": 70.0, "avg": 75.0}),
             write_named(tmp_path, "laion-b32", {"replace_obj": 92.0, "add_att": 71.0, "avg": 76.0}),
             write_named(tmp_path, "openai-b32", {"vg_relation": 60.0, "vg_attribution": 62.0}, "aro")]
    outputs = {key: str(tmp_path / "out" / name) for key, name in OUTPUTS.items()}
    outputs["published"] = str(tmp_path / "out" / "published.csv")
    matched = {"openai-b32": ["ViT-B-32", "openai"]}
    report.write_report(paths, [], {}, outputs, published={"matched": matched, "real": ["sugarcrepe"]})
    comparison = pd.read_csv(outputs["published"])
    # ARO ran on its shapes analogue here: no reproduction to check; avg has no published OpenAI value
    assert comparison[["row", "metric", "ours", "published"]].values.tolist() == [
        ["openai-b32", "replace_obj", 91.0, 90.92], ["openai-b32", "add_att", 70.0, 68.79]]
    assert comparison["difference"].tolist() == pytest.approx([0.08, 1.21])
    text = (tmp_path / "out/results.md").read_text(encoding="utf-8")
    section = text.split("### Published numbers beside ours")[1]
    lines = [line for line in section.split("###")[0].splitlines() if line.startswith("|")][2:]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    assert [c[:6] for c in cells] == [["openai-b32", "ViT-B-32 openai", "sugarcrepe/replace_obj", "91.00", "90.92",
                                       "+0.08"],
                                      ["openai-b32", "ViT-B-32 openai", "sugarcrepe/add_att", "70.00", "68.79",
                                       "+1.21"]]
    assert cells[0][6].startswith("Hsieh et al., NeurIPS 2023 (SugarCrepe")
    # nothing matched: an empty CSV with its header, no section
    report.write_report(paths, [], {}, outputs, published={"matched": {}, "real": ["sugarcrepe"]})
    assert pd.read_csv(outputs["published"]).empty
    assert "Published numbers" not in (tmp_path / "out/results.md").read_text(encoding="utf-8")


# config/leaderboard.yaml: the field's released checkpoints, each set beside its authors' numbers

LEADERBOARD = Path(__file__).resolve().parents[1] / "config" / "leaderboard.yaml"
FETCHERS = ("hf download ", "gdown ", "curl ", "wget ")


def _fetch_commands() -> dict[str, list[str]]:
    """{models: key: the fetch commands in the comment lines right above its entry}."""
    lines = LEADERBOARD.read_text(encoding="utf-8").splitlines()
    start = lines.index("models:")
    end = next(i for i in range(start + 1, len(lines)) if lines[i] and not lines[i].startswith(" "))
    out = {}
    for i in range(start + 1, end):
        entry = re.match(r"^  ([^\s#:][^:]*): \{", lines[i])
        if not entry:
            continue
        above, j = [], i - 1
        while j > start and lines[j].strip().startswith("#"):
            above.append(lines[j].strip()[1:].strip())
            j -= 1
        out[entry.group(1)] = [c for c in above if c.startswith(FETCHERS)]
    return out


def _writes_to(command: str) -> str | None:
    """Where a fetch command puts its download: --local-dir DIR (joined with FILE when it names one), gdown's -O."""
    words = shlex.split(command)
    for flag in ("--local-dir", "-O"):
        if flag in words:
            target = words[words.index(flag) + 1]
            positional = [w for w in words[2:words.index(flag)] if not w.startswith("-")]
            if words[0] == "hf" and len(positional) == 2:  # hf download REPO FILE --local-dir DIR
                return f"{target}/{positional[1]}"
            return target
    return None


def test_the_leaderboard_names_legal_parseable_models_each_with_its_fetch_command():
    config = yaml.safe_load(LEADERBOARD.read_text(encoding="utf-8"))
    models = config["models"]
    commands = _fetch_commands()
    assert set(commands) == set(models) and len(models) >= 20
    for key, spec in models.items():
        # the schema's key pattern; a method's or a blind scorer's name is a report row of its own (rules/common.smk)
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", key), key
        assert key not in ("clip", "negclip", "negimage", "tripletclip", "ceclip") and not key.startswith("blind-")
        parsed = ModelSpec.parse(spec)
        assert commands[key], f"{key}: no `# hf download`/`# gdown`/`# curl` line above it"
        targets = [_writes_to(c) for c in commands[key]]
        if parsed.model.startswith("hf-hub:"):  # into the hub cache, where hf-hub: looks
            assert f"hf download {parsed.model.removeprefix('hf-hub:')}" in commands[key], key
        elif parsed.model.startswith("local-dir:"):
            assert parsed.model.removeprefix("local-dir:") in targets, key
        elif parsed.pretrained and "/" in parsed.pretrained:  # a file under checkpoints/: where the command puts it
            assert parsed.pretrained.startswith("checkpoints/"), key
            assert any(t and (parsed.pretrained == t or parsed.pretrained.startswith(t + "/")) for t in targets), key
    # OpenAI-initialised fine-tunes given as files need QuickGELU; the three open_clip tags are evaluate.yaml's
    assert all(ModelSpec.parse(s).quick_gelu for s in models.values()
               if str(s.get("pretrained", "")).startswith("checkpoints/"))
    evaluate = yaml.safe_load((LEADERBOARD.parent / "evaluate.yaml").read_text(encoding="utf-8"))["models"]
    assert {k: models[k] for k in evaluate} == evaluate


def test_every_leaderboard_model_sits_beside_its_published_rows():
    config = yaml.safe_load(LEADERBOARD.read_text(encoding="utf-8"))
    models, chosen = config["models"], config["report"]["published"]
    assert set(chosen) <= set(models)
    matched = published.matches(models, chosen, ROWS)  # raises on a target without published rows
    known = published.published_models(ROWS)
    for row, target in chosen.items():
        assert (target["model"], target["pretrained"]) in known, row
        assert ModelSpec.parse(models[row]).pretrained not in {p for _, p in known}  # no tag: it needs naming
    # the open_clip tags match by themselves; only the releases without a readable table stay unmatched
    assert {"openai-b32", "laion-b32", "datacomp-b32"} <= set(matched)
    assert set(models) - set(matched) == {"clic-cogvlm", "clic-pixelprose", "degla", "spec", "laclip-hn-cc3m"}
    # every metric named as our evaluators name it (the benchmarks the leaderboard runs, its dataset keys)
    names = {"sugarcrepe": {"replace_obj", "replace_att", "replace_rel", "swap_obj", "swap_att", "add_obj", "add_att",
                            "avg"},
             "sugarcrepe_pp": {"avg_itt", "avg_tot"}, "winoground": {"text", "image", "group"},
             "aro": set(config["eval"]["aro"]["datasets"]),
             "valse": {*valse.PIECES, "avg"}, "whatsup": {*whatsup.REAL, "avg"},
             "colorswap": {"text", "image", "group"},
             "spec": {f"{s}_{d}" for s in spec_benchmark.SUBSETS for d in ("i2t", "t2i")} | {"i2t", "t2i"},
             "mmvp_vlm": {f"{mmvp_vlm.slug(n)}{s}" for n in mmvp_vlm.TYPES.values()
                          for s in ("", "_text", "_image", "_group")} | {"avg", "text", "image", "group"},
             "crepe": {"atom", "swap", "negate", "avg"},
             "eqben": {f"{d}_{s}" for d in eqben.SUBSETS for s in ("text", "image", "group")},
             "svo_probes": {"subj_neg", "verb_neg", "obj_neg", "avg"},
             "vismin": {f"{c}_{s}" for c in ("object", "attribute", "relation", "counting")
                        for s in ("text", "image", "group")} | {"avg"},
             "zeroshot": {f"{d}_top1" for d in config["eval"]["zeroshot"]["datasets"]},
             "retrieval": {f"{d}_{w}_r{k}" for d in config["eval"]["retrieval"]["datasets"] for w in ("i2t", "t2i")
                           for k in (1, 5, 10)}}
    for r in ROWS:
        assert r["benchmark"] in config["eval"]["benchmarks"] and r["metric"] in names[r["benchmark"]], r
        assert 0 <= r["value"] <= 100, r


def test_the_released_models_rows_are_vl_compos_and_the_papers():
    rows = pd.DataFrame(ROWS)
    # MMVP's paper rows of the larger OpenAI models (its figure): the two ViT-L-14s' pattern scores and average
    large = rows[rows["model"] != "ViT-B-32"]
    assert set(large["model"]) == {"ViT-L-14", "ViT-L-14-336"} and set(large["benchmark"]) == {"mmvp_vlm"}
    assert large.set_index(["model", "metric"])["value"][("ViT-L-14", "avg")] == 19.3
    table = rows[rows["model"] == "ViT-B-32"].set_index(["benchmark", "metric", "pretrained"])["value"]
    # vl_compo's individual_results.csv (ytaek-oh/vl_compo 43c479b), rounded to 2 places (shared/papers.md)
    assert [table[("winoground", m, "openai")] for m in ("text", "image", "group")] == [31.25, 11.00, 8.75]
    assert table[("valse", "avg", "openai")] == 65.82 and table[("zeroshot", "imagenet1k_top1", "openai")] == 63.34
    assert table[("sugarcrepe", "avg", "negclip")] == 83.47 and table[("sugarcrepe", "avg", "dac-llm")] == 86.40
    assert table[("aro", "coco_order", "negclip")] == 82.56 and table[("retrieval", "coco_i2t_r1", "dac-sam")] == 33.12
    # the primary sources stay where they were: CE-CLIP's ARO and SugarCrepe tables, SugarCrepe's OpenAI row
    assert table[("aro", "vg_relation", "ce-clip")] == 83.0 and table[("sugarcrepe", "swap_obj", "openai")] == 61.38
    assert table[("sugarcrepe", "avg", "ce-clip")] == 85.21  # the mean of its paper's seven categories
    # What'sUp: vl_compo's six columns, and their mean (its What'sUp number, 41.5 for OpenAI's in shared/papers.md)
    assert [table[("whatsup", m, "openai")] for m in whatsup.REAL] == [30.58, 30.88, 43.26, 50.68, 46.29, 47.08]
    assert table[("whatsup", "avg", "openai")] == 41.46 and table[("whatsup", "controlled_a", "negclip")] == 33.25
    # SPEC: the authors' notebook output for OpenAI's ViT-B/32; its two averages are the means of the six subsets
    subsets = [[table[("spec", f"{s}_{d}", "openai")] for s in spec_benchmark.SUBSETS] for d in ("i2t", "t2i")]
    assert [table[("spec", d, "openai")] for d in ("i2t", "t2i")] == [33.39, 30.55]
    assert [round(sum(v) / 6, 2) for v in subsets] == [33.39, 30.55]
    # MMVP-VLM: vl_compo's per-pattern group scores (k/15) and its results.csv number, their mean; the paper's own
    groups = [table[("mmvp_vlm", f"{mmvp_vlm.slug(n)}_group", "openai")] for n in mmvp_vlm.TYPES.values()]
    assert groups == [0.0, 0.0, 13.33, 0.0, 0.0, 13.33, 13.33, 6.67, 13.33]
    assert table[("mmvp_vlm", "group", "openai")] == 6.67 and table[("mmvp_vlm", "group", "negclip")] == 14.07
    # CREPE: vl_compo's pooled productivity R@1 per foil type (k/17698, k/7405, k/17303) and their mean
    # EqBen: vl_compo's full sub-dataset scores; OpenAI's youcook2 and eqbenag ones are k/5,000, not the full sets
    # (left out)
    assert table[("eqben", "eqbengebc_group", "openai")] > 0 and ("eqben", "eqbenag_group", "openai") not in table
    assert ("eqben", "eqbenag_group", "negclip") in table
    # SVO-Probes: vl_compo's per-type pairwise accuracies and their mean; VisMin: its project page's CLIP row, AVG the
    # mean of its twelve cells
    svo = [table[("svo_probes", m, "openai")] for m in ("subj_neg", "verb_neg", "obj_neg")]
    assert round(sum(svo) / 3, 2) == table[("svo_probes", "avg", "openai")] == 84.14
    cells = [table[("vismin", f"{c}_{s}", "openai")] for c in ("object", "attribute", "relation", "counting")
             for s in ("text", "image", "group")]
    assert table[("vismin", "avg", "openai")] == 41.15 and abs(sum(cells) / 12 - 41.15) < 0.01  # rounded cells
    crepe = [table[("crepe", m, "openai")] for m in ("atom", "swap", "negate")]
    assert crepe == [18.96, 17.26, 34.90] and table[("crepe", "avg", "openai")] == round(sum(
        [100 * 3356 / 17698, 100 * 1278 / 7405, 100 * 6039 / 17303]) / 3, 2)
    # READ-CLIP's Table 1
    assert [table[("sugarcrepe", "avg", "read-clip")], table[("sugarcrepe_pp", "avg_itt", "read-clip")],
            table[("sugarcrepe_pp", "avg_tot", "read-clip")]] == [87.0, 69.8, 66.2]
