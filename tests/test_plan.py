"""tripletclip.plan without Snakemake: what a config plans (runs, shards, models, steps, blind rows, the baseline)
and what it refuses before any job."""

import copy
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from tripletclip import flops, models
from tripletclip.plan import Plan

REPO = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))


def config(**blocks):
    """config.yaml with `blocks` merged in one level deep, validated and filled with the schema's defaults as the
    DAG build does."""
    c = copy.deepcopy(BASE)
    for key, value in blocks.items():
        c[key] = {**c[key], **value} if isinstance(value, dict) and isinstance(c.get(key), dict) else value
    validate(c, str(REPO / "schemas/config.schema.yaml"))
    return c


def test_the_default_run():
    c = config()
    plan = Plan(c)
    t = c["train"]
    assert plan.runs == [f"{m}/seed{s}" for m in t["methods"] for s in t["seeds"]]
    assert len(plan.shards) == -(-c["world"]["num_samples"] // c["download"]["samples_per_shard"])
    assert plan.shards[0] == "00000" and plan.shard_paths is None
    assert plan.benchmarks == c["eval"]["benchmarks"] and plan.eval_models == {} and plan.init is None
    assert plan.steps == {m: t["steps"] for m in t["methods"]} and plan.baseline == "clip"
    assert plan.blind_models == ["blind-shorter", "blind-frequent", "blind-ngram", "blind-novel"]
    assert set(plan.blind) <= set(plan.benchmarks) and "retrieval" not in plan.blind


def test_an_evaluation_only_run_reads_no_training_data():
    tiny = "ViT-Tiny-P16-64"
    plan = Plan(config(train={"methods": []}, models={"tiny": {"model": tiny}}, source="tsv"))
    assert plan.runs == [] and plan.shards == [] and plan.eval_models == {
        "tiny": {"model": tiny, "pretrained": None, "quick_gelu": False}}
    assert plan.blind_models == ["blind-shorter"] and plan.baseline == "tiny"


def test_the_init_model_is_a_row():
    spec = {"model": "ViT-Tiny-P16-64"}
    named = Plan(config(models={"pre": spec}, train={"init": "pre"}))
    assert named.init_row == "pre" and list(named.eval_models) == ["pre"] and named.baseline == "pre"
    inline = Plan(config(train={"init": spec}))
    assert inline.init_row == "init" and inline.eval_models["init"] == inline.init


def test_a_flops_budget_plans_the_steps_flops_gives():
    c = config(train={"budget": "flops", "methods": ["clip", "tripletclip"]})
    plan = Plan(c)
    assert plan.steps == flops.planned_steps(c["train"], {"clip": "clip", "tripletclip": "tripletclip"},
                                             models.model_config(c["train"]["model"]))
    assert plan.steps["tripletclip"] == c["train"]["steps"] < plan.steps["clip"]


def test_arms_are_named_models_of_a_loss_beside_the_methods():
    plan = Plan(config(train={"methods": ["clip", "tripletclip"], "seeds": [0],
                              "arms": {"negclip_pp": {"loss": "negclip"}, "laclip": {"loss": "clip"}}}))
    assert plan.arms == {"clip": {"loss": "clip"}, "tripletclip": {"loss": "tripletclip"},
                         "negclip_pp": {"loss": "negclip"}, "laclip": {"loss": "clip"}}
    assert plan.runs == ["clip/seed0", "tripletclip/seed0", "negclip_pp/seed0", "laclip/seed0"]
    assert plan.methods == list(plan.arms) and plan.baseline == "clip"
    with pytest.raises(ValueError, match="'negclip_pp' is a method's, an arm's"):
        Plan(config(train={"arms": {"negclip_pp": {"loss": "negclip"}}}, models={"negclip_pp": {"model": "RN50"}}))
    with pytest.raises(ValueError, match="train.arms: 'clip' is also in train.methods"):
        Plan(config(train={"arms": {"clip": {"loss": "negclip"}}}))


@pytest.mark.parametrize("blocks, message", [
    ({"models": {"clip": {"model": "ViT-Tiny-P16-64"}}}, "'clip' is a method's, an arm's or a blind scorer's name"),
    ({"train": {"methods": []}}, "nothing to run"),
    ({"report": {"baseline": "openai"}}, "report.baseline: 'openai' is neither"),
    ({"models": {"m": {"model": "ViT-B32"}}}, "models.m: open_clip has no model 'ViT-B32' (did you mean ViT-B-32"),
    ({"train": {"init": "missing.pt"}}, "train.init: no such checkpoint file or local-dir: model missing.pt"),
])
def test_what_is_refused_before_any_job(blocks, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        Plan(config(**blocks))
