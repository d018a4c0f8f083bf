"""Tiny Stable Diffusion and SDXL-turbo-shaped pipelines built from configs with random weights (nothing
downloaded), saved with save_pretrained as a real model directory is. The tokenizer is CLIP's real BPE vocabulary,
taken from open_clip's bundled file and written as vocab.json/merges.txt (in transformers 5,
CLIPTokenizer(vocab_file=..., merges_file=...) silently ignores both files; from_pretrained(dir) reads them)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path


def _bytes_to_unicode() -> dict[int, str]:
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def clip_tokenizer():
    """CLIP's tokenizer (49,408 tokens) from open_clip's BPE file, written as files and loaded back."""
    import tempfile

    import open_clip
    from transformers import CLIPTokenizer

    bpe = Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"
    merges = gzip.open(bpe).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    symbols = list(_bytes_to_unicode().values())
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "vocab.json").write_text(json.dumps({tok: i for i, tok in enumerate(vocab)}), encoding="utf-8")
        (Path(tmp) / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
        return CLIPTokenizer.from_pretrained(tmp, model_max_length=77, pad_token="<|endoftext|>")


def _text_config(projection: bool):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(vocab_size=49408, hidden_size=32, intermediate_size=37, num_attention_heads=4,
                          num_hidden_layers=2, max_position_embeddings=77, bos_token_id=49406, eos_token_id=49407,
                          pad_token_id=49407, projection_dim=32 if projection else 512)


def _vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(block_out_channels=[32, 64], in_channels=3, out_channels=3, latent_channels=4,
                         down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                         norm_num_groups=32, sample_size=64)


def build_sd(path: Path) -> Path:
    """A Stable Diffusion 1.x-shaped pipeline (one text encoder, no safety checker) with a DDIM scheduler."""
    import torch
    from diffusers import DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(block_out_channels=(32, 64), layers_per_block=1, sample_size=16, in_channels=4,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
                                attention_head_dim=4, norm_num_groups=32)
    pipe = StableDiffusionPipeline(vae=_vae(), text_encoder=CLIPTextModel(_text_config(False)),
                                   tokenizer=clip_tokenizer(), unet=unet,
                                   scheduler=DDIMScheduler(beta_schedule="scaled_linear", clip_sample=False,
                                                           steps_offset=1),
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(path)
    return path


def build_sdxl_turbo(path: Path) -> Path:
    """An SDXL-turbo-shaped pipeline: two text encoders (the second with a projection), the text_time added
    conditioning, Euler ancestral with trailing timesteps as sdxl-turbo ships it."""
    import torch
    from diffusers import EulerAncestralDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    unet = UNet2DConditionModel(block_out_channels=(32, 64), layers_per_block=1, sample_size=16, in_channels=4,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
                                use_linear_projection=True, addition_embed_type="text_time",
                                addition_time_embed_dim=8, transformer_layers_per_block=(1, 2),
                                projection_class_embeddings_input_dim=6 * 8 + 32, cross_attention_dim=64,
                                norm_num_groups=1)
    tokenizer = clip_tokenizer()
    pipe = StableDiffusionXLPipeline(
        vae=_vae(), text_encoder=CLIPTextModel(_text_config(False)),
        text_encoder_2=CLIPTextModelWithProjection(_text_config(True)), tokenizer=tokenizer, tokenizer_2=tokenizer,
        unet=unet, scheduler=EulerAncestralDiscreteScheduler(beta_schedule="scaled_linear",
                                                             timestep_spacing="trailing"),
        force_zeros_for_empty_prompt=True)
    pipe.save_pretrained(path)
    return path


def into_hub_cache(pipeline: Path, cache: Path, repo_id: str) -> Path:
    """`pipeline` laid out in a Hugging Face hub cache as `hf download repo_id` leaves it (refs/main naming a
    snapshot folder; files instead of the symlinks to blobs, which read the same), so a hub id loads it."""
    import shutil

    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(pipeline, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit, encoding="utf-8")
    return repo
