"""benchmarks/gpu_check.sh, the check prepared for a GPU lease, run here in its reduced CPU mode so that it cannot rot
between leases: every part's row in the table, finite positive rates, the caption choices equal on both paths; and
SDXL-turbo's shipped configs, which must build the published architecture."""

import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# loaded from its file: benchmarks/ on sys.path would let benchmarks/clip_benchmark.py shadow the library of that name
_spec = importlib.util.spec_from_file_location("gpu_check", REPO / "benchmarks/gpu_check.py")
gpu_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_check)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check")
    env = {**os.environ, "PYTHON": sys.executable, "GPU_CHECK_PART_LIMIT": "600"}
    result = subprocess.run([str(REPO / "benchmarks/gpu_check.sh"), "--cpu", str(out)], capture_output=True,
                            encoding="utf-8", env=env, timeout=1500)
    logs = {p.name: p.read_text(encoding="utf-8")[-3000:] for p in (out / "parts").glob("*.log")}
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:] + str(logs)
    return out, result.stdout


def test_cpu_mode_writes_every_parts_row_with_finite_positive_rates(checked):
    out, stdout = checked
    assert "limit 64 MiB" in stdout  # the size check ran first
    result = json.loads((out / "gpu_check.json").read_text(encoding="utf-8"))
    assert result["mode"] == "cpu" and result["peak_bf16_tflops"] is None
    parts = result["parts"]
    assert {name: part["ok"] for name, part in parts.items()} == dict.fromkeys(gpu_check.PARTS, True), parts
    mode = gpu_check.Mode(cpu=True)
    train = parts["train"]["rows"]
    assert sorted((r["method"], r["batch"], r["compile"]) for r in train) == sorted(
        (m, b, c) for m in ("clip", "tripletclip") for b in mode.batches for c in (False, True))
    rates = ([r["pairs_per_s"] for r in train] + [r["flops_per_step"] for r in train]
             + [parts["loader"]["rows"][0]["triplets_per_s"]]
             + [r["images_per_s"] for r in parts["synthesize"]["rows"]] + [parts["evaluate"]["rows"][0]["items_per_s"]])
    assert all(math.isfinite(x) and x > 0 for x in rates), rates
    # a TripletCLIP step also encodes the negative images and captions: more FLOPs than CLIP's at the same batch
    flops = {(r["method"], r["batch"]): r["flops_per_step"] for r in train}
    assert all(flops["tripletclip", b] > flops["clip", b] for b in mode.batches)
    assert [r["batch"] for r in parts["synthesize"]["rows"]] == list(mode.synth_batches)
    assert all(0 < r["vae_share"] < 1 for r in parts["synthesize"]["rows"])
    assert parts["synthesize"]["nan_safe"]["checked_s"] > 0 and parts["synthesize"]["nan_safe"]["bare_s"] > 0
    evaluation = parts["evaluate"]["rows"][0]
    assert evaluation["items"] == evaluation["agree"] == 7 * 3 and evaluation["equal"]
    assert evaluation["table_correct"] == evaluation["features_correct"]  # the evaluator's own choices, the same


def test_the_table_has_a_row_per_setting_and_names_the_anchors(checked):
    out, _ = checked
    table = (out / "gpu_check.md").read_text(encoding="utf-8")
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| part")]
    mode = gpu_check.Mode(cpu=True)
    counts = {name: sum(row.startswith(f"| {name} |") for row in rows) for name in gpu_check.PARTS}
    assert counts == {"train": 2 * 2 * len(mode.batches), "loader": 1, "synthesize": len(mode.synth_batches) + 1,
                      "evaluate": 1}
    assert "reduced CPU mode" in table and "1.6k anchor pairs/s" in table and "equal (21 of 21 agree)" in table
    assert "failed" not in table


def test_a_part_that_failed_or_timed_out_is_a_row_that_says_why(checked, tmp_path):
    out, _ = checked
    shutil.copytree(out / "parts", tmp_path / "parts")
    (tmp_path / "parts/synthesize.json").unlink()
    (tmp_path / "parts/synthesize.status").write_text("124\n", encoding="utf-8")
    (tmp_path / "parts/synthesize.log").write_text("built, saved and loaded in 40 s\nround 0, batch 1\n",
                                                    encoding="utf-8")
    (tmp_path / "parts/evaluate.json").write_text(json.dumps({"ok": False, "error": "OutOfMemoryError: CUDA"}),
                                                  encoding="utf-8")
    assert gpu_check.main(["report", "--out", str(tmp_path), "--cpu"]) == 0
    table = (tmp_path / "gpu_check.md").read_text(encoding="utf-8")
    assert "| synthesize |  | failed |  | timed out: round 0, batch 1 |" in table
    assert "| evaluate |  | failed |  | OutOfMemoryError: CUDA |" in table
    assert table.count("| train |") == 8  # the parts that ran keep their rows


def test_the_repository_and_its_wheels_are_checked_against_64_mib(monkeypatch, capsys):
    assert gpu_check.main(["size"]) == 0
    tree, wheels = gpu_check.carried_bytes()
    assert 0 < tree < gpu_check.LIMIT_BYTES
    monkeypatch.setattr(gpu_check, "LIMIT_BYTES", tree // 2)
    assert gpu_check.main(["size"]) == 2
    assert "over the limit" in capsys.readouterr().err


def test_the_shipped_configs_build_sdxl_turbo_at_its_published_size():
    """Parameter counts of SDXL's components (built on the meta device: no memory, no arithmetic): the UNet's
    2.567 B, the VAE's 83.7 M, CLIP ViT-L's text tower and OpenCLIP ViT-bigG's with its projection."""
    parts = gpu_check.build_components(gpu_check.load_configs(), device="meta")
    counts = {name: sum(p.numel() for p in module.parameters()) for name, module in parts.items()
              if name != "scheduler"}
    assert counts == {"unet": 2_567_463_684, "vae": 83_653_863, "text_encoder": 123_060_480,
                      "text_encoder_2": 694_659_840}
    scheduler = parts["scheduler"].config
    assert (type(parts["scheduler"]).__name__, scheduler.timestep_spacing) == (
        "EulerAncestralDiscreteScheduler", "trailing")
