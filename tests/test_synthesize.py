"""The diffusers backend on tiny Stable Diffusion and SDXL-turbo-shaped pipelines (random weights, built here and
loaded back with from_pretrained(local_files_only=True)): per-sample resume, seeds by key, counted failures, degenerate
outputs (a real module of the pipeline made to output NaN or a constant) retried in float32, and hub ids read from the
local cache without network."""

import contextlib
import json
import operator
import os
import socket
import subprocess
import sys
import time

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
    return {"sd": str(tiny_diffusion.build_sd(root / "sd")),
            "sdxl": str(tiny_diffusion.build_sdxl_turbo(root / "sdxl"))}


def _synth(model, batch_size=4, **kw):
    return synthesize.make_synthesizer("diffusers", model=model, image_size=64, steps=2, batch_size=batch_size, **kw)


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
def test_images_are_kept_per_sample_and_a_rerun_makes_only_the_missing(pipelines, kind, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "caps.txt").write_text("\n".join(CAPTIONS[:2] + [""] + CAPTIONS[2:]) + "\n", encoding="utf-8")
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
    (tmp_path / "caps.txt").write_text("\n".join([CAPTIONS[0], "BOOM", CAPTIONS[1]]) + "\n", encoding="utf-8")
    stats = synthesize.synthesize_file(str(tmp_path / "caps.txt"), str(tmp_path / "out"), synth, batch_size=3)
    assert stats["synthesized"] == 2 and stats["failed"] == {"error": 1}
    assert (tmp_path / "out" / "2.failed").read_text(encoding="utf-8") == "error"
    alone = _synth(pipelines["sd"]).synthesize([("1", CAPTIONS[0])])[0]
    assert (tmp_path / "out" / "1.jpg").read_bytes() == io.encode_jpeg(alone)  # retried alone, same image


def _run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "tripletclip.synthesize", *map(str, args)], capture_output=True,
                          text=True, encoding="utf-8", env={**os.environ, **(env or {})})


def test_command_line(pipelines, tmp_path):
    (tmp_path / "caps.txt").write_text("a small red circle left of a large blue square\na cat\n", encoding="utf-8")
    run = _run_cli("--backend", "shapes", "--image-size", 64, tmp_path / "caps.txt", "-o", tmp_path / "shapes")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.splitlines()[-1])["failed"] == {"unparsable": 1}
    assert sorted(p.name for p in (tmp_path / "shapes").iterdir()) == ["1.jpg", "2.failed", "stats.json"]
    run = _run_cli("--model", pipelines["sdxl"], "--steps", 1, "--image-size", 64, tmp_path / "caps.txt", "-o",
                   tmp_path / "xl", env={"HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.splitlines()[-1])["synthesized"] == 2
    run = _run_cli("--backend", "shapes", "--batch-size", 0, tmp_path / "caps.txt", "-o", tmp_path / "zero")
    assert run.returncode == 2 and "--batch-size: must be at least 1, not 0" in run.stderr
    assert not (tmp_path / "zero").exists()


@contextlib.contextmanager
def _corrupted(module, value, when=lambda call: True, rows=0):
    """The real module with a forward hook that overwrites `rows` of its output with `value` on the calls `when`
    picks (counted from 1); yields each call's (batch, dtype of the module's weights)."""
    calls = []

    def hook(m, args, output):
        first = output[0] if isinstance(output, tuple) else output
        calls.append((len(first), next(m.parameters()).dtype))
        if when(len(calls)):
            first = first.clone()
            first[rows] = value
            return (first, *output[1:]) if isinstance(output, tuple) else first

    handle = module.register_forward_hook(hook)
    try:
        yield calls
    finally:
        handle.remove()


def test_a_nan_decode_is_decoded_again_in_float32_and_kept(pipelines, tmp_path):
    """A VAE overflowing in half precision: its NaN would be a black image. The flagged sample alone is decoded again
    with the VAE in float32; the healthy path decodes once."""
    import torch

    items = [(str(i), c) for i, c in enumerate(CAPTIONS[:4], 1)]
    synth = _synth(pipelines["sdxl"], dtype="bfloat16")
    decoder = synth.pipe.vae.decoder
    with _corrupted(decoder, float("nan"), when=lambda call: False) as calls:
        clean = synth.synthesize(items)
    assert calls == [(4, torch.bfloat16)] and not any(image.info for image in clean)
    with _corrupted(decoder, float("nan"), when=lambda call: call == 1) as calls:
        got = synth.synthesize(items)
    assert calls == [(4, torch.bfloat16), (1, torch.float32)]  # only the NaN sample again, in float32
    assert {p.dtype for p in synth.pipe.vae.parameters()} == {torch.bfloat16}  # and the VAE back as it was
    assert got[0].info == {"retried": "nonfinite_image"}
    most, share = _levels(got[0], clean[0])  # the same image, decoded at a higher precision: not a black one
    assert most <= 3 and share < 0.5 and np.asarray(got[0]).std() > 20
    assert [io.encode_jpeg(a) for a in got[1:]] == [io.encode_jpeg(b) for b in clean[1:]]
    (tmp_path / "caps.txt").write_text("\n".join(c for _, c in items) + "\n", encoding="utf-8")
    with _corrupted(decoder, float("nan"), when=lambda call: call == 1):
        stats = synthesize.synthesize_file(str(tmp_path / "caps.txt"), str(tmp_path / "out"), synth, batch_size=4)
    assert stats["synthesized"] == 4 and stats["failed"] == {} and stats["recovered"] == {"nonfinite_image": 1}
    assert (tmp_path / "out" / "1.jpg").read_bytes() == io.encode_jpeg(got[0])


def test_nonfinite_latents_are_generated_again_in_float32(pipelines):
    """A denoiser overflowing: NaN latents, which no decode can mend. Each such sample is generated again, alone,
    with the pipeline's half-precision weights in float32, which go back to their dtype after."""
    import torch

    items = [(str(i), c) for i, c in enumerate(CAPTIONS[:3])]
    synth = _synth(pipelines["sdxl"], batch_size=3, dtype="bfloat16")
    clean = synth.synthesize(items)
    with _corrupted(synth.pipe.unet, float("nan"), when=lambda call: call == 1, rows=slice(None)) as calls:
        got = synth.synthesize(items)
    # 2 steps for the batch of 3 in bfloat16, then 2 steps for each sample alone in float32
    assert calls == [(3, torch.bfloat16)] * 2 + [(1, torch.float32)] * 6
    for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
        assert {p.dtype for p in getattr(synth.pipe, name).parameters()} == {torch.bfloat16}, name
    assert [image.info for image in got] == [{"retried": "nonfinite_latents"}] * 3
    for a, b in zip(got, clean):  # each its own image again, not a black one
        most, share = _levels(a, b)
        assert most <= 4 and share < 0.5


@pytest.mark.parametrize("part, value, reason", [("vae.decoder", float("nan"), "nonfinite_image"),
                                                 ("vae.decoder", 0.3, "uniform_image"),
                                                 ("unet", float("nan"), "nonfinite_latents")])
@pytest.mark.filterwarnings("error:invalid value encountered in cast")  # a NaN reaching the pixels: black
def test_a_sample_still_degenerate_in_safe_mode_is_counted_and_never_packed(pipelines, tmp_path, part, value,
                                                                            reason):
    rows = [{"key": f"{i:05d}", "caption": "c", "negatives": [{"text": c, "type": "llm"}], "backend": "vllm",
             "attempts": 1, "status": "ok"} for i, c in enumerate(CAPTIONS)]
    io.write_jsonl(tmp_path / "neg.jsonl", rows)
    synth = _synth(pipelines["sdxl"], batch_size=3)
    # the first sample of every call, the safe mode's included: items 0 and 3 of two batches of 3
    with _corrupted(operator.attrgetter(part)(synth.pipe), value):
        stats = synthesize.synthesize_file(str(tmp_path / "neg.jsonl"), str(tmp_path / "out"), synth, 3)
        shard = synthesize.synthesize_shard(str(tmp_path / "neg.jsonl"), str(tmp_path / "syn.tar"),
                                            str(tmp_path / "s.json"), synth, 3)
    for s in (stats, shard):
        assert s["synthesized"] == 4 and s["failed"] == {reason: 2} and s["recovered"] == {}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        ["00000.failed", "00001.jpg", "00002.jpg", "00003.failed", "00004.jpg", "00005.jpg", "stats.json"])
    assert (tmp_path / "out" / "00003.failed").read_text(encoding="utf-8") == reason
    assert [s["__key__"] for s in io.iter_shard(tmp_path / "syn.tar")] == ["00001", "00002", "00004", "00005"]
    for sample in io.iter_shard(tmp_path / "syn.tar"):
        assert not synthesize.diffusion.is_uniform(io.decode_image(sample["jpg"]))


def test_a_hub_id_not_in_the_cache_fails_at_once_offline(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))  # read at import, as HF_HOME is
    start = time.monotonic()
    with pytest.raises(OSError) as error:
        _synth("tripletclip-tests/not-downloaded")
    assert time.monotonic() - start < 5
    message = str(error.value)
    assert message.startswith(f"tripletclip-tests/not-downloaded is not in the local Hugging Face cache "
                              f"({tmp_path / 'hf' / 'hub'}) and HF_HUB_OFFLINE is set")
    assert "`hf download tripletclip-tests/not-downloaded`" in message and "synthesize.diffusers.model" in message


def test_a_cached_hub_id_loads_without_network_and_an_uncached_one_says_how_to_fetch_it(pipelines, tmp_path):
    """No HF_HUB_OFFLINE, and a Hub that refuses every connection (a local port nothing listens on): a model in the
    cache is read from it without asking the Hub; one that is not fails at once, with no download retries."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_CACHE": str(tmp_path / "hf" / "hub"),
           "HF_ENDPOINT": f"http://127.0.0.1:{port}", "HF_HUB_OFFLINE": "0"}
    tiny_diffusion.into_hub_cache(pipelines["sdxl"], tmp_path / "hf" / "hub", "tripletclip-tests/tiny-sdxl")
    (tmp_path / "caps.txt").write_text("a cat\n", encoding="utf-8")
    run = _run_cli("--model", "tripletclip-tests/tiny-sdxl", "--image-size", 64, tmp_path / "caps.txt", "-o",
                   tmp_path / "out", env=env)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.splitlines()[-1])["synthesized"] == 1
    run = _run_cli("--model", "tripletclip-tests/absent", tmp_path / "caps.txt", "-o", tmp_path / "out2", env=env)
    assert run.returncode == 2 and "Traceback" not in run.stderr and "Retry" not in run.stderr
    error = run.stderr.strip().splitlines()[-1]
    assert error.startswith(f"error: tripletclip-tests/absent is not in the local Hugging Face cache "
                            f"({tmp_path / 'hf' / 'hub'}) and the Hub (http://127.0.0.1:{port}) cannot be reached")
    assert "`hf download tripletclip-tests/absent`" in error
