"""The compute of one training step, counted: what equal compute means when the methods' steps differ in size.

TripletCLIP's "equal compute" is equal anchor pairs seen; a TripletCLIP step also encodes the negative images and
captions, a NegCLIP step the negative captions, so at equal pairs the methods spend different compute (the
authors' tracker, issue #4). `step_flops` counts one optimizer step's floating-point operations, forward and
backward, on the model's own shapes: the model is built on the meta device (no memory, no arithmetic) and run under
torch.utils.flop_counter.FlopCounterMode, which counts the matrix products (linear layers, convolutions, attention,
the loss's similarity matrices) at 2 FLOPs a multiply-add, and their gradients. Element-wise work (normalisation,
activations, softmax) is not counted, as in the usual accounting of transformer training (Kaplan et al. 2020,
Hoffmann et al. 2022: about 6 FLOPs a parameter a token).

Captions are counted at `text_length` tokens each (the model's context length unless given): the trainer cuts each
batch to its longest caption (text_tower), so a run's real text FLOPs are at most this.
"""

from __future__ import annotations

import math


def batch_shapes(method: str, batch_size: int, num_negatives: int = 1) -> tuple[int, int]:
    """(images, captions) one step of `method` encodes at global batch `batch_size` (anchor pairs) with
    `num_negatives` negative captions per caption: train.Step's concatenation."""
    from . import losses
    images = batch_size * (2 if losses.USES_NEG_IMAGE[method] else 1)
    captions = batch_size * (1 + num_negatives if losses.USES_NEG_TEXT[method] else 1)
    return images, captions


def step_flops(model_cfg: dict, method: str, batch_size: int, num_negatives: int = 1,
               text_length: int | None = None, loss_options: dict | None = None) -> int:
    """FLOPs of one training step of `method` (forward, loss and backward; the optimizer's element-wise update is
    not counted) for the open_clip CLIP that `model_cfg` builds, at global batch `batch_size`, captions of
    `text_length` tokens (default: the context length). The image tower's input needs no gradient, so its first
    layer's backward is its weight gradient only."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from . import losses
    from .models import _build

    length = text_length or model_cfg["text_cfg"]["context_length"]
    # a context of exactly `length`: open_clip's encode_text runs the whole context, as the trainer's cut does
    net = _build({**model_cfg, "text_cfg": {**model_cfg["text_cfg"], "context_length": length}}, "meta")
    size = model_cfg["vision_cfg"]["image_size"]
    n_images, n_captions = batch_shapes(method, batch_size, num_negatives)
    images = torch.empty(n_images, 3, size, size, device="meta")
    # the end-of-text token last, as a caption of exactly `length` tokens pools there
    captions = torch.ones(n_captions, length, dtype=torch.long, device="meta")
    options = dict(loss_options or {})
    if method == "ceclip":  # as train.train builds it
        options.setdefault("num_negatives", num_negatives)
    loss_fn = losses.make_loss(method, **options).to("meta")
    n = batch_size
    with FlopCounterMode(display=False) as counter:
        image = net.encode_image(images, normalize=True)
        text = net.encode_text(captions, normalize=True)
        neg_image = image[n:] if losses.USES_NEG_IMAGE[method] else None
        neg_text = text[n:].reshape(n, num_negatives, -1) if losses.USES_NEG_TEXT[method] else None
        # no mask: every negative present (a mask selects, it multiplies nothing)
        terms = loss_fn(image[:n], text[:n], neg_image, neg_text, net.logit_scale.exp())
        terms["loss"].backward()
    return int(counter.get_total_flops())


def equal_flops_steps(per_step: dict[str, int], steps: int) -> dict[str, int]:
    """{method: steps} at which every method's total training FLOPs equals the costliest's at `steps` steps: the
    nearest whole number of steps, so that a total differs from the costliest's by less than one step of its own."""
    most = max(per_step.values()) * steps
    return {method: max(1, round(most / flops)) for method, flops in per_step.items()}


def planned_steps(train: dict, arms: dict[str, dict], model_cfg: dict) -> dict[str, int]:
    """{arm: steps} of the config's `train:` block for arms {name: {"loss", "num_negatives"}} (tripletclip.plan.arms;
    num_negatives: train.num_negatives when absent): `steps` each under `budget: pairs`; under `budget: flops`,
    `equal_flops_steps` of each arm's `step_flops` (model_cfg: the architecture trained, that of train.init when
    fine-tuning)."""
    if train["budget"] == "pairs":
        return {arm: train["steps"] for arm in arms}
    options = train.get("loss_options") or {}
    per_step = {name: step_flops(model_cfg, arm["loss"], train["batch_size"],
                                 arm.get("num_negatives") or train["num_negatives"], train["flops_text_length"],
                                 options.get(arm["loss"])) for name, arm in arms.items()}
    return equal_flops_steps(per_step, train["steps"])


def describe(flops: float) -> str:
    """FLOPs in engineering units, e.g. 3.2e15 -> "3.20 PFLOP"."""
    if flops <= 0:
        return "0 FLOP"
    units = ["", "k", "M", "G", "T", "P", "E", "Z"]
    power = min(int(math.log10(flops) // 3), len(units) - 1)
    return f"{flops / 1000 ** power:.2f} {units[power]}FLOP"
