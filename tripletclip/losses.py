"""Contrastive losses, one class per method.

Every loss takes L2-normalized features and the logit scale as the multiplier itself (already exponentiated, as
open_clip's ClipLoss takes it): forward(image, text, neg_image, neg_text, logit_scale) with image, text of shape
(B, D); neg_image (B, D) or None; neg_text (B, D), (B, K, D) or None. It returns a dict with "loss" and each named
term. Notation: I, T the anchors, I', T' their negatives, s the logit scale, CE cross-entropy with the matching
index as target.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _flat(neg: torch.Tensor) -> torch.Tensor:
    """(B, D) or (B, K, D) negatives as rows of a (B*K, D) matrix, ordered by sample then by negative."""
    return neg.reshape(-1, neg.shape[-1])


def _need(name: str, value):
    if value is None:
        raise ValueError(f"this loss needs {name}; the data has no negatives")
    return value


def _contrast(query: torch.Tensor, keys: torch.Tensor, logit_scale) -> torch.Tensor:
    """CE over s * query @ keys.T, where the positive of query i is keys[i]."""
    logits = logit_scale * query @ keys.T
    return F.cross_entropy(logits, torch.arange(query.shape[0], device=query.device))


class ClipLoss(nn.Module):
    """CLIP: L = (CE(s I T^T) + CE(s T I^T)) / 2."""

    def forward(self, image, text, neg_image=None, neg_text=None, logit_scale=1.0):
        i2t, t2i = _contrast(image, text, logit_scale), _contrast(text, image, logit_scale)
        return {"loss": (i2t + t2i) / 2, "i2t": i2t, "t2i": t2i}


class NegClipLoss(nn.Module):
    """NegCLIP: L = (CE(s I [T; T']^T) + CE(s T I^T)) / 2 — the negative captions only compete as texts."""

    def forward(self, image, text, neg_image=None, neg_text=None, logit_scale=1.0):
        texts = torch.cat([text, _flat(_need("neg_text", neg_text))])
        i2t, t2i = _contrast(image, texts, logit_scale), _contrast(text, image, logit_scale)
        return {"loss": (i2t + t2i) / 2, "i2t": i2t, "t2i": t2i}


class NegImageLoss(nn.Module):
    """NegImage: NegCLIP with the modalities' roles swapped, L = (CE(s T [I; I']^T) + CE(s I T^T)) / 2."""

    def forward(self, image, text, neg_image=None, neg_text=None, logit_scale=1.0):
        images = torch.cat([image, _need("neg_image", neg_image)])
        t2i, i2t = _contrast(text, images, logit_scale), _contrast(image, text, logit_scale)
        return {"loss": (i2t + t2i) / 2, "i2t": i2t, "t2i": t2i}


class TripletClipLoss(nn.Module):
    """TripletCLIP (Eq. 4): L = NegCLIP(I, T, T') + NegCLIP(I', T', T), summed as in the authors' code: each pair
    (real and synthetic) is contrasted against its own batch, with the other pair's caption as hard negative."""

    def __init__(self):
        super().__init__()
        self.negclip = NegClipLoss()

    def forward(self, image, text, neg_image=None, neg_text=None, logit_scale=1.0):
        neg_image, neg_text = _need("neg_image", neg_image), _need("neg_text", neg_text)
        if neg_text.dim() == 3:
            raise ValueError("tripletclip pairs each caption with one negative caption, got (B, K, D)")
        real = self.negclip(image, text, None, neg_text, logit_scale)["loss"]
        synthetic = self.negclip(neg_image, neg_text, None, text, logit_scale)["loss"]
        return {"loss": real + synthetic, "real": real, "synthetic": synthetic}


LOSSES = {"clip": ClipLoss, "negclip": NegClipLoss, "negimage": NegImageLoss, "tripletclip": TripletClipLoss}
# What each loss needs encoded besides the anchors: skipping unused towers keeps equal-compute runs honest.
USES_NEG_IMAGE = {"clip": False, "negclip": False, "negimage": True, "tripletclip": True}
USES_NEG_TEXT = {"clip": False, "negclip": True, "negimage": False, "tripletclip": True}


def make_loss(name: str, **options) -> nn.Module:
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; expected one of {sorted(LOSSES)}")
    return LOSSES[name](**options)
