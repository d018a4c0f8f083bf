"""Contrastive losses, one class per method.

Every loss takes L2-normalized features and the logit scale as the multiplier itself (already exponentiated, as
open_clip's ClipLoss takes it): forward(image, text, neg_image, neg_text, logit_scale, neg_mask) with image, text of
shape (B, D); neg_image (B, D) or None; neg_text (B, D), (B, K, D) or None; neg_mask (B, K) booleans, False where a
caption has fewer than K negatives (None: all valid). It returns a dict with "loss" and each named term.
Notation: I, T the anchors, I', T' their negatives, s the logit scale, CE cross-entropy with the matching index as
target.

Under torch.distributed every forward first gathers the features of all ranks (`gather_features`), so the loss is
the global batch's; see there for the gradient.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


def gather_features(*tensors):
    """Each tensor concatenated over all ranks in rank order, as open_clip's ClipLoss gathers (local_loss=False,
    gather_with_grad=False): the other ranks' rows are constants and this rank's rows keep their gradient. Every rank
    then computes the same global loss but back-propagates only through its own samples, so the sum of the ranks'
    gradients, not their mean, is the one-process gradient of the global batch: the trainer scales accordingly."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensors
    rank, world = dist.get_rank(), dist.get_world_size()
    out = []
    for x in tensors:
        if x is None:
            out.append(None)
            continue
        parts = [torch.empty_like(x) for _ in range(world)]
        dist.all_gather(parts, x.detach().contiguous())
        parts[rank] = x
        out.append(torch.cat(parts))
    return tuple(out)


def _flat(neg: torch.Tensor) -> torch.Tensor:
    """(B, D) or (B, K, D) negatives as rows of a (B*K, D) matrix, ordered by sample then by negative."""
    return neg.reshape(-1, neg.shape[-1])


def _need(name: str, value):
    if value is None:
        raise ValueError(f"this loss needs {name}; the data has no negatives")
    return value


def _contrast(query: torch.Tensor, keys: torch.Tensor, logit_scale, key_mask=None) -> torch.Tensor:
    """CE over s * query @ keys.T, where the positive of query i is keys[i]; keys whose mask is False are left out."""
    logits = logit_scale * query @ keys.T
    if key_mask is not None:
        logits = logits.masked_fill(~key_mask, float("-inf"))
    return F.cross_entropy(logits, torch.arange(query.shape[0], device=query.device))


def _text_mask(batch: int, neg_mask) -> torch.Tensor | None:
    """The key mask of [T; T'] for _contrast: anchors always valid, negatives as neg_mask says."""
    if neg_mask is None:
        return None
    return torch.cat([torch.ones(batch, dtype=torch.bool, device=neg_mask.device), neg_mask.reshape(-1)])


class ClipLoss(nn.Module):
    """CLIP: L = (CE(s I T^T) + CE(s T I^T)) / 2."""

    def forward(self, image, text, neg_image=None, neg_text=None, logit_scale=1.0, neg_mask=None):
        image, text = gather_features(image, text)
        i2t, t2i = _contrast(image, text, logit_scale), _contrast(text, image, logit_scale)
        return {"loss": (i2t + t2i) / 2, "i2t": i2t, "t2i": t2i}


def _negclip(image, text, neg_text, logit_scale, neg_mask=None) -> dict:
    i2t = _contrast(image, torch.cat([text, _flat(neg_text)]), logit_scale, _text_mask(len(text), neg_mask))
    t2i = _contrast(text, image, logit_scale)
    return {"loss": (i2t + t2i) / 2, "i2t": i2t, "t2i": t2i}


class NegClipLoss(nn.Module):
    """NegCLIP: L = (CE(s I [T; T']^T) + CE(s T I^T)) / 2 — the negative captions only compete as texts, each against
    every image of the batch (B x (1+K)B logits). Fed rule negatives it is NegCLIP, fed LLM negatives NegCLIP++."""

    def forward(self, image, text, neg_image=None, neg_text=None, logit_scale=1.0, neg_mask=None):
        image, text, neg_text, neg_mask = gather_features(image, text, _need("neg_text", neg_text), neg_mask)
        return _negclip(image, text, neg_text, logit_scale, neg_mask)


class NegImageLoss(nn.Module):
    """NegImage: NegCLIP with the modalities' roles swapped, L = (CE(s T [I; I']^T) + CE(s I T^T)) / 2."""

    def forward(self, image, text, neg_image=None, neg_text=None, logit_scale=1.0, neg_mask=None):
        image, text, neg_image = gather_features(image, text, _need("neg_image", neg_image))
        t2i = _contrast(text, torch.cat([image, neg_image]), logit_scale)
        i2t = _contrast(image, text, logit_scale)
        return {"loss": (i2t + t2i) / 2, "i2t": i2t, "t2i": t2i}


class TripletClipLoss(nn.Module):
    """TripletCLIP (Eq. 4): L = NegCLIP(I, T, T') + NegCLIP(I', T', T), summed as in the authors' code: each pair
    (real and synthetic) is contrasted against its own batch, with the other pair's caption as hard negative."""

    def forward(self, image, text, neg_image=None, neg_text=None, logit_scale=1.0, neg_mask=None):
        neg_image, neg_text = _need("neg_image", neg_image), _need("neg_text", neg_text)
        if neg_text.dim() == 3:
            if neg_text.shape[1] != 1:
                raise ValueError(f"tripletclip pairs each caption with one negative caption, got K={neg_text.shape[1]}")
            neg_text = neg_text[:, 0]
        if neg_mask is not None and not bool(neg_mask.all()):
            raise ValueError("tripletclip needs a negative caption for every sample")
        image, text, neg_image, neg_text = gather_features(image, text, neg_image, neg_text)
        real = _negclip(image, text, neg_text, logit_scale)["loss"]
        synthetic = _negclip(neg_image, neg_text, text, logit_scale)["loss"]
        return {"loss": real + synthetic, "real": real, "synthetic": synthetic}


class CeClipLoss(nn.Module):
    """CE-CLIP (Zhang et al., CVPR 2024): L = ITC + imc_weight * IMC + cmr_weight * CMR, where
    - ITC is NegCLIP's loss: (CE(s I [T; T']^T) + CE(s T I^T)) / 2;
    - IMC (intra-modal contrast): for each caption i, CE over [s<I_i,T_i>, s<T_i,T'_j> for every valid negative j of
      the batch] with target 0 — the caption must be closer to its image than to any negative caption;
    - CMR (cross-modal rank): the mean over i and its valid negatives k of ReLU(tau_k + s<I_i,T'_ik> - s<I_i,T_i>).
    The margin tau (one per negative slot k) is adaptive: after each training forward,
    tau_k = mean_i s<I_i,T_i> - mean_i s<I_i,T'_ik>, detached and clamped to [0, tau_max], for the next step; it
    starts at 0 and is a buffer, so it is saved and restored with the loss's state_dict. `threshold` may instead be a
    number: a fixed tau."""

    def __init__(self, num_negatives: int = 1, imc_weight: float = 0.3, cmr_weight: float = 0.2,
                 threshold: str | float = "mean", tau_max: float = 10.0):
        super().__init__()
        if threshold != "mean" and not isinstance(threshold, (int, float)):
            raise ValueError(f"ceclip threshold must be 'mean' or a number, got {threshold!r}")
        self.imc_weight, self.cmr_weight, self.threshold, self.tau_max = imc_weight, cmr_weight, threshold, tau_max
        start = 0.0 if threshold == "mean" else float(threshold)
        self.register_buffer("tau", torch.full((num_negatives,), start))

    def forward(self, image, text, neg_image=None, neg_text=None, logit_scale=1.0, neg_mask=None):
        image, text, neg_text, neg_mask = gather_features(image, text, _need("neg_text", neg_text), neg_mask)
        itc = _negclip(image, text, neg_text, logit_scale, neg_mask)
        if neg_text.dim() == 2:
            neg_text = neg_text[:, None]
        batch, k = neg_text.shape[:2]
        if k != len(self.tau):
            raise ValueError(f"ceclip was built for {len(self.tau)} negatives per caption, got {k}")
        valid = torch.ones(batch, k, dtype=torch.bool, device=text.device) if neg_mask is None else neg_mask.reshape(
            batch, k)
        positive = logit_scale * (image * text).sum(-1)  # (B,) s<I_i,T_i>
        # IMC: positive logit first, then the caption against every valid negative caption of the batch.
        intra = (logit_scale * text @ _flat(neg_text).T).masked_fill(~valid.reshape(1, -1), float("-inf"))
        imc = F.cross_entropy(torch.cat([positive[:, None], intra], 1),
                              torch.zeros(batch, dtype=torch.long, device=text.device))
        # CMR: each image ranks its caption above each of its own negatives by tau_k.
        negative = logit_scale * torch.einsum("bd,bkd->bk", image, neg_text)  # (B, K) s<I_i,T'_ik>
        hinge = F.relu(self.tau + negative - positive[:, None])
        cmr = (hinge * valid).sum() / valid.sum().clamp(min=1)
        if self.training and self.threshold == "mean":
            with torch.no_grad():
                count = valid.sum(0)
                neg_mean = (negative * valid).sum(0) / count.clamp(min=1)
                new_tau = (positive.mean() - neg_mean).clamp(0, self.tau_max)
                self.tau.copy_(torch.where(count > 0, new_tau, self.tau))
        loss = itc["loss"] + self.imc_weight * imc + self.cmr_weight * cmr
        return {"loss": loss, "itc": itc["loss"], "imc": imc, "cmr": cmr}


LOSSES = {"clip": ClipLoss, "negclip": NegClipLoss, "negimage": NegImageLoss, "tripletclip": TripletClipLoss,
          "ceclip": CeClipLoss}
# What each loss needs encoded besides the anchors: skipping unused towers keeps equal-compute runs honest.
USES_NEG_IMAGE = {"clip": False, "negclip": False, "negimage": True, "tripletclip": True, "ceclip": False}
USES_NEG_TEXT = {"clip": False, "negclip": True, "negimage": False, "tripletclip": True, "ceclip": True}


def make_loss(name: str, **options) -> nn.Module:
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; expected one of {sorted(LOSSES)}")
    return LOSSES[name](**options)
