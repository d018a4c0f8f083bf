"""The train stage: one open_clip model per method, at equal compute (same steps, same anchor batch, same data order,
same initialization), with a training log and an in-distribution retrieval check."""

from __future__ import annotations

import csv
import logging
import math
import random
import time
from pathlib import Path

import numpy as np
import open_clip
import torch
from tqdm import tqdm

from . import data, io, losses, models

log = logging.getLogger(__name__)


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """No weight decay on gains, biases and the logit scale (open_clip's rule)."""
    def exclude(name, p):
        return p.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name

    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    return [
        {"params": [p for n, p in named if exclude(n, p)], "weight_decay": 0.0},
        {"params": [p for n, p in named if not exclude(n, p)], "weight_decay": weight_decay},
    ]


def cosine_with_warmup(warmup: int, total: int):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return factor


@torch.no_grad()
def retrieval_at_1(model, preprocess, tokenizer, images, captions, batch_size: int = 256) -> dict:
    """Image->text and text->image recall@1 over paired lists (pair i is the only match of i)."""
    model.eval()
    img = torch.cat([model.encode_image(torch.stack([preprocess(x) for x in images[i:i + batch_size]]),
                                        normalize=True) for i in range(0, len(images), batch_size)])
    txt = torch.cat([model.encode_text(tokenizer(captions[i:i + batch_size]), normalize=True)
                     for i in range(0, len(captions), batch_size)])
    sim = img @ txt.T
    target = torch.arange(len(images))
    model.train()
    return {"i2t_r1": (sim.argmax(1) == target).float().mean().item() * 100,
            "t2i_r1": (sim.argmax(0) == target).float().mean().item() * 100,
            "chance_r1": 100 / len(images)}


def train(
    shards: list[str], output_dir: str, method: str, model: str, steps: int, batch_size: int, lr: float,
    weight_decay: float, warmup_steps: int, grad_clip: float | None, seed: int, val_shard: str | None = None,
    workers: int = 0, log_every: int = 10, eval_every: int = 100, betas=(0.9, 0.999), eps: float = 1e-8,
    shuffle_buffer: int = 2000, threads: int | None = None,
) -> dict:
    """Train `model` with loss `method`; writes checkpoint.pt, log.csv and metrics.json in `output_dir`."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if threads:
        torch.set_num_threads(threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    net, _, preprocess_val, tokenizer = models.create(model)
    loss_fn = losses.make_loss(method)
    need_neg_image, need_neg_text = losses.USES_NEG_IMAGE[method], losses.USES_NEG_TEXT[method]
    optimizer = torch.optim.AdamW(param_groups(net, weight_decay), lr=lr, betas=tuple(betas), eps=eps, fused=True)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_with_warmup(warmup_steps, steps))
    val = data.read_pairs(val_shard) if val_shard else None
    stream = data.batches(shards, batch_size, tokenizer, seed, workers, shuffle_buffer=shuffle_buffer)
    transform = data.BatchTransform(open_clip.get_model_preprocess_cfg(net))

    rows, start = [], time.time()
    progress = tqdm(range(1, steps + 1), desc=f"train {method}", unit="step", mininterval=2)
    for step in progress:
        image, text, neg_image, neg_text = next(stream)
        image, neg_image = transform(image), transform(neg_image)
        # Anchors and their negatives go through each tower in one batch.
        n = image.shape[0]
        img = net.encode_image(torch.cat([image, neg_image]) if need_neg_image else image, normalize=True)
        txt = net.encode_text(torch.cat([text, neg_text]) if need_neg_text else text, normalize=True)
        terms = loss_fn(img[:n], txt[:n], img[n:] if need_neg_image else None, txt[n:] if need_neg_text else None,
                        net.logit_scale.exp())
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
        optimizer.step()
        scheduler.step()
        with torch.no_grad():
            net.logit_scale.clamp_(0, math.log(100))  # as open_clip: temperature no lower than 0.01
        if step % log_every == 0 or step == steps:
            row = {"step": step, "pairs_seen": step * batch_size, "lr": scheduler.get_last_lr()[0],
                   "logit_scale": net.logit_scale.exp().item(), "seconds": round(time.time() - start, 2),
                   **{k: round(v.item(), 5) for k, v in terms.items()}}
            if val and (step % eval_every == 0 or step == steps):
                row.update(retrieval_at_1(net, preprocess_val, tokenizer, *val))
            rows.append(row)
            progress.set_postfix(loss=f"{row['loss']:.3f}")
    seconds = time.time() - start

    with io.atomic_path(out / "checkpoint.pt") as tmp:
        torch.save({"model": net.state_dict(), "optimizer": optimizer.state_dict(), "step": steps,
                    "method": method, "model_name": model, "seed": seed}, tmp)
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with io.atomic_path(out / "log.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    metrics = {"method": method, "model": model, "steps": steps, "batch_size": batch_size,
               "pairs_seen": steps * batch_size, "seed": seed, "seconds": round(seconds, 1),
               "final_loss": rows[-1]["loss"]}
    if val:
        metrics["val"] = {k: rows[-1][k] for k in ("i2t_r1", "t2i_r1", "chance_r1")}
        metrics["val"]["pairs"] = len(val[0])
    io.write_json(out / "metrics.json", metrics)
    log.info("%s: %d steps in %.0f s, final loss %.3f %s", method, steps, seconds, rows[-1]["loss"],
             metrics.get("val", ""))
    return metrics
