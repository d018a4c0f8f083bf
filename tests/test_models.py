"""tripletclip.models: specs, the QuickGELU correction, checkpoint files of every usual shape, the offline hub check
and the local-dir round trip. Everything runs on the tiny config with random weights; no network."""

import argparse
import json
import logging
import time

import huggingface_hub.constants
import open_clip
import pytest
import torch
from safetensors.torch import save_file

from tripletclip import models

TINY = "ViT-Tiny-P16-64"
HF_HUB_COMMIT = "0123456789abcdef0123456789abcdef01234567"


class Custom:
    """A non-tensor object as some trainers pickle beside the weights (weights_only refuses it)."""

    def __init__(self, value):
        self.value = value


@pytest.fixture(scope="module")
def source():
    """A randomly initialised tiny model: the weights every checkpoint file below holds."""
    torch.manual_seed(0)
    return models.load({"model": TINY})


@pytest.fixture(scope="module")
def batch(source):
    torch.manual_seed(1)
    return torch.randn(3, 3, 64, 64), source.tokenizer(["a red circle", "two blue squares", "a green triangle"])


def features(model, batch):
    images, texts = batch
    with torch.no_grad():
        return model.encode_image(images), model.encode_text(texts)


def assert_same_model(loaded, source, batch):
    assert not loaded.model.training
    for a, b in zip(features(loaded.model, batch), features(source.model, batch)):
        assert torch.equal(a, b)


def state_dict(source):
    return {k: v.clone() for k, v in source.model.state_dict().items()}


def write_checkpoint(kind: str, source, path):
    """`path` holding the source's weights the way trainer `kind` writes them."""
    sd = state_dict(source)
    if kind == "bare":
        torch.save(sd, path)
    elif kind == "open_clip":  # open_clip's training checkpoint of a DDP run
        torch.save({"epoch": 3, "name": "run", "state_dict": {f"module.{k}": v for k, v in sd.items()},
                    "optimizer": {"state": {}, "param_groups": []}}, path)
    elif kind == "ours":  # tripletclip/train.py `save`
        torch.save({"model": sd, "step": 5, "method": "clip", "model_cfg": source.model_cfg,
                    "preprocess_cfg": open_clip.get_model_preprocess_cfg(source.model)}, path)
    elif kind == "ddp":
        torch.save({f"module.{k}": v for k, v in sd.items()}, path)
    elif kind == "compiled":  # torch.compile's wrapper inside DDP
        torch.save({f"module._orig_mod.{k}": v for k, v in sd.items()}, path)
    elif kind == "deepspeed":
        torch.save({"module": sd, "global_steps": 10}, path)
    elif kind == "safetensors":
        save_file({k: v.contiguous() for k, v in sd.items()}, path)
    else:
        raise AssertionError(kind)


KINDS = {"bare": "pt", "open_clip": "pt", "ours": "pt", "ddp": "pth", "compiled": "pt", "deepspeed": "bin",
         "safetensors": "safetensors"}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_checkpoint_file_of_every_usual_shape_loads_the_same_model(kind, source, batch, tmp_path):
    path = tmp_path / f"weights.{KINDS[kind]}"
    write_checkpoint(kind, source, path)
    assert set(models.read_state_dict(path)) == set(source.model.state_dict())
    loaded = models.load({"model": TINY, "pretrained": str(path)})
    assert loaded.spec == models.ModelSpec(TINY, str(path))
    assert_same_model(loaded, source, batch)
    assert loaded.model_cfg == models.model_config(TINY) and "quick_gelu" not in loaded.model_cfg
    # a bare path is a checkpoint of the default model (train.init: PATH with train.model)
    assert_same_model(models.load(str(path), default_model=TINY), source, batch)


def test_a_pickle_with_more_than_weights_is_refused_with_the_reason_and_the_fix(source, tmp_path):
    for extra in (Custom(1), argparse.Namespace(lr=1e-3)):
        path = tmp_path / f"{type(extra).__name__}.pt"
        torch.save({"state_dict": state_dict(source), "args": extra}, path)
        with pytest.raises(ValueError) as error:
            models.read_state_dict(path)
        message = str(error.value)
        assert str(path) in message and type(extra).__name__ in message and "weights_only=True" in message
        assert "Please use" not in message  # torch's advice to allowlist the class is not ours to give
        assert "torch.save" in message  # the conversion command
        with pytest.raises(ValueError, match="refused"):
            models.load({"model": TINY, "pretrained": str(path)})


def test_a_file_that_is_no_state_dict(tmp_path):
    path = tmp_path / "meta.pt"
    torch.save({"epoch": 3, "name": "run"}, path)
    with pytest.raises(ValueError, match="no state dict found.*epoch, name"):
        models.read_state_dict(path)


def test_a_missing_file_names_the_model_and_the_path(tmp_path):
    path = tmp_path / "nope/epoch_10.pt"
    with pytest.raises(FileNotFoundError, match="epoch_10.pt"):
        models.read_state_dict(path)
    with pytest.raises(FileNotFoundError) as error:
        models.load({"model": TINY, "pretrained": str(path)}, name="my-run")
    assert "'my-run'" in str(error.value) and str(path) in str(error.value)
    with pytest.raises(FileNotFoundError, match="'exported'.*no model at .*open_clip's layout"):
        models.load(f"local-dir:{tmp_path / 'none'}", name="exported")
    # a typo in a tag reads as a file that does not exist: the message lists the tags
    with pytest.raises(FileNotFoundError, match="laion2b_s34b_b79k"):
        models.check_available(models.ModelSpec("ViT-B-32", "laion2b"), name="laion")


def test_an_unknown_model_name(source):
    with pytest.raises(ValueError, match="'typo'.*unknown open_clip model 'ViT-B-33'.*ViT-B-32"):
        models.load({"model": "ViT-B-33", "pretrained": "openai"}, name="typo")


@pytest.fixture
def other_tiny(monkeypatch):
    """A second tiny architecture: patch 8 and two layers, registered as an open_clip name for the test."""
    cfg = json.loads((models.MODEL_CONFIGS / f"{TINY}.json").read_text(encoding="utf-8"))
    cfg["vision_cfg"].update(patch_size=8, layers=2)
    monkeypatch.setitem(open_clip.factory._MODEL_CONFIGS, "ViT-Tiny-P8-64-L2", cfg)
    return "ViT-Tiny-P8-64-L2"


def test_weights_of_another_architecture_give_the_key_mismatch(source, other_tiny, tmp_path):
    path = tmp_path / "tiny.pt"
    write_checkpoint("bare", source, path)
    with pytest.raises(ValueError) as error:
        models.load({"model": other_tiny, "pretrained": str(path)})
    message = str(error.value)
    assert str(path) in message and other_tiny in message and "wrong model name" in message
    assert "unexpected keys (visual.transformer.resblocks.2." in message
    assert "visual.conv1.weight (96, 3, 16, 16) in the file, (96, 3, 8, 8) in the model" in message
    sd = state_dict(source)
    del sd["text_projection"]
    torch.save(sd, path)
    with pytest.raises(ValueError, match=f"does not fit model {TINY}: 1 missing keys \\(text_projection\\)"):
        models.load({"model": TINY, "pretrained": str(path)})


def test_resolve_forces_quickgelu_for_openai_weights_in_a_gelu_config(caplog):
    caplog.set_level(logging.INFO, logger="tripletclip.models")
    resolved = models.resolve(models.ModelSpec("ViT-B-32", "openai"))
    assert resolved == models.ModelSpec("ViT-B-32", "openai", quick_gelu=True)
    records = [r for r in caplog.records if r.name == "tripletclip.models"]
    assert len(records) == 1 and records[0].levelno == logging.WARNING
    line = records[0].getMessage()
    assert "\n" not in line and "'openai'" in line and "ViT-B-32" in line and "`model: ViT-B-32-quickgelu`" in line
    caplog.clear()
    unchanged = [models.ModelSpec("ViT-B-32-quickgelu", "openai"), models.ModelSpec("ViT-B-32", "laion2b_s34b_b79k"),
                 models.ModelSpec("ViT-B-32", "datacomp_xl_s13b_b90k"), models.ModelSpec("ViT-B-32", "openai", True),
                 models.ModelSpec("ViT-B-32", "negclip.pth"), models.ModelSpec("hf-hub:ORG/NAME"),
                 models.ModelSpec(TINY)]
    for spec in unchanged:
        assert models.resolve(spec) is spec
    assert not [r for r in caplog.records if r.name == "tripletclip.models"]


def test_quick_gelu_changes_the_activation_and_model_cfg_records_it(source, batch):
    forced = models.load({"model": TINY, "quick_gelu": True})
    for tower in (forced.model.visual.transformer, forced.model.transformer):
        assert isinstance(tower.resblocks[0].mlp.gelu, open_clip.transformer.QuickGELU)
    assert isinstance(source.model.visual.transformer.resblocks[0].mlp.gelu, torch.nn.GELU)
    assert forced.model_cfg == {**models.model_config(TINY), "quick_gelu": True}
    assert forced.spec.quick_gelu and forced.spec.describe() == f"{TINY} (random weights, QuickGELU)"
    # the same weights give other features under the other activation
    forced.model.load_state_dict(source.model.state_dict())
    assert not torch.equal(features(forced.model, batch)[0], features(source.model, batch)[0])


def test_quickgelu_survives_the_trainers_checkpoint_and_the_export(source, batch, tmp_path, caplog):
    """load -> the trainer's checkpoint (model_cfg from Loaded) -> export_local_dir -> local-dir: the same network;
    a checkpoint that records QuickGELU loaded under a GELU name gets QuickGELU back."""
    forced = models.load({"model": TINY, "quick_gelu": True})
    forced.model.load_state_dict(source.model.state_dict())
    path = tmp_path / "checkpoint.pt"
    torch.save({"model": forced.model.state_dict(), "model_cfg": forced.model_cfg, "step": 2,
                "preprocess_cfg": open_clip.get_model_preprocess_cfg(forced.model)}, path)
    models.export_local_dir(path, tmp_path / "exported")
    exported = models.load(f"local-dir:{tmp_path / 'exported'}")
    assert isinstance(exported.model.visual.transformer.resblocks[0].mlp.gelu, open_clip.transformer.QuickGELU)
    assert exported.model_cfg["quick_gelu"] and exported.spec.describe() == f"local-dir:{tmp_path / 'exported'}"
    assert_same_model(exported, forced, batch)
    caplog.set_level(logging.WARNING, logger="tripletclip.models")
    again = models.load({"model": TINY, "pretrained": str(path)})
    assert again.spec.quick_gelu and again.model_cfg["quick_gelu"]
    assert_same_model(again, forced, batch)
    assert any("QuickGELU" in r.getMessage() for r in caplog.records if r.name == "tripletclip.models")


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """The hub offline, with an empty cache and an empty home (open_clip's URL cache is ~/.cache/clip)."""
    home, hub = tmp_path / "home", tmp_path / "hf/hub"
    hub.mkdir(parents=True)
    for var, value in {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "HUGGINGFACE_HUB_CACHE": str(hub),
                       "HF_HUB_CACHE": str(hub), "HOME": str(home)}.items():
        monkeypatch.setenv(var, value)
    # huggingface_hub reads them when imported
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub))
    models.open_clip_with_our_configs()  # its import is not what is timed
    return hub


def cache_hub_files(hub, repo: str, files: dict[str, bytes]) -> None:
    """Files of hub repo `repo` laid out as huggingface_hub caches them (refs/main -> snapshots/COMMIT/)."""
    root = hub / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs/main").write_text(HF_HUB_COMMIT, encoding="utf-8")
    snapshot = root / "snapshots" / HF_HUB_COMMIT
    snapshot.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (snapshot / name).write_bytes(data)


@pytest.mark.parametrize("spec, repo, files", [
    ({"model": "ViT-B-32", "pretrained": "laion2b_s34b_b79k"}, "laion/CLIP-ViT-B-32-laion2B-s34B-b79K",
     "open_clip_model.safetensors"),
    ({"model": "ViT-B-32", "pretrained": "openai"}, "timm/vit_base_patch32_clip_224.openai",
     "open_clip_model.safetensors"),
    ({"model": "hf-hub:ORG/NAME"}, "ORG/NAME", "open_clip_config.json open_clip_model.safetensors"),
])
def test_offline_and_not_cached_fails_at_once_with_the_command_that_fetches_it(offline, spec, repo, files):
    start = time.monotonic()
    with pytest.raises(RuntimeError) as error:
        models.load(spec, name="the-model")
    assert time.monotonic() - start < 5
    message = str(error.value)
    assert "'the-model'" in message and "HF_HUB_OFFLINE" in message
    assert f"hf download {repo} {files} --cache-dir {offline}" in message
    if "pretrained" in spec:
        assert spec["model"] in message and spec["pretrained"] in message


def test_offline_with_the_files_cached_passes_the_check(offline, source, batch):
    cache_hub_files(offline, "laion/CLIP-ViT-B-32-laion2B-s34B-b79K", {"open_clip_pytorch_model.bin": b"x"})
    models.check_available(models.ModelSpec("ViT-B-32", "laion2b_s34b_b79k"))
    # an hf-hub: model loads from the cache alone
    weights = offline.parent / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in source.model.state_dict().items()}, weights)
    config = {"model_cfg": source.model_cfg, "preprocess_cfg": open_clip.get_model_preprocess_cfg(source.model)}
    cache_hub_files(offline, "org/tiny", {"open_clip_config.json": json.dumps(config).encode(),
                                          "open_clip_model.safetensors": weights.read_bytes()})
    loaded = models.load("hf-hub:org/tiny")
    assert_same_model(loaded, source, batch)
    assert loaded.model_cfg == source.model_cfg and loaded.spec == models.ModelSpec("hf-hub:org/tiny")


def test_offline_url_only_tag_names_the_curl_into_open_clips_cache(offline, monkeypatch, tmp_path):
    url = "https://example.org/weights/tiny-quickgelu-abc123.pt"
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, TINY, {"urltag": {"url": url, "hf_hub": ""}})
    spec = models.ModelSpec(TINY, "urltag")
    target = tmp_path / "home/.cache/clip/tiny-quickgelu-abc123.pt"
    with pytest.raises(RuntimeError, match=f"'url-model'.*curl -L --create-dirs -o {target} {url}"):
        models.check_available(spec, name="url-model")
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x")
    models.check_available(spec, name="url-model")


def test_offline_hf_text_tower_needs_its_tokenizer_repo(offline, monkeypatch):
    cfg = json.loads((models.MODEL_CONFIGS / f"{TINY}.json").read_text(encoding="utf-8"))
    cfg["text_cfg"]["hf_tokenizer_name"] = "org/tokenizer"
    monkeypatch.setitem(open_clip.factory._MODEL_CONFIGS, "Tiny-HF-Tokenizer", cfg)
    with pytest.raises(RuntimeError, match="hf download org/tokenizer --include '\\*.json'"):
        models.check_available(models.ModelSpec("Tiny-HF-Tokenizer"), name="hf-tok")
    cache_hub_files(offline, "org/tokenizer", {"tokenizer.json": b"{}"})
    models.check_available(models.ModelSpec("Tiny-HF-Tokenizer"), name="hf-tok")


def test_online_the_hub_check_is_a_no_op(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    models.check_available(models.ModelSpec("ViT-B-32", "laion2b_s34b_b79k"), name="laion")
    models.check_available(models.ModelSpec("hf-hub:ORG/NAME"), name="hub")


def test_model_spec_parse():
    parse = models.ModelSpec.parse
    named = {"openai-b32": {"model": "ViT-B-32-quickgelu", "pretrained": "openai"},
             "forced": {"model": "ViT-B-32", "pretrained": "negclip.pth", "quick_gelu": True}}
    assert parse("openai-b32", named) == models.ModelSpec("ViT-B-32-quickgelu", "openai")
    assert parse("forced", named) == models.ModelSpec("ViT-B-32", "negclip.pth", True)
    assert parse({"model": "ViT-B-32", "pretrained": "laion2b_s34b_b79k"}) == \
        models.ModelSpec("ViT-B-32", "laion2b_s34b_b79k")
    assert parse("hf-hub:ORG/NAME", named) == models.ModelSpec("hf-hub:ORG/NAME")
    assert parse("local-dir:/shared/models/x") == models.ModelSpec("local-dir:/shared/models/x")
    assert parse("/shared/ckpt/epoch_10.pt", named, default_model="ViT-B-32") == \
        models.ModelSpec("ViT-B-32", "/shared/ckpt/epoch_10.pt")
    spec = models.ModelSpec("ViT-B-32", "openai", True)
    assert parse(spec) is spec
    assert parse(spec.as_dict()) == spec
    assert json.loads(json.dumps(spec.as_dict())) == {"model": "ViT-B-32", "pretrained": "openai", "quick_gelu": True}
    with pytest.raises(ValueError, match="unknown key.*pretrain, quickgelu"):
        parse({"model": "ViT-B-32", "pretrain": "openai", "quickgelu": True})
    with pytest.raises(ValueError, match="no `model`"):
        parse({"pretrained": "openai"})
    with pytest.raises(ValueError, match="'laion-b32' is not a key of the models: block.*openai-b32, forced"):
        parse("laion-b32", named)
    with pytest.raises(ValueError, match="not 3"):
        parse(3)
    with pytest.raises(ValueError, match="not None"):
        parse(None, named, default_model="ViT-B-32")
    with pytest.raises(ValueError, match="`quick_gelu` must be true or false"):
        parse({"model": "ViT-B-32", "quick_gelu": "yes"})
    with pytest.raises(ValueError, match="cannot go with an hf-hub: model"):
        parse({"model": "hf-hub:ORG/NAME", "pretrained": "openai"})
    with pytest.raises(ValueError, match="`model` must be a non-empty string"):
        parse({"model": ""})


def test_model_spec_describe():
    assert models.ModelSpec("ViT-B-32", "openai", True).describe() == "ViT-B-32 (openai weights, QuickGELU)"
    assert models.ModelSpec("ViT-B-32", "laion2b_s34b_b79k").describe() == "ViT-B-32 (laion2b_s34b_b79k weights)"
    assert models.ModelSpec("ViT-B-32", "/ckpt/epoch_10.pt").describe() == "ViT-B-32 (weights from /ckpt/epoch_10.pt)"
    assert models.ModelSpec("ViT-B-32", "negclip.pth", True).describe() == \
        "ViT-B-32 (weights from negclip.pth, QuickGELU)"
    assert models.ModelSpec("hf-hub:ORG/NAME").describe() == "hf-hub:ORG/NAME"
    assert models.ModelSpec("ViT-B-32").describe() == "ViT-B-32 (random weights)"


def test_one_parser_for_the_dag_and_the_jobs(tmp_path, monkeypatch):
    """tripletclip.specs parses a spec for rules/common.smk and for every job alike (no torch needed): `~` expanded in
    local-dir: and checkpoint paths, a string that is neither a key, a schema nor a file refused with the closest key,
    the architecture's name and the files checked without open_clip."""
    from tripletclip import specs

    monkeypatch.setenv("HOME", str(tmp_path))
    assert specs.ModelSpec.parse("local-dir:~/m").model == f"local-dir:{tmp_path}/m"
    assert specs.ModelSpec.parse("~/c.pt", default_model=TINY) == specs.ModelSpec(TINY, f"{tmp_path}/c.pt")
    with pytest.raises(ValueError, match="'openai-b23' is not a key.*did you mean 'openai-b32'"):
        specs.ModelSpec.parse("openai-b23", {"openai-b32": {"model": "ViT-B-32"}}, default_model=TINY)
    with pytest.raises(ValueError, match="did you mean ViT-B-32"):
        specs.ModelSpec("ViT-B32", "openai").check_names()
    with pytest.raises(ValueError, match="no such checkpoint file.*c.pt"):
        specs.ModelSpec.parse("~/c.pt", default_model=TINY).check_names()
    (tmp_path / "c.pt").write_bytes(b"x")
    specs.ModelSpec.parse("~/c.pt", default_model=TINY).check_names()
    assert models.ModelSpec is specs.ModelSpec
