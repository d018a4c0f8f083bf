"""open_clip's causal text tower over a batch's used positions only: the features of `model.encode_text`, for less
work. Training runs `encode_text` (through `Features`, what `train.Step` runs); evaluation (`evals.encode.texts`)
runs `encode_text_shared`, which also computes each prefix that captions share once.

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


def pooled_positions(model, tokens: torch.Tensor) -> torch.Tensor:
    """Where open_clip's text tower pools each caption: at its end-of-text token, the first highest id ("argmax")
    or the first eos id ("eos"). Nothing after it changes the caption's features. (Counting nonzero tokens would
    not find it: "!" is token 0, as padding is.)"""
    if model.text_pool_type == "argmax":
        return tokens.argmax(dim=1)
    return (tokens == model.text_eos_id).int().argmax(dim=1)


def encode_text(model, tokens: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """model.encode_text(tokens, normalize), computed over the batch's used positions only (see `trimmable`); this
    mirrors open_clip's CLIP.encode_text with the positional embedding and causal mask cut to that length."""
    if not trimmable(model):
        return model.encode_text(tokens, normalize=normalize)
    length = int(pooled_positions(model, tokens).max()) + 1
    if length >= tokens.shape[1]:
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


def prefix_nodes(tokens: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each distinct prefix of the rows of `tokens` (B, L) as one node: (node, (B, L), of each row at each position,
    a row's last node repeated after its end; first, (N,), one flat position b * L + p at which each node occurs)."""
    rows, length = tokens.shape
    node = torch.empty_like(tokens)
    last = torch.zeros(rows, dtype=torch.long, device=tokens.device)
    count, vocabulary = 0, int(tokens.max()) + 1
    for position in range(length):
        live = lengths > position
        # (parent, token) names a node exactly: parent ids stay far below 2**63 / (vocabulary size)
        ids, inverse = torch.unique(last[live] * vocabulary + tokens[live, position], return_inverse=True)
        last[live] = inverse + count
        count += len(ids)
        node[:, position] = last
    live = torch.arange(length, device=tokens.device) < lengths[:, None]
    first = torch.empty(count, dtype=torch.long, device=tokens.device)
    first[node[live]] = torch.arange(node.numel(), device=tokens.device).view(rows, length)[live]
    return node, first


def _causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """scaled_dot_product_attention(q, k, v, is_causal=True). On the CPU, as two batched matrix products: for a
    caption's ~20 positions they take half the time of the CPU's flash-attention kernel, or less."""
    if q.device.type != "cpu":
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    length, dim = q.shape[-2:]
    mask = torch.full((length, length), float("-inf"), dtype=q.dtype).triu_(1)
    scores = torch.baddbmm(mask, q.reshape(-1, length, dim), k.reshape(-1, length, dim).transpose(1, 2),
                           alpha=dim ** -0.5)
    return torch.bmm(scores.softmax(-1), v.reshape(-1, length, dim)).view(q.shape)


def encode_text_shared(model, tokens: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """model.encode_text(tokens, normalize) with each prefix that the captions share computed once. The tower is
    causal, so a position's state depends on the tokens up to it only: captions that begin alike (a SugarCrepe
    positive and its negative, the shapes world's captions) have the same states over their common prefix. The
    projections and MLPs, nearly all of the work, run once per distinct prefix; attention runs per caption, over
    each caption's prefixes gathered in place."""
    if not (trimmable(model) and model.transformer.batch_first
            and all(plain_block(b) for b in model.transformer.resblocks)):
        return encode_text(model, tokens, normalize)
    pool = pooled_positions(model, tokens)
    lengths = pool + 1
    tokens = tokens[:, :int(lengths.max())]
    rows, length = tokens.shape
    node, first = prefix_nodes(tokens, lengths)
    position = first % length
    cast = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens.flatten()[first]).to(cast) + model.positional_embedding[position].to(cast)
    for block in model.transformer.resblocks:
        attn = block.attn
        width = x.shape[1]
        qkv = F.linear(block.ln_1(x), attn.in_proj_weight, attn.in_proj_bias)[node]
        q, k, v = qkv.view(rows, length, 3, attn.num_heads, width // attn.num_heads).permute(2, 0, 3, 1, 4)
        y = _causal_attention(q, k, v).transpose(1, 2).reshape(rows * length, width)
        x = x + block.ls_1(attn.out_proj(y[first]))
        x = x + block.ls_2(block.mlp(block.ln_2(x)))
    x = model.ln_final(x[node[torch.arange(rows, device=node.device), pool]])
    x = model.text_projection(x) if isinstance(model.text_projection, torch.nn.Linear) else x @ model.text_projection
    return F.normalize(x, dim=-1) if normalize else x
