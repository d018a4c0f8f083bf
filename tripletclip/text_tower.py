"""open_clip's causal text tower over a batch's used positions only: the features of `model.encode_text`, for less
work. Training (`Features`, what `train.Step` runs) and evaluation (`evals.encode.texts`) both encode through it.

open_clip's own text tower is causal and pools at the end-of-text token, so the padding after a caption changes
nothing it outputs, nor any gradient: a batch may stop at its longest caption (captions are ~15 tokens of a 77-token
context for ViT-B/32, of 32 for the tiny model). Its blocks run their attention as one packed projection and
`scaled_dot_product_attention(is_causal=True)`: nn.MultiheadAttention cannot take its fused path for a text tower (a
float mask; the tiny tower's 3 heads) and its general path copies q, k and v between layouts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from open_clip.model import CLIP
from open_clip.transformer import ResidualAttentionBlock, text_global_pool


def trimmable(model) -> bool:
    """An open_clip CLIP whose text tower is causal and pools at the end-of-text token. Other text towers are
    encoded as they are, with their full context."""
    return isinstance(model, CLIP) and model.attn_mask is not None and model.text_pool_type in ("argmax", "eos")


def plain_block(block) -> bool:
    """An unmodified open_clip text block: self-attention through a packed nn.MultiheadAttention, batch first."""
    attn = getattr(block, "attn", None)
    return (type(block) is ResidualAttentionBlock and not hasattr(block, "ln_1_kv")
            and isinstance(attn, torch.nn.MultiheadAttention) and attn.batch_first and attn._qkv_same_embed_dim
            and attn.bias_k is None and not attn.add_zero_attn)


def causal_block(block, x: torch.Tensor) -> torch.Tensor:
    """block(x, attn_mask=causal mask), with attention as one scaled_dot_product_attention(is_causal=True)."""
    batch, length, width = x.shape
    attn = block.attn
    qkv = F.linear(block.ln_1(x), attn.in_proj_weight, attn.in_proj_bias)
    q, k, v = qkv.view(batch, length, 3, attn.num_heads, width // attn.num_heads).permute(2, 0, 3, 1, 4)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(batch, length, width)
    x = x + block.ls_1(attn.out_proj(y))
    return x + block.ls_2(block.mlp(block.ln_2(x)))


def encode_text(model, tokens: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """model.encode_text(tokens, normalize), computed over the batch's used positions only (see `trimmable`); this
    mirrors open_clip's CLIP.encode_text with the positional embedding and causal mask cut to that length."""
    length = int((tokens != 0).sum(dim=1).max())  # open_clip pads with 0 after the end-of-text token
    if length >= tokens.shape[1] or not trimmable(model):
        return model.encode_text(tokens, normalize=normalize)
    tokens = tokens[:, :length]
    cast = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast) + model.positional_embedding[:length].to(cast)
    blocks = model.transformer.resblocks
    if model.transformer.batch_first and all(plain_block(b) for b in blocks):
        # open_clip's mask is exactly the causal one (-inf above the diagonal), so is_causal computes the same
        for block in blocks:
            x = causal_block(block, x)
    else:
        x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])
    x = text_global_pool(model.ln_final(x), tokens, model.text_pool_type, eos_token_id=model.text_eos_id)
    x = model.text_projection(x) if isinstance(model.text_projection, torch.nn.Linear) else x @ model.text_projection
    return F.normalize(x, dim=-1) if normalize else x


class Features(torch.nn.Module):
    """The first three outputs of an open_clip model's forward, (image features, text features, logit scale), with
    the text encoded by `encode_text`. DDP and torch.compile wrap this module; its state is the model's own."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor, text: torch.Tensor):
        model = self.model
        if not trimmable(model):
            return model(image, text)[:3]
        return model.encode_image(image, normalize=True), encode_text(model, text), model.logit_scale.exp()
