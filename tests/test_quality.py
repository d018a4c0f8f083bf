"""The quality filter (TripletCLIP §4.5): scores equal the scorer's cosines, the cut is global and exact, scores
travel in the kept triplets' metadata, and the histogram is drawn."""

import json
import subprocess
import sys
from pathlib import Path

import torch

from tripletclip import io, models, quality, shapes

REPO = Path(__file__).resolve().parents[1]
CAPTIONS = ["a small red circle left of a large blue square", "a large green triangle above a small red square",
            "a small blue square right of a large yellow circle", "a large red square below a small green circle"]


def _pack(path, keys):
    with io.shard_writer(path) as sink:
        for i, key in enumerate(keys):
            pos, neg = CAPTIONS[i % 4], CAPTIONS[(i + 1) % 4]
            draw = lambda c, s: io.encode_jpeg(shapes.render(shapes.parse(c)[0], 64, seed=s))
            sink.write({"__key__": key, "jpg": draw(pos, key), "txt": pos, "neg.jpg": draw(neg, key + "n"),
                        "neg.txt": neg + "\nanother negative", "json": {"key": key, "neg_type": "swap_att"}})


def test_scores_cut_and_metadata(tmp_path):
    torch.manual_seed(0)
    model, _, preprocess, tokenizer = models.create("ViT-Tiny-P16-64")
    model.eval()
    _pack(tmp_path / "a.tar", [f"a{i}" for i in range(6)])
    _pack(tmp_path / "b.tar", [f"b{i}" for i in range(5)])
    scores = {}
    for name in ("a", "b"):
        s = quality.score_shard(str(tmp_path / f"{name}.tar"), model, preprocess, tokenizer, batch_size=4)
        io.write_json(tmp_path / f"{name}.json", s)
        scores.update(s)
    sample = next(iter(io.iter_shard(tmp_path / "a.tar")))
    with torch.no_grad():
        image = model.encode_image(preprocess(io.decode_image(sample["jpg"]))[None], normalize=True)
        text = model.encode_text(tokenizer([sample["txt"].decode()]), normalize=True)
        neg_image = model.encode_image(preprocess(io.decode_image(sample["neg.jpg"]))[None], normalize=True)
        neg_text = model.encode_text(tokenizer([sample["neg.txt"].decode().split("\n")[0]]), normalize=True)
    pos, neg = float((image * text).sum()), float((neg_image * neg_text).sum())
    assert abs(scores["a0"]["pos"] - pos) < 1e-4 and abs(scores["a0"]["neg"] - neg) < 1e-4
    assert abs(scores["a0"]["score"] - (pos + neg) / 2) < 1e-4

    stats = quality.filter_shards([str(tmp_path / "a.tar"), str(tmp_path / "b.tar")],
                                  [str(tmp_path / "a.json"), str(tmp_path / "b.json")],
                                  [str(tmp_path / "fa.tar"), str(tmp_path / "fb.tar")], str(tmp_path / "stats.json"),
                                  str(tmp_path / "scores.png"), keep_fraction=0.5)
    kept = [s for name in ("fa", "fb") for s in io.iter_shard(tmp_path / f"{name}.tar")]
    assert stats["in"] == 11 and stats["kept"] == len(kept) == 6 and stats["dropped"] == {"below_threshold": 5}
    kept_keys = {s["__key__"] for s in kept}
    assert min(scores[k]["score"] for k in kept_keys) >= max(scores[k]["score"] for k in set(scores) - kept_keys)
    assert stats["threshold"] == min(scores[k]["score"] for k in kept_keys)
    assert sum(stats["kept_per_shard"]) == 6
    for s in kept:
        meta = json.loads(s["json"])
        assert meta["quality"] == scores[s["__key__"]] and meta["neg_type"] == "swap_att"
        assert s["neg.txt"].decode().endswith("another negative")  # the triplet itself is untouched
    assert (tmp_path / "scores.png").read_bytes()[:4] == b"\x89PNG"
    assert quality.kept_keys(scores, keep_top_k=3) == set(sorted(scores, key=lambda k: -scores[k]["score"])[:3])


def test_the_dag_trains_on_the_filtered_shards_when_the_filter_is_on(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text((REPO / "config.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "filter.yaml").write_text("filter:\n  enabled: true\n  keep_top_k: 100\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--quiet", "rules", "all", "--configfile",
                          str(tmp_path / "filter.yaml"), "--directory", str(tmp_path / "run"), "--snakefile",
                          str(REPO / "Snakefile")], capture_output=True, text=True, cwd=REPO, encoding="utf-8")
    assert run.returncode == 0, run.stderr
    counts = {line.split()[0]: int(line.split()[1]) for line in run.stdout.splitlines()
              if len(line.split()) == 2 and line.split()[1].isdigit()}
    assert counts["score_triplets"] == counts["pack"] and counts["filter_triplets"] == 1


def test_the_scorer_loads_through_models_load_with_the_quickgelu_correction(tmp_path, monkeypatch):
    """The score_triplets job builds its scorer with models.load: an OpenAI-style tag (weights trained with
    QuickGELU) under a GELU model name scores with QuickGELU, as every evaluator would, not with the wrong
    activation models.create would give."""
    import importlib.util
    from types import SimpleNamespace

    import open_clip
    from safetensors.torch import save_file

    torch.manual_seed(0)
    source = models.load({"model": "ViT-Tiny-P16-64"})
    weights = tmp_path / "openai-like.safetensors"
    save_file({k: v.contiguous() for k, v in source.model.state_dict().items()}, weights)
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, "ViT-Tiny-P16-64",
                        {"openai_like": {"file": str(weights), "quick_gelu": True}})
    _pack(tmp_path / "a.tar", [f"a{i}" for i in range(4)])
    spec = {"model": "ViT-Tiny-P16-64", "pretrained": "openai_like", "quick_gelu": False}
    job = importlib.util.spec_from_file_location("score_triplets", REPO / "workflow_scripts/score_triplets.py")
    score_triplets = importlib.util.module_from_spec(job)
    job.loader.exec_module(score_triplets)
    score_triplets.main(SimpleNamespace(params=SimpleNamespace(filter={"batch_size": 4}, spec=spec),
                                        input=[str(tmp_path / "a.tar")], output=[str(tmp_path / "a.json")],
                                        log=[str(tmp_path / "a.log")], threads=1))
    quick = models.load({"model": "ViT-Tiny-P16-64", "pretrained": str(weights), "quick_gelu": True})
    expected = quality.score_shard(str(tmp_path / "a.tar"), quick.model, quick.preprocess_val, quick.tokenizer, 4)
    wrong = quality.score_shard(str(tmp_path / "a.tar"), source.model, source.preprocess_val, source.tokenizer, 4)
    assert io.read_json(tmp_path / "a.json") == expected != wrong
