"""The diffusers backend on tiny Stable Diffusion and SDXL-turbo-shaped pipelines (random weights, built here and
loaded back with from_pretrained(local_files_only=True)): per-sample resume, seeds by key, counted failures."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from helpers import tiny_diffusion
from tripletclip import io, synthesize

CAPTIONS = ["a red car next to a tree", "two dogs on a couch", "a man riding a horse on a beach",
            "a blue vase on a wooden table", "a cat sleeping in a box", "a boat on a lake"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipelines")
    return {"sd": str(tiny_diffusion.build_sd(root / "sd")), "sdxl": str(tiny_diffusion.build_sdxl_turbo(root / "sdxl"))}


def _synth(model, batch_size=4, **kw):
    return synthesize.make_synthesizer("diffusers", model=model, image_size=64, steps=2, batch_size=batch_size, **kw)


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
def test_images_are_kept_per_sample_and_a_rerun_makes_only_the_missing(pipelines, kind, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "caps.txt").write_text("\n".join(CAPTIONS[:2] + [""] + CAPTIONS[2:]) + "\n")
    out = tmp_path / "out"
    synth = _synth(pipelines[kind])
    stats = synthesize.synthesize_file(str(tmp_path / "caps.txt"), str(out), synth, batch_size=4)
    assert stats["synthesized"] == 6 and stats["skipped"] == {"empty_caption": 1} and stats["generated"] == 6
    names = sorted(p.name for p in out.glob("*.jpg"))
    assert names == sorted(f"{n}.jpg" for n in (1, 2, 4, 5, 6, 7))
    assert Image.open(out / "1.jpg").size == (64, 64)
    before = {n: (out / n).read_bytes() for n in names}
    (out / "2.jpg").unlink()
    (out / "6.jpg").unlink()
    again = synthesize.synthesize_file(str(tmp_path / "caps.txt"), str(out), synth, batch_size=4)
    assert again["generated"] == 2 and again["resumed"] == 4 and again["synthesized"] == 6
    assert {n: (out / n).read_bytes() for n in names} == before  # byte-identical, whatever the batch
    assert io.read_json(out / "stats.json") == again


def _levels(a, b):
    """Largest pixel difference, and the share of values that differ at all."""
    d = np.abs(np.asarray(a, dtype=int) - np.asarray(b, dtype=int))
    return d.max(), (d > 0).mean()


def test_the_same_key_gives_the_same_image_across_batch_sizes(pipelines):
    items = [(str(i), c) for i, c in enumerate(CAPTIONS)]
    one = _synth(pipelines["sdxl"], batch_size=1).synthesize(items)
    four = _synth(pipelines["sdxl"], batch_size=4).synthesize(items[::-1])[::-1]
    # The same latents; only how the batched kernels round may differ (seen: 1 level in 0.01 % of values).
    for a, b in zip(one, four):
        most, share = _levels(a, b)
        assert most <= 1 and share < 0.001
    # and different keys differ: another key's image is another image, not a rounding away
    assert min(np.abs(np.asarray(one[i], dtype=int) - np.asarray(one[j], dtype=int)).mean()
               for i in range(len(one)) for j in range(i)) > 5
    again = _synth(pipelines["sdxl"], batch_size=4).synthesize(items[::-1])[::-1]
    assert [io.encode_jpeg(a) for a in again] == [io.encode_jpeg(b) for b in four]  # the same batches: the same bytes


class _Killed(Exception):
    pass


def test_a_killed_shard_job_resumes_and_its_shard_appears_only_when_complete(pipelines, tmp_path):
    rows = [{"key": f"{i:05d}", "caption": "c", "negatives": [{"text": c, "type": "llm"}], "backend": "vllm",
             "attempts": 1, "status": "ok"} for i, c in enumerate(CAPTIONS)]
    rows.append({"key": "00099", "caption": "c", "negatives": [], "backend": "vllm", "attempts": 3,
                 "status": "rejected"})
    io.write_jsonl(tmp_path / "neg.jsonl", rows)
    synth = _synth(pipelines["sd"], batch_size=2)
    real = synth.synthesize
    calls = []

    def dying(items):
        calls.append([k for k, _ in items])
        if len(calls) == 2:
            raise _Killed()
        return real(items)

    synth.synthesize = dying
    out = tmp_path / "syn.tar"
    with pytest.raises(_Killed):
        synthesize.synthesize_shard(str(tmp_path / "neg.jsonl"), str(out), str(tmp_path / "s.json"), synth, 2)
    assert not out.exists() and len(list((tmp_path / ".syn.tar.parts").glob("*.jpg"))) == 2
    synth.synthesize = real
    stats = synthesize.synthesize_shard(str(tmp_path / "neg.jsonl"), str(out), str(tmp_path / "s.json"), synth, 2)
    assert stats["generated"] == 4 and stats["resumed"] == 2 and stats["skipped"] == {"no_negative_caption": 1}
    assert stats["in"] == stats["synthesized"] + sum(stats["skipped"].values()) + sum(stats["failed"].values())
    assert not (tmp_path / ".syn.tar.parts").exists()
    whole = tmp_path / "whole.tar"
    synthesize.synthesize_shard(str(tmp_path / "neg.jsonl"), str(whole), str(tmp_path / "w.json"), synth, 2)
    assert out.read_bytes() == whole.read_bytes()  # as if it had never stopped
    assert [s["txt"].decode() for s in io.iter_shard(out)] == CAPTIONS
    other = tmp_path / "other.tar"  # other batches: the same images up to the kernels' rounding
    synthesize.synthesize_shard(str(tmp_path / "neg.jsonl"), str(other), str(tmp_path / "o.json"), synth, 3)
    for a, b in zip(io.iter_shard(out), io.iter_shard(other)):
        most, share = _levels(io.decode_image(a["jpg"]), io.decode_image(b["jpg"]))
        assert a["__key__"] == b["__key__"] and most <= 2 and share < 0.01


def test_a_failing_or_flagged_caption_is_counted_and_the_rest_go_on(pipelines, tmp_path):
    import torch
    from diffusers import StableDiffusionPipeline
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    # The real safety checker, small and random, with every concept's threshold below any score: it flags all.
    config = CLIPConfig(text_config={"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4,
                                     "num_hidden_layers": 1},
                        vision_config={"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4,
                                       "num_hidden_layers": 1, "image_size": 32, "patch_size": 16},
                        projection_dim=32)
    checker = StableDiffusionSafetyChecker(config)
    with torch.no_grad():
        checker.concept_embeds_weights.fill_(-10.0)
    base = StableDiffusionPipeline.from_pretrained(pipelines["sd"], local_files_only=True)
    flagged_dir = tmp_path / "flagged"
    StableDiffusionPipeline(**{**base.components, "safety_checker": checker,
                               "feature_extractor": CLIPImageProcessor(size={"shortest_edge": 32},
                                                                       crop_size={"height": 32, "width": 32})},
                            requires_safety_checker=True).save_pretrained(flagged_dir)
    flagged = _synth(str(flagged_dir)).synthesize([("a", CAPTIONS[0]), ("b", CAPTIONS[1])])
    assert flagged == ["nsfw", "nsfw"]

    synth = _synth(pipelines["sd"])
    pipe = synth.pipe

    class Fussy:  # the pipeline, refusing one prompt the way a real failure surfaces: an exception from the call
        def __call__(self, prompt, **kw):
            if "BOOM" in prompt:
                raise RuntimeError("CUDA error: device-side assert triggered")
            return pipe(prompt=prompt, **kw)

    synth.pipe = Fussy()
    (tmp_path / "caps.txt").write_text("\n".join([CAPTIONS[0], "BOOM", CAPTIONS[1]]) + "\n")
    stats = synthesize.synthesize_file(str(tmp_path / "caps.txt"), str(tmp_path / "out"), synth, batch_size=3)
    assert stats["synthesized"] == 2 and stats["failed"] == {"error": 1}
    assert (tmp_path / "out" / "2.failed").read_text() == "error"
    alone = _synth(pipelines["sd"]).synthesize([("1", CAPTIONS[0])])[0]
    assert (tmp_path / "out" / "1.jpg").read_bytes() == io.encode_jpeg(alone)  # retried alone, same image


def test_command_line(pipelines, tmp_path):
    (tmp_path / "caps.txt").write_text("a small red circle left of a large blue square\na cat\n")
    run = subprocess.run([sys.executable, "-m", "tripletclip.synthesize", "--backend", "shapes", "--image-size", "64",
                          str(tmp_path / "caps.txt"), "-o", str(tmp_path / "shapes")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.splitlines()[-1])["failed"] == {"unparsable": 1}
    assert sorted(p.name for p in (tmp_path / "shapes").iterdir()) == ["1.jpg", "2.failed", "stats.json"]
    run = subprocess.run([sys.executable, "-m", "tripletclip.synthesize", "--model", pipelines["sdxl"], "--steps", "1",
                          "--image-size", "64", str(tmp_path / "caps.txt"), "-o", str(tmp_path / "xl")],
                         capture_output=True, text=True, env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.splitlines()[-1])["synthesized"] == 2
