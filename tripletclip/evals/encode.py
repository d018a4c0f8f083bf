"""Encode each distinct image and caption once, in batches: every benchmark's protocol is then a matter of
indexing into two feature matrices."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

import open_clip
import torch
import torch.nn.functional as F
from open_clip.transformer import ResidualAttentionBlock, text_global_pool
from PIL import Image
from tqdm import tqdm


def index(items: Sequence) -> tuple[list, dict]:
    """The distinct items in first-seen order, and each one's row."""
    unique = list(dict.fromkeys(items))
    return unique, {item: i for i, item in enumerate(unique)}


def open_rgb(path: str | Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def _prepared(items: Sequence, batch_size: int, prepare: Callable, desc: str, device: str):
    """Batches of `items` passed through `prepare`. On an accelerator, one batch ahead in a thread, so that decoding
    and tokenizing (Python, PIL) overlap the model's forward. On the CPU the forward's own threads already use
    every core, and a thread beside them only preempts them: measured 1.4 s against 0.95 s sequentially for the
    SugarCrepe benchmark on 2 cores (BENCHMARKS.md)."""
    starts = tqdm(range(0, len(items), batch_size), desc=desc, unit="batch", disable=len(items) <= batch_size)
    if torch.device(device).type == "cpu":
        for start in starts:
            yield prepare(items[start:start + batch_size])
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(prepare, items[0:batch_size]) if items else None
        for start in starts:
            batch = pending.result()
            if start + batch_size < len(items):
                pending = pool.submit(prepare, items[start + batch_size:start + 2 * batch_size])
            yield batch


@torch.no_grad()
def images(model, preprocess, items: Sequence, batch_size: int = 256, device: str = "cpu",
           load: Callable = open_rgb, desc: str = "encode images") -> torch.Tensor:
    """L2-normalized features (N, D), float32, of `items` loaded with `load` (a path -> PIL image by default)."""
    model.eval().to(device)
    out = [model.encode_image(batch.to(device), normalize=True).float().cpu() for batch in _prepared(
        items, batch_size, lambda chunk: torch.stack([preprocess(load(item)) for item in chunk]), desc, device)]
    return torch.cat(out) if out else torch.empty(0)


def _trimmable(model) -> bool:
    """open_clip's own text tower is causal and pools at the end-of-text token, so the padding after a caption
    changes nothing it outputs: a batch may stop at its longest caption. Other text towers get their full context."""
    return (isinstance(model, open_clip.model.CLIP) and model.attn_mask is not None
            and model.text_pool_type in ("argmax", "eos"))


def _plain_block(block) -> bool:
    """An unmodified open_clip text block: self-attention through a packed nn.MultiheadAttention, batch first."""
    attn = getattr(block, "attn", None)
    return (type(block) is ResidualAttentionBlock and not hasattr(block, "ln_1_kv")
            and isinstance(attn, torch.nn.MultiheadAttention) and attn.batch_first and attn._qkv_same_embed_dim
            and attn.bias_k is None and not attn.add_zero_attn)


def _causal_block(block, x: torch.Tensor) -> torch.Tensor:
    """block(x, attn_mask=causal mask), with attention as one scaled_dot_product_attention(is_causal=True).
    nn.MultiheadAttention cannot take its fused inference path here (a float mask; the tiny tower's 3 heads), and
    its general path copies q, k and v between layouts: a third of the text tower's time on CPU."""
    batch, length, width = x.shape
    attn = block.attn
    qkv = F.linear(block.ln_1(x), attn.in_proj_weight, attn.in_proj_bias)
    q, k, v = qkv.view(batch, length, 3, attn.num_heads, width // attn.num_heads).permute(2, 0, 3, 1, 4)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(batch, length, width)
    x = x + block.ls_1(attn.out_proj(y))
    return x + block.ls_2(block.mlp(block.ln_2(x)))


def _encode_text(model, tokens: torch.Tensor) -> torch.Tensor:
    """model.encode_text(tokens, normalize=True), computed over the batch's used positions only (see _trimmable);
    this mirrors open_clip's CLIP.encode_text with the positional embedding and causal mask cut to that length."""
    length = int((tokens != 0).sum(dim=1).max())  # open_clip pads with 0 after the end-of-text token
    if length >= tokens.shape[1] or not _trimmable(model):
        return model.encode_text(tokens, normalize=True)
    tokens = tokens[:, :length]
    cast = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast) + model.positional_embedding[:length].to(cast)
    blocks = model.transformer.resblocks
    if model.transformer.batch_first and all(_plain_block(b) for b in blocks):
        # open_clip's mask is exactly the causal one (-inf above the diagonal), so is_causal computes the same
        for block in blocks:
            x = _causal_block(block, x)
    else:
        x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])
    x = text_global_pool(model.ln_final(x), tokens, model.text_pool_type, eos_token_id=model.text_eos_id)
    x = model.text_projection(x) if isinstance(model.text_projection, torch.nn.Linear) else x @ model.text_projection
    return F.normalize(x, dim=-1)


@torch.no_grad()
def texts(model, tokenizer, captions: Sequence[str], batch_size: int = 256, device: str = "cpu",
          desc: str = "encode captions") -> torch.Tensor:
    """L2-normalized features (N, D), float32, of `captions`. Captions are batched longest first, so that each
    batch of open_clip's causal text tower stops near its own longest caption instead of the full context."""
    model.eval().to(device)
    order = sorted(range(len(captions)), key=lambda i: -len(captions[i]))
    out = [_encode_text(model, tokens.to(device)).float().cpu() for tokens in _prepared(
        [captions[i] for i in order], batch_size, lambda chunk: tokenizer(list(chunk)), desc, device)]
    if not out:
        return torch.empty(0)
    features = torch.empty_like(torch.cat(out))
    features[order] = torch.cat(out)
    return features


def resolve(root: str | Path, path: str | None) -> Path | None:
    """A spec's path: absolute as given, relative to the spec's folder (or the working directory) otherwise."""
    return None if path is None else Path(root) / path
