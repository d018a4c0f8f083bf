"""tripletclip.plan without Snakemake: what a config plans (runs, shards, models, steps, blind rows, the baseline)
and what it refuses before any job."""

import copy
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from helpers.dag import PAPER_ARMS
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
    assert list(plan.arms) == ["laclip", "laclip_hn", "negclip_rules", "negclip_pp", "tripletclip_laclip"]
    assert plan.used_sets == ["rules"] and plan.rewrites and plan.baseline == "laclip"
    assert len(plan.shards) == -(-c["world"]["num_samples"] // c["download"]["samples_per_shard"])
    assert plan.shards[0] == "00000" and plan.shard_paths is None
    assert plan.benchmarks == c["eval"]["benchmarks"] and plan.eval_models == {} and plan.init is None
    assert plan.steps == {m: t["steps"] for m in t["methods"]}
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
    assert plan.steps == flops.planned_steps(c["train"], plan.arms, models.model_config(c["train"]["model"]))
    assert plan.steps["tripletclip"] == c["train"]["steps"] < plan.steps["clip"]


def test_methods_name_losses_or_arms_and_arms_are_trained_when_named():
    arms = {"negclip_pp": {"loss": "negclip"}, "laclip": {"loss": "clip"}, "unused": {"loss": "clip"}}
    plan = Plan(config(train={"methods": ["clip", "tripletclip", "negclip_pp", "laclip"], "seeds": [0],
                              "arms": arms}, negate={"input": "captions"}))
    plain = {"negatives": "main", "captions": "original", "extra_pairs": False, "num_negatives": 1}
    assert plan.arms == {"clip": {"loss": "clip", **plain}, "tripletclip": {"loss": "tripletclip", **plain},
                         "negclip_pp": {"loss": "negclip", **plain}, "laclip": {"loss": "clip", **plain}}
    assert all(plan.view(arm) == {} for arm in plan.arms) and plan.used_sets == [] and not plan.rewrites
    assert plan.runs == ["clip/seed0", "tripletclip/seed0", "negclip_pp/seed0", "laclip/seed0"]
    assert plan.methods == list(plan.arms) and plan.baseline == "clip"
    # the training settings of a run leave out what only plans: another arm or seed reruns none of them
    assert {"methods", "arms", "seeds"}.isdisjoint(plan.train_params("clip"))
    assert plan.train_params("laclip")["steps"] == plan.steps["laclip"]
    with pytest.raises(ValueError, match="'negclip_pp' is a method's, an arm's"):
        Plan(config(train={"methods": ["negclip_pp"], "arms": arms}, models={"negclip_pp": {"model": "RN50"}}))
    with pytest.raises(ValueError, match="train.arms: 'Clip' is a loss's name"):
        Plan(config(train={"methods": ["clip"], "arms": {"Clip": {"loss": "negclip"}}}))
    with pytest.raises(ValueError, match="train.methods: 'nope' is neither a loss"):
        Plan(config(train={"methods": ["clip", "nope"]}))




def test_the_papers_arms_read_their_sets_and_rewrites():
    plan = Plan(config(negate={"sets": {"rules": {"backend": "rules", "num_negatives": 4, "llm": {"temperature": 1}},
                                        "unused": {"backend": "rules"}}},
                       train={"methods": list(PAPER_ARMS), "arms": PAPER_ARMS}))
    assert plan.sets["rules"] == {**plan.sets["main"], "backend": "rules", "num_negatives": 4,
                                  "llm": {**plan.sets["main"]["llm"], "temperature": 1}}
    assert "sets" not in plan.sets["main"] and "input" not in plan.sets["main"]
    assert plan.used_sets == ["rules"] and plan.image_sets == [] and plan.rewrites
    assert plan.arms["negclip_rules"]["num_negatives"] == 4 and plan.arms["negclip_pp"]["num_negatives"] == 1
    shards = plan.shards
    assert plan.view("laclip") == {"rewrites": [f"results/rewrite/{s}.jsonl" for s in shards]}
    assert plan.view("laclip_hn") == {**plan.view("laclip"), "extra_pairs": True}
    assert plan.view("negclip_rules") == {"negative_set": "rules",
                                    "negatives": [f"results/negate/rules/{s}.jsonl" for s in shards]}
    assert plan.view("negclip_pp") == {}
    # an arm whose loss reads negative images of another set: that set is synthesized
    images = Plan(config(negate={"sets": {"rules": {"backend": "rules"}}},
                         train={"methods": ["trip_rules"],
                                "arms": {"trip_rules": {"loss": "tripletclip", "negatives": "rules"}}}))
    assert images.image_sets == ["rules"]
    assert images.view("trip_rules")["neg_images"] == [f"results/synthesize/rules/{s}.tar" for s in shards]
    # the main set negates the rewrites: the rewrite stage runs though no arm reads rewrites
    assert Plan(config(negate={"input": "rewrites"}, train={"methods": ["clip"]})).rewrites
    assert not Plan(config(negate={"input": "captions"}, train={"methods": ["clip"]})).rewrites


@pytest.mark.parametrize("blocks, message", [
    ({"train": {"methods": ["a"], "arms": {"a": {"loss": "negclip", "negatives": "llm"}}}}, "no negative set 'llm'"),
    ({"train": {"methods": ["a"], "arms": {"a": {"loss": "tripletclip", "extra_pairs": True}}}}, "only the clip loss"),
    ({"negate": {"sets": {"rules": {"backend": "nope"}}}}, "negate.sets.rules: 'nope' is not one of"),
])
def test_arms_and_sets_that_cannot_work_stop_the_plan(blocks, message):
    with pytest.raises(ValueError, match=message):
        Plan(config(**blocks))


def test_a_set_may_not_be_called_main_nor_change_what_is_not_a_negate_key():
    from snakemake.exceptions import WorkflowError

    for sets in ({"main": {"backend": "rules"}}, {"rules": {"steps": 3}}):
        with pytest.raises(WorkflowError, match="Error validating config"):
            config(negate={"sets": sets})


def test_the_plans_table_of_losses_that_read_negative_images_is_the_losses_own():
    from tripletclip import losses, plan

    assert plan.USES_NEG_IMAGE == losses.USES_NEG_IMAGE and set(plan.METHOD_NAMES) == set(losses.LOSSES)
