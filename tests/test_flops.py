"""tripletclip.flops: one training step's FLOPs, counted by torch's FlopCounterMode on the meta device, equal a
count by hand of the tiny model's matrix products for every loss; equal-FLOPs budgets agree within one step."""

import re

import pandas as pd
import pytest

from tripletclip import flops, models

TINY = "ViT-Tiny-P16-64"  # image 64, patch 16, width 96, 3 layers; text width 96, 3 layers; embed 96


def tower(tokens: int, width: int, layers: int, mlp: int) -> int:
    """Forward FLOPs of one sequence through a transformer: q/k/v and output projections, the two attention
    products (all heads together: tokens^2 x width each), the MLP; 2 FLOPs a multiply-add."""
    block = 2 * tokens * width * 3 * width + 2 * (2 * tokens * tokens * width) + 2 * tokens * width * width \
        + 2 * (2 * tokens * width * mlp)
    return layers * block


def hand_count(method: str, b: int, k: int, length: int) -> int:
    width, embed, patches, patch = 96, 96, (64 // 16) ** 2, 16
    conv = 2 * patches * 3 * patch * patch * width  # the patch embedding
    image = conv + tower(patches + 1, width, 3, 4 * width) + 2 * width * embed  # + class token; projection
    text = tower(length, width, 3, 4 * width) + 2 * width * embed  # the token embedding is a lookup
    n_images, n_texts = flops.batch_shapes(method, b, k)
    # the loss's similarity matrices, rows x columns of embed-wide dot products
    products = {"clip": b * b + b * b,
                "negclip": b * (b + b * k) + b * b,
                "negimage": b * 2 * b + b * b,
                "tripletclip": 2 * (b * 2 * b + b * b),
                "ceclip": b * (b + b * k) + b * b + b * b * k + b * k}[method]
    forward = n_images * image + n_texts * text + 2 * products * embed
    # backward: each product's two input gradients (2x forward), but the images need none: conv weight grad only
    return 3 * forward - n_images * conv


@pytest.mark.parametrize("method", ["clip", "negclip", "negimage", "tripletclip", "ceclip"])
def test_step_flops_equal_a_hand_count(method):
    k = 4 if method == "ceclip" else 1
    counted = flops.step_flops(models.model_config(TINY), method, batch_size=6, num_negatives=k, text_length=16)
    assert counted == hand_count(method, 6, k, 16)


def test_equal_flops_steps_agree_within_one_step():
    cfg = models.model_config(TINY)
    per_step = {m: flops.step_flops(cfg, m, 32, 4 if m == "ceclip" else 1)
                for m in ("clip", "negclip", "negimage", "tripletclip", "ceclip")}
    steps = flops.equal_flops_steps(per_step, 1000)
    most = max(per_step.values()) * 1000
    assert steps[max(per_step, key=per_step.get)] == 1000 and steps["clip"] > 1000
    for method, n in steps.items():
        assert abs(n * per_step[method] - most) <= per_step[method] / 2
    assert flops.describe(3.2e15) == "3.20 PFLOP" and flops.describe(999) == "999.00 FLOP"


def test_planned_steps_follow_the_budget():
    train = {"budget": "pairs", "steps": 100, "batch_size": 8, "num_negatives": 1, "flops_text_length": 12,
             "loss_options": {}}
    arms = {"clip": {"loss": "clip"}, "tripletclip": {"loss": "tripletclip"}, "negclip_pp": {"loss": "negclip"}}
    assert flops.planned_steps(train, arms, models.model_config(TINY)) == dict.fromkeys(arms, 100)
    steps = flops.planned_steps({**train, "budget": "flops"}, arms, models.model_config(TINY))
    per_step = {name: flops.step_flops(models.model_config(TINY), arm["loss"], 8, 1, 12) for name, arm in arms.items()}
    assert steps == flops.equal_flops_steps(per_step, 100) and steps["tripletclip"] == 100 < steps["negclip_pp"]


@pytest.mark.slow
def test_a_flops_budget_trains_each_arm_to_the_same_flops_and_the_report_says_so(tmp_path):
    """Two methods and an arm of train.arms (NegCLIP's loss under another name) at equal FLOPs: each trains its own
    loss for its own steps, is evaluated under its name, and the report's statement and Compute table say so."""
    import yaml

    from helpers.dag import snakemake, tiny_config
    from tripletclip import io, report

    config = tiny_config()
    config["train"].update(methods=["clip", "tripletclip", "negclip_pp"], seeds=[0], budget="flops", flops_text_length=12,
                           arms={"negclip_pp": {"loss": "negclip"}})
    config["eval"]["benchmarks"] = ["sugarcrepe"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    arms = ("clip", "tripletclip", "negclip_pp")
    paths = [f"results/train/{arm}/seed0/metrics.json" for arm in arms]
    result = snakemake(tmp_path, *paths, "results/eval/sugarcrepe/negclip_pp/seed0.json")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    clip, triplet, arm = [io.read_json(tmp_path / p) for p in paths]
    assert triplet["steps"] == config["train"]["steps"] < arm["steps"] < clip["steps"]
    for run in (clip, arm):
        assert abs(run["flops_total"] - triplet["flops_total"]) <= run["flops_per_step"] / 2
    assert (arm["method"], arm["loss"], "loss" in clip) == ("negclip_pp", "negclip", False)
    assert {"i2t", "t2i"} <= set(pd.read_csv(tmp_path / "results/train/negclip_pp/seed0/log.csv").columns)
    assert (clip["synthetic_images_per_step"], triplet["synthetic_images_per_step"]) == (0, 16)
    assert triplet["captions_per_step"] == 32 == arm["captions_per_step"] and triplet["flops_text_length"] == 12
    assert io.read_json(tmp_path / "results/eval/sugarcrepe/negclip_pp/seed0.json")["method"] == "negclip_pp"
    statement = report.budget([str(tmp_path / p) for p in paths])
    assert statement.startswith("Equal FLOPs: every model spent") and "12 tokens a caption" in statement
    table = report.compute_table([str(tmp_path / p) for p in paths])
    # an arm named otherwise than its loss: each row says what it read (loss, negative set, captions)
    assert re.search(rf"\| clip\s+\| clip\s+\| main\s+\| original\s+\| {clip['steps']}\s+\| {clip['steps'] * 16}\s+\|",
                     table), table
    assert re.search(r"\| tripletclip\s+(\|[^|]+){3}\| 4\s+\| 64\s+\| 64\s+\| 64\s+\| 128\s+\| 64\s+\|", table), table
    assert re.search(rf"\| negclip_pp\s+\| negclip\s+\| main\s+\| original\s+\| {arm['steps']}\s+\|", table), table
