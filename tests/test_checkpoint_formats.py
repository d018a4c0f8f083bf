"""Every checkpoint format the field publishes, loaded as open_clip models with the features of the framework that
wrote them (issue 28): a transformers CLIP folder (local and as a cached hf-hub: snapshot), the TripletCLIP
authors' two-tower layout, a PyTorch Lightning .ckpt, TorchScript archives (open_clip's jit=True, a traced model as
OpenAI's files are), each also checked at plan time from its shapes alone (`models.check_loadable`). Random-weight
tiny models built here; no network."""

import argparse
import json
import logging

import huggingface_hub.constants
import yaml
import pytest
import torch
from safetensors.torch import save_file
from transformers import (CLIPConfig, CLIPModel, CLIPTextConfig, CLIPTextModelWithProjection, CLIPVisionConfig,
                          CLIPVisionModelWithProjection)

from tripletclip import hf_clip, models

TINY = "ViT-Tiny-P16-64"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
TOWERS = dict(hidden_size=32, intermediate_size=64, num_attention_heads=2, num_hidden_layers=2)
VISION = dict(TOWERS, image_size=32, patch_size=8)
TEXT = dict(TOWERS, max_position_embeddings=24)
CAPTIONS = ["a red cube left of a blue ball", "two green triangles", "a dog"]


def close(a, b):
    assert a.shape == b.shape and (a - b).abs().max().item() < 1e-5, (a - b).abs().max().item()


def pooled(out):
    """transformers 5 returns a tensor from get_*_features, earlier versions an output with pooler_output."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


@pytest.fixture(scope="module")
def hf_model(tmp_path_factory):
    torch.manual_seed(0)
    config = CLIPConfig(text_config=TEXT, vision_config=VISION, projection_dim=16)
    model = CLIPModel(config).eval()
    folder = tmp_path_factory.mktemp("hf") / "clip"
    model.save_pretrained(folder)
    return model, folder


def same_features_as_transformers(loaded, image_features, text_features):
    torch.manual_seed(1)
    images = torch.randn(3, 3, 32, 32)
    ids = loaded.tokenizer(CAPTIONS)
    with torch.no_grad():
        close(loaded.model.encode_image(images), image_features(images))
        close(loaded.model.encode_text(ids), text_features(ids))


def test_a_transformers_folder_loads_with_transformers_features(hf_model):
    model, folder = hf_model
    assert hf_clip.layout(folder) == "transformers"
    models.check_loadable(f"local-dir:{folder}", name="hf")
    loaded = models.load(f"local-dir:{folder}")
    same_features_as_transformers(loaded, lambda x: pooled(model.get_image_features(pixel_values=x)),
                                  lambda ids: pooled(model.get_text_features(input_ids=ids)))
    assert loaded.model_cfg["quick_gelu"] is True  # transformers' default hidden_act
    assert loaded.model_cfg["embed_dim"] == 16 and loaded.model_cfg["text_cfg"]["context_length"] == 24
    assert torch.equal(loaded.model.logit_scale, model.logit_scale)


def test_a_gelu_transformers_clip_is_a_gelu_model(tmp_path):
    torch.manual_seed(2)
    config = CLIPConfig(text_config=dict(TEXT, hidden_act="gelu"), vision_config=dict(VISION, hidden_act="gelu"),
                        projection_dim=16)
    model = CLIPModel(config).eval()
    model.save_pretrained(tmp_path)
    loaded = models.load(f"local-dir:{tmp_path}")
    assert loaded.model_cfg["quick_gelu"] is False
    same_features_as_transformers(loaded, lambda x: pooled(model.get_image_features(pixel_values=x)),
                                  lambda ids: pooled(model.get_text_features(input_ids=ids)))


def test_its_preprocessor_and_tokenizer_configs_decide_size_crop_mean_and_context(hf_model, tmp_path):
    model, folder = hf_model
    for f in folder.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(
        {"crop_size": {"height": 32, "width": 32}, "size": {"shortest_edge": 40}, "do_center_crop": True,
         "image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.25, 0.25], "resample": 3}), encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 16}), encoding="utf-8")
    loaded = models.load(f"local-dir:{tmp_path}")
    first, crop, *_, normalize = loaded.preprocess_val.transforms
    assert first.size == 40 and list(crop.size) == [32, 32]
    assert tuple(normalize.mean) == (0.5, 0.5, 0.5) and tuple(normalize.std) == (0.25, 0.25, 0.25)
    assert loaded.tokenizer(["a dog"]).shape == (1, 16)
    # what training reads to build its batches, and export writes
    assert loaded.model.visual.preprocess_cfg["size"] == 32


@pytest.fixture
def offline_hub(monkeypatch, tmp_path):
    hub = tmp_path / "hub"
    hub.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub))
    return hub


def cache_snapshot(hub, repo, folder):
    """`folder`'s files as huggingface_hub caches a download of `repo` (refs/main -> snapshots/COMMIT/)."""
    root = hub / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs/main").write_text(COMMIT, encoding="utf-8")
    for f in folder.rglob("*"):
        if f.is_file():
            target = root / "snapshots" / COMMIT / f.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(f.read_bytes())


def test_a_cached_hub_snapshot_of_a_transformers_clip_loads(hf_model, offline_hub, caplog):
    model, folder = hf_model
    with pytest.raises(RuntimeError, match="hf download openai/clip-vit-base-patch32 --include"):
        models.check_available(models.ModelSpec("hf-hub:openai/clip-vit-base-patch32"), name="openai-hf")
    cache_snapshot(offline_hub, "openai/clip-vit-base-patch32", folder)
    models.check_loadable("hf-hub:openai/clip-vit-base-patch32", name="openai-hf")
    with caplog.at_level(logging.INFO, logger="tripletclip.models"):
        loaded = models.load("hf-hub:openai/clip-vit-base-patch32")
    assert "{model: ViT-B-32-quickgelu, pretrained: openai}" in caplog.text
    same_features_as_transformers(loaded, lambda x: pooled(model.get_image_features(pixel_values=x)),
                                  lambda ids: pooled(model.get_text_features(input_ids=ids)))


def tripletclip_release(folder, vision, text):
    """The TripletCLIP authors' layout: vision-encoder/ and text-encoder/, their configs naming custom classes of a
    root utils.py (auto_map), each encoder's weights under its wrapper's `model.` attribute."""
    for sub, tower, model_type in (("vision-encoder", vision, "clip_custom_vision_model"),
                                   ("text-encoder", text, "clip_custom_text_model")):
        (folder / sub).mkdir(parents=True)
        config = tower.config.to_dict()
        name = "CLIPVisionEncoderOnly" if sub.startswith("vision") else "CLIPTextEncoderOnly"
        config.update(model_type=model_type, architectures=[name], model_name="openai/clip-vit-base-patch32",
                      pretrained=False, lora=None, frozen=False,
                      auto_map={"AutoConfig": f"utils.{name}Config", "AutoModel": f"utils.{name}"})
        (folder / sub / "config.json").write_text(json.dumps(config), encoding="utf-8")
        save_file({f"model.{k}": v.contiguous() for k, v in tower.state_dict().items()},
                  folder / sub / "model.safetensors")
    (folder / "utils.py").write_text("raise SystemExit('never imported')\n", encoding="utf-8")


def test_the_tripletclip_authors_layout_loads_without_their_code(tmp_path):
    torch.manual_seed(3)
    vision = CLIPVisionModelWithProjection(CLIPVisionConfig(**VISION, projection_dim=16)).eval()
    text = CLIPTextModelWithProjection(CLIPTextConfig(**TEXT, projection_dim=16)).eval()
    tripletclip_release(tmp_path, vision, text)
    assert hf_clip.layout(tmp_path) == "tripletclip"
    models.check_loadable(f"local-dir:{tmp_path}", name="tripletclip-cc3m")
    loaded = models.load(f"local-dir:{tmp_path}")
    same_features_as_transformers(loaded, lambda x: vision(pixel_values=x).image_embeds,
                                  lambda ids: text(input_ids=ids).text_embeds)


def test_weights_that_need_their_own_code_are_refused_naming_the_file(tmp_path):
    torch.manual_seed(3)
    vision = CLIPVisionModelWithProjection(CLIPVisionConfig(**VISION, projection_dim=16)).eval()
    text = CLIPTextModelWithProjection(CLIPTextConfig(**TEXT, projection_dim=16)).eval()
    tripletclip_release(tmp_path, vision, text)
    weights = tmp_path / "text-encoder/model.safetensors"
    from safetensors.torch import load_file
    save_file({**load_file(weights), "model.lora_adapter.weight": torch.zeros(4, 4)}, weights)
    for check in (models.check_loadable, models.load):
        with pytest.raises(ValueError, match="lora_adapter.*own code"):
            check(f"local-dir:{tmp_path}")


def test_a_lightning_checkpoint_has_its_prefix_stripped(tmp_path, caplog):
    torch.manual_seed(4)
    source = models.load({"model": TINY})
    path = tmp_path / "epoch=3-step=100.ckpt"
    torch.save({"epoch": 3, "global_step": 100, "pytorch-lightning_version": "2.4.0",
                "state_dict": {f"model.{k}": v for k, v in source.model.state_dict().items()},
                "optimizer_states": [], "lr_schedulers": [], "hyper_parameters": {"lr": 5e-4}}, path)
    models.check_loadable({"model": TINY, "pretrained": str(path)}, name="lightning")
    with caplog.at_level(logging.INFO):
        loaded = models.load({"model": TINY, "pretrained": str(path)})
    assert "'model.'" in caplog.text
    for name, value in source.model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], value)


@pytest.mark.filterwarnings("ignore:`torch.jit")
@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.parametrize("kind", ["scripted", "traced"])
def test_a_torchscript_archive_loads_without_running_it(kind, tmp_path):
    """open_clip's jit=True (scripted) and a traced model with encode_image / encode_text, as OpenAI's files are."""
    torch.manual_seed(5)
    source = models.load({"model": TINY})
    images, ids = torch.randn(2, 3, 64, 64), source.tokenizer(CAPTIONS[:2])
    if kind == "scripted":
        archive = torch.jit.script(source.model)
    else:
        archive = torch.jit.trace_module(source.model, {"encode_image": images, "encode_text": ids})
    path = tmp_path / "ViT-B-32.pt"
    archive.save(str(path))
    spec = {"model": TINY, "pretrained": str(path)}
    models.check_loadable(spec, name="jit")
    loaded = models.load(spec)
    with torch.no_grad():
        close(loaded.model.encode_image(images), archive.encode_image(images))
        close(loaded.model.encode_text(ids), archive.encode_text(ids))


def test_a_mismatched_checkpoint_fails_the_plan_check_naming_the_entry(hf_model, tmp_path):
    model, folder = hf_model
    with pytest.raises(ValueError, match="model 'other'.*does not fit model ViT-Tiny-P16-64"):
        models.check_loadable({"model": TINY, "pretrained": str(folder / "model.safetensors")}, name="other")
    (tmp_path / "config.json").write_text((folder / "config.json").read_text(encoding="utf-8"), encoding="utf-8")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["vision_config"]["num_hidden_layers"] = 3
    (tmp_path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (tmp_path / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    with pytest.raises(ValueError, match="model 'deeper'.*missing keys.*resblocks.2"):
        models.check_loadable(f"local-dir:{tmp_path}", name="deeper")


def test_the_printed_conversion_command_is_shell_quoted(tmp_path):
    path = tmp_path / "my run" / "weights.pt"
    path.parent.mkdir()

    torch.save({"state_dict": {}, "args": argparse.Namespace(lr=1e-3)}, path)  # weights_only refuses it
    with pytest.raises(ValueError) as error:
        models.read_state_dict(path)
    assert f"'{path}' '{path}.weights.pt'" in str(error.value)


@pytest.mark.slow
def test_sugarcrepe_through_the_dag_gives_the_accuracy_of_transformers_features(hf_model, tmp_path):
    """A transformers CLIP and the TripletCLIP authors' layout as models: entries of an evaluation-only run: the DAG's
    SugarCrepe accuracies are those of SugarCrepe's per-sample protocol on transformers' own features (its image
    processor, get_image_features / get_text_features)."""
    from PIL import Image
    from transformers import CLIPImageProcessor

    from helpers.dag import snakemake, tiny_config
    from tripletclip import io
    from tripletclip.evals import sugarcrepe

    model, folder = hf_model
    torch.manual_seed(6)
    vision = CLIPVisionModelWithProjection(CLIPVisionConfig(**VISION, projection_dim=16)).eval()
    text = CLIPTextModelWithProjection(CLIPTextConfig(**TEXT, projection_dim=16)).eval()
    tripletclip_release(tmp_path / "authors", vision, text)
    config = tiny_config()
    config["train"]["methods"] = []
    config["eval"]["benchmarks"] = ["sugarcrepe"]
    config["models"] = {"hf-clip": {"model": f"local-dir:{folder}"},
                        "tripletclip-authors": {"model": f"local-dir:{tmp_path / 'authors'}"}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    targets = [f"results/eval/sugarcrepe/models/{name}.json" for name in config["models"]]
    result = snakemake(tmp_path, *targets)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    bench = tmp_path / "results/benchmarks/sugarcrepe"
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    tokenizer = models.load(f"local-dir:{folder}").tokenizer  # CLIP's BPE: transformers' CLIPTokenizer's ids
    encoders = {"hf-clip": (lambda x: pooled(model.get_image_features(pixel_values=x)),
                            lambda ids: pooled(model.get_text_features(input_ids=ids))),
                "tripletclip-authors": (lambda x: vision(pixel_values=x).image_embeds,
                                        lambda ids: text(input_ids=ids).text_embeds)}
    for name, (image_features, text_features) in encoders.items():
        ours = io.read_json(tmp_path / f"results/eval/sugarcrepe/models/{name}.json")["metrics"]
        for category, samples in sugarcrepe.load(str(bench)).items():
            correct = 0
            with torch.no_grad():
                for s in samples.values():
                    image = Image.open(bench / "images" / s["filename"]).convert("RGB")
                    img = image_features(processor(images=image, return_tensors="pt")["pixel_values"])
                    txt = text_features(tokenizer([s["caption"], s["negative_caption"]]))
                    img, txt = img / img.norm(dim=-1, keepdim=True), txt / txt.norm(dim=-1, keepdim=True)
                    scores = (img @ txt.T)[0]
                    correct += int(scores[0] > scores[1])
            assert ours[category] == pytest.approx(100 * correct / len(samples)), (name, category)


def test_what_a_folder_holds_decides_how_it_loads(hf_model, offline_hub, tmp_path):
    """A legacy-format pytorch_model.bin; open_clip's config beside a transformers one (open_clip's wins, as on the
    hub); open_clip's config without weights (refused at plan time); a snapshot holding only configs, offline
    (refused with the command that fetches the rest)."""
    model, folder = hf_model
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "config.json").write_bytes((folder / "config.json").read_bytes())
    torch.save(model.state_dict(), legacy / "pytorch_model.bin", _use_new_zipfile_serialization=False)
    models.check_loadable(f"local-dir:{legacy}")
    same_features_as_transformers(models.load(f"local-dir:{legacy}"),
                                  lambda x: pooled(model.get_image_features(pixel_values=x)),
                                  lambda ids: pooled(model.get_text_features(input_ids=ids)))
    source = models.load({"model": TINY})
    both = tmp_path / "both"
    torch.save({"model": source.model.state_dict(), "model_cfg": source.model_cfg,
                "preprocess_cfg": {"size": 64, "mean": hf_clip.OPENAI_MEAN, "std": hf_clip.OPENAI_STD}},
               tmp_path / "checkpoint.pt")
    models.export_local_dir(tmp_path / "checkpoint.pt", both)
    (both / "config.json").write_bytes((folder / "config.json").read_bytes())
    models.check_loadable(f"local-dir:{both}")
    assert models.load(f"local-dir:{both}").model_cfg == source.model_cfg
    (both / models.WEIGHTS_NAME).unlink()
    with pytest.raises(ValueError, match="'empty'.*no weights"):
        models.check_loadable(f"local-dir:{both}", name="empty")
    configs_only = tmp_path / "configs-only"
    configs_only.mkdir()
    (configs_only / "config.json").write_bytes((folder / "config.json").read_bytes())
    cache_snapshot(offline_hub, "org/half", configs_only)
    with pytest.raises(RuntimeError, match="'half'.*hf download org/half --include config.json"):
        models.check_loadable("hf-hub:org/half", name="half")


def test_a_whole_clip_config_in_a_subfolder_gives_its_projection(tmp_path):
    torch.manual_seed(7)
    vision = CLIPVisionModelWithProjection(CLIPVisionConfig(**VISION, projection_dim=16)).eval()
    text = CLIPTextModelWithProjection(CLIPTextConfig(**TEXT, projection_dim=16)).eval()
    tripletclip_release(tmp_path, vision, text)
    whole = CLIPConfig(text_config=TEXT, vision_config=VISION, projection_dim=16).to_dict()
    for sub in hf_clip.SUBFOLDERS:
        (tmp_path / sub / "config.json").write_text(json.dumps(whole), encoding="utf-8")
    assert models.check_loadable(f"local-dir:{tmp_path}")
    assert models.load(f"local-dir:{tmp_path}").model_cfg["embed_dim"] == 16
