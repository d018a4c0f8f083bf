"""open_clip models: the shipped tiny config, creation by name, and export as an open_clip `local-dir:` model."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

from . import io, tokenizer

MODEL_CONFIGS = Path(__file__).parent / "model_configs"
WEIGHTS_NAME = "open_clip_model.safetensors"


@functools.cache
def open_clip_with_our_configs():
    """open_clip, with our configs registered as ordinary open_clip model names. Imported on first use: it adds
    ~7 s to torch's start-up (torchvision, transformers, timm), which the export job, a cluster job of its own,
    does not need."""
    import open_clip
    open_clip.add_model_config(MODEL_CONFIGS)
    return open_clip


def create(model_name: str, pretrained: str | None = None, device: str = "cpu"):
    """(model, train transform, eval transform, tokenizer) for an open_clip name, `local-dir:` path or our config;
    the tokenizer is open_clip's, with its fast path for plain captions (`tokenizer.Tokenizer`)."""
    open_clip = open_clip_with_our_configs()
    model, preprocess_train, preprocess_val = open_clip.create_model_and_transforms(
        model_name, pretrained=pretrained, device=device
    )
    return model, preprocess_train, preprocess_val, tokenizer.Tokenizer(open_clip.get_tokenizer(model_name))


def load_checkpoint(path: str) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def model_config(model_name: str) -> dict:
    """The architecture config of an open_clip name, of our configs, or of a `local-dir:` model."""
    if model_name.startswith("local-dir:"):
        return io.read_json(Path(model_name.removeprefix("local-dir:")) / "open_clip_config.json")["model_cfg"]
    model_cfg = open_clip_with_our_configs().get_model_config(model_name)
    if model_cfg is None:
        raise ValueError(f"unknown open_clip model {model_name!r}")
    return model_cfg


def export_local_dir(checkpoint: str, output_dir: str) -> None:
    """Write `output_dir` as an open_clip local directory (open_clip_config.json + safetensors weights) from a
    checkpoint of the trainer (which records the model's config), so that
    `open_clip.create_model_and_transforms("local-dir:" + output_dir)` loads the trained model unchanged."""
    state = load_checkpoint(checkpoint)
    out = Path(output_dir)
    staging = out.with_name(out.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in state["model"].items()}, staging / WEIGHTS_NAME)
    config = {"model_cfg": state["model_cfg"], "preprocess_cfg": state["preprocess_cfg"]}
    io.write_json(staging / "open_clip_config.json", config)
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
