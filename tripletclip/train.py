"""The train stage: one open_clip model per method and seed, at equal compute (same steps, same global batch of anchor
pairs, same data order, same initialization), on one process or many (torchrun / srun), resumable step for step.

`python -m tripletclip.train SPEC.json` runs one training outside Snakemake, and
`python -m torch.distributed.run --standalone --nproc_per_node N -m tripletclip.train SPEC.json` on N processes
(`--help` describes SPEC.json).
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import os
import random
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.distributed as dist
from tqdm import tqdm

from . import data, flops, io, logs, losses, models, schema, text_tower
from .evals import encode

log = logging.getLogger(__name__)
RESUME_NAME = "resume.pt"  # the running checkpoint; deleted once checkpoint.pt (the rule's output) is written


# The `train:` keys' defaults as schemas/config.schema.yaml states them: the one place a training default is set (the
# DAG fills them in when it validates the config; TrainConfig takes them for its Python callers).
DEFAULTS = schema.defaults("train")


@dataclasses.dataclass
class TrainConfig:
    """The `train:` block of config.yaml. Keys the config must give (model, steps, batch_size, lr, weight_decay,
    warmup_steps) default to TripletCLIP's (ViT-B/32 from scratch on CC3M); the others to the schema's
    (`DEFAULTS`)."""

    model: str = "ViT-B-32"
    # the model to fine-tune: a models.ModelSpec dict ({model, pretrained, quick_gelu}), a `local-dir:`/`hf-hub:`
    # name, or a checkpoint file of `model`; None: `model` from random weights, seeded
    init: str | dict | None = DEFAULTS["init"]
    lock_image: bool = DEFAULTS["lock_image"]  # freeze the image tower (open_clip's lock_image_tower, as in LiT)
    lock_text: bool = DEFAULTS["lock_text"]  # freeze the text tower
    steps: int = 90_000
    batch_size: int = 1024  # the global batch of anchor pairs; equal compute = steps x batch_size pairs per method
    lr: float = 5e-4
    lr_image: float | None = DEFAULTS["lr_image"]  # the image tower's learning rate; None: lr
    lr_text: float | None = DEFAULTS["lr_text"]  # the text tower's (token and positional embeddings, transformer, projection)
    weight_decay: float = 0.5
    betas: tuple[float, float] = tuple(DEFAULTS["betas"])
    eps: float = DEFAULTS["eps"]
    warmup_steps: int = 1000
    grad_clip: float | None = DEFAULTS["grad_clip"]
    precision: str = DEFAULTS["precision"]  # auto: bf16 autocast on GPU, fp32 on CPU | fp32 | bf16 | fp16 (with a grad scaler)
    compile: bool = DEFAULTS["compile"]
    num_negatives: int = DEFAULTS["num_negatives"]  # negative captions per caption (K); fewer in the data are masked out
    loss_options: dict = dataclasses.field(default_factory=dict)  # per method, e.g. {ceclip: {imc_weight: 0.3}}
    workers: int = DEFAULTS["workers"]
    threads: int | None = DEFAULTS["threads"]
    shuffle_buffer: int = DEFAULTS["shuffle_buffer"]
    cache_mb: float = DEFAULTS["cache_mb"]  # keep the first epoch's decoded samples for the next ones (data.Cache); CPU runs on small sets
    log_every: int = DEFAULTS["log_every"]
    eval_every: int = DEFAULTS["eval_every"]
    checkpoint_every: int = DEFAULTS["checkpoint_every"]
    budget: str = DEFAULTS["budget"]  # pairs | flops: how the DAG chose `steps` (tripletclip.flops)
    flops_text_length: int | None = DEFAULTS["flops_text_length"]  # caption tokens FLOPs are counted at

    @classmethod
    def from_config(cls, block: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in block.items() if k in names})


def tower(name: str) -> str:
    """The tower an open_clip CLIP parameter belongs to: "image" (visual.*), "text", or "shared" (the logit scale
    and bias, which belong to both)."""
    if name.startswith("visual."):
        return "image"
    return "shared" if name in ("logit_scale", "logit_bias") else "text"


def param_groups(model: torch.nn.Module, cfg: "TrainConfig") -> list[dict]:
    """AdamW groups: no weight decay on gains, biases and the logit scale (open_clip's rule); each tower at its own
    learning rate (cfg.lr_image, cfg.lr_text, else cfg.lr; the logit scale at cfg.lr). Frozen parameters (a locked
    tower) are left out. Empty groups are dropped."""
    def exclude(name, p):
        return p.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name

    rates = {"image": cfg.lr_image or cfg.lr, "text": cfg.lr_text or cfg.lr, "shared": cfg.lr}
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = []
    for part, lr in rates.items():
        for decay in (False, True):
            params = [p for n, p in named if tower(n) == part and exclude(n, p) != decay]
            if params:
                groups.append({"params": params, "weight_decay": cfg.weight_decay if decay else 0.0, "lr": lr})
    return groups


def cosine_with_warmup(warmup: int, total: int):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return factor


@torch.no_grad()
def retrieval_at_1(model, preprocess, tokenizer, images, captions, batch_size: int = 256, device="cpu") -> dict:
    """Image->text and text->image recall@1 over paired lists (pair i is the only match of i), encoded as the
    evaluations encode."""
    img = encode.images(model, preprocess, images, batch_size, device, load=lambda image: image, desc=None)
    txt = encode.texts(model, tokenizer, captions, batch_size, device, desc=None)
    model.train()
    sim = img @ txt.T
    target = torch.arange(len(images))
    return {"i2t_r1": (sim.argmax(1) == target).float().mean().item() * 100,
            "t2i_r1": (sim.argmax(0) == target).float().mean().item() * 100,
            "chance_r1": 100 / len(images)}


def setup_distributed() -> tuple[int, int, torch.device]:
    """(rank, world size, device) from torchrun's environment or SLURM's (srun, one task per GPU)."""
    env = os.environ
    if "WORLD_SIZE" not in env and "SLURM_NTASKS" in env and int(env["SLURM_NTASKS"]) > 1:
        env.setdefault("RANK", env["SLURM_PROCID"])
        env.setdefault("LOCAL_RANK", env["SLURM_LOCALID"])
        env.setdefault("WORLD_SIZE", env["SLURM_NTASKS"])
    world = int(env.get("WORLD_SIZE", 1))
    rank, local = int(env.get("RANK", 0)), int(env.get("LOCAL_RANK", 0))
    device = torch.device(f"cuda:{local}") if torch.cuda.is_available() else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return rank, world, device


def _rng_state() -> dict:
    state = {"python": random.getstate(), "torch": torch.get_rng_state(),
             "numpy": torch.from_numpy(np.random.get_state()[1].astype(np.int64)),
             "numpy_rest": list(np.random.get_state()[2:])}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    torch.set_rng_state(state["torch"])
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), *state["numpy_rest"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _autocast(precision: str, device: torch.device):
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    if precision == "fp32":
        return nullcontext(), precision
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype), precision


def build_model(cfg: TrainConfig, device):
    """(model in train mode, eval transform, tokenizer, model_cfg, description): `cfg.model` from random weights, or
    the pretrained model `cfg.init` (models.load: any open_clip name, tag, hub or local model, or checkpoint file),
    with the towers `cfg.lock_image` / `cfg.lock_text` frozen. model_cfg builds this exact network (QuickGELU
    included), so that the export rebuilds it."""
    if cfg.init:
        loaded = models.load(cfg.init, device=device, default_model=cfg.model)
        net, preprocess_val, tokenizer, model_cfg = loaded.model, loaded.preprocess_val, loaded.tokenizer, loaded.model_cfg
        description = f"fine-tuned from {loaded.spec.describe()}"
    else:
        net, _, preprocess_val, tokenizer = models.create(cfg.model, device=device)
        model_cfg, description = models.model_config(cfg.model), cfg.model
    if cfg.lock_image and cfg.lock_text:
        raise ValueError("train.lock_image and train.lock_text are both set: nothing would train but the logit scale")
    if cfg.lock_image:
        net.lock_image_tower(unlocked_groups=0, freeze_bn_stats=True)
    if cfg.lock_text:
        net.lock_text_tower(unlocked_layers=0)
    return net.train(), preprocess_val, tokenizer, model_cfg, description


def write_log(rows: list[dict], path: Path) -> None:
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with io.atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


class Step:
    """One optimizer step of `method` on one batch: forward under autocast, the loss, backward, gradient clipping,
    AdamW and the schedule. `net` is the bare open_clip model, `model` what runs it (text_tower.Features of it,
    possibly in DDP or compiled): called as model(image, text), it returns image and text features and the scale.
    Shared by the trainer and benchmarks/train_gpu.py, so that what is timed is what trains."""

    def __init__(self, net, model, loss_fn, method: str, cfg: TrainConfig, device: torch.device, world: int = 1):
        self.net, self.model, self.loss_fn, self.device, self.world = net, model, loss_fn, device, world
        self.grad_clip = cfg.grad_clip
        self.need_neg_image, self.need_neg_text = losses.USES_NEG_IMAGE[method], losses.USES_NEG_TEXT[method]
        self.optimizer = torch.optim.AdamW(param_groups(net, cfg), betas=tuple(cfg.betas),
                                           eps=cfg.eps, fused=True)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer,
                                                           cosine_with_warmup(cfg.warmup_steps, cfg.steps))
        self.autocast, self.precision = _autocast(cfg.precision, device)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.precision == "fp16")

    def __call__(self, image, text, neg_image, neg_text, neg_mask) -> dict[str, torch.Tensor]:
        """The loss terms of this step (see tripletclip.data.TripletBatches for the batch)."""
        n, k = text.shape[0], neg_text.shape[1]
        image = torch.cat([image, neg_image]) if self.need_neg_image else image
        text = torch.cat([text, neg_text.reshape(n * k, -1)]) if self.need_neg_text else text
        with self.autocast:
            img, txt, logit_scale = self.model(image.to(self.device, non_blocking=True),
                                               text.to(self.device, non_blocking=True))[:3]
        img, txt = img.float(), txt.float()
        terms = self.loss_fn(img[:n], txt[:n], img[n:] if self.need_neg_image else None,
                             txt[n:].reshape(n, k, -1) if self.need_neg_text else None, logit_scale.float(),
                             neg_mask=neg_mask.to(self.device) if self.need_neg_text else None)
        self.optimizer.zero_grad(set_to_none=True)
        # Each rank back-propagates the global loss through its own samples only (losses.gather_features) and DDP
        # averages: scaling by the world size makes the step the one-process step on the global batch.
        self.scaler.scale(terms["loss"] * self.world).backward()
        if self.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        with torch.no_grad():
            self.net.logit_scale.clamp_(0, math.log(100))  # as open_clip: temperature no lower than 0.01
        return terms


def train(shards: list[str], output_dir: str, method: str, cfg: TrainConfig, seed: int,
          val_shard: str | None = None, stop_after: int | None = None, arm: str | None = None,
          view: data.View = data.View()) -> dict | None:
    """Train with loss `method` as arm `arm` (the model's name in metrics.json and the report; default: the
    method's), reading the shards as `view` says (the arm's captions and negative set, data.View); writes
    checkpoint.pt, log.csv, metrics.json and tensorboard/ in `output_dir`.

    Resumes from output_dir/resume.pt when it exists (written every cfg.checkpoint_every steps). `stop_after` stops
    after that many steps as if killed (tests). Returns the metrics on rank 0 (None elsewhere or when stopped)."""
    out = Path(output_dir)
    rank, world, device = setup_distributed()
    if cfg.batch_size % world:
        raise ValueError(f"batch_size {cfg.batch_size} does not split over {world} processes")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    net, preprocess_val, tokenizer, model_cfg, model_name = build_model(cfg, device)
    options = dict(cfg.loss_options.get(method, {}))
    if method == "ceclip":
        options.setdefault("num_negatives", cfg.num_negatives)
    loss_fn = losses.make_loss(method, **options).to(device)

    step, position, rows, seconds, seen = 0, (0, 0), [], 0.0, {}
    resume = out / RESUME_NAME
    state = torch.load(resume, map_location="cpu", weights_only=True) if resume.exists() else None
    if state:
        net.load_state_dict(state["model"])
        loss_fn.load_state_dict(state["loss"])
        _set_rng_state(state["rng"])
        step, position, rows, seconds = state["step"], tuple(state["position"]), state["log"], state["seconds"]
        seen = state.get("seen", {})
        log.info("resuming %s from step %d (epoch %d, batch %d)", method, step, *position)

    model = text_tower.Features(net)  # open_clip's forward, its text tower cut to each batch's longest caption
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                                          else None)
    if cfg.compile:
        model = torch.compile(model)
    train_step = Step(net, model, loss_fn, method, cfg, device, world)
    optimizer, scheduler, scaler = train_step.optimizer, train_step.scheduler, train_step.scaler
    if state:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
    preprocess_cfg = open_clip.get_model_preprocess_cfg(net)
    stream = data.batches(shards, cfg.batch_size // world, tokenizer, data.BatchTransform(preprocess_cfg), seed,
                          start=position, workers=cfg.workers, rank=rank, world_size=world,
                          num_negatives=cfg.num_negatives, neg_images=losses.USES_NEG_IMAGE[method],
                          shuffle_buffer=cfg.shuffle_buffer, cache_mb=cfg.cache_mb, seen=seen, view=view)
    val = data.read_pairs(val_shard) if val_shard and rank == 0 else None
    writer = None
    if rank == 0:
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(out / "tensorboard", purge_step=step + 1 if step else None)

    def save(path: Path, final: bool) -> None:
        state = {"model": net.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "method": method,
                 "model_name": model_name, "model_cfg": model_cfg, "seed": seed,
                 "preprocess_cfg": preprocess_cfg, "loss": loss_fn.state_dict()}
        if not final:
            state.update(scheduler=scheduler.state_dict(), scaler=scaler.state_dict(), rng=_rng_state(),
                         position=list(position), log=rows, seconds=seconds, seen=seen)
        with io.atomic_path(path) as tmp:
            torch.save(state, tmp)

    progress = tqdm(total=cfg.steps, initial=step, desc=f"train {arm or method}", unit="step", mininterval=2,
                    disable=rank != 0)
    window_start, window_step = time.time(), step
    while step < cfg.steps:
        tick = time.time()
        position, batch = next(stream)
        terms = train_step(*batch)
        step += 1
        seconds += time.time() - tick
        progress.update(1)
        if rank == 0 and (step % cfg.log_every == 0 or step == cfg.steps):
            now = time.time()
            row = {"step": step, "pairs_seen": step * cfg.batch_size, "epoch": position[0],
                   # train.lr's schedule: the last group is the logit scale's, which no tower lr or lock moves
                   "lr": scheduler.get_last_lr()[-1], "logit_scale": net.logit_scale.exp().item(),
                   "samples_per_s": round((step - window_step) * cfg.batch_size / (now - window_start), 1),
                   "seconds": round(seconds, 2), **{k: round(v.item(), 5) for k, v in terms.items()}}
            window_start, window_step = now, step
            if val and (step % cfg.eval_every == 0 or step == cfg.steps):
                row.update(retrieval_at_1(net, preprocess_val, tokenizer, *val, device=device))
            rows.append(row)
            for key, value in row.items():
                if key not in ("step", "pairs_seen", "epoch", "seconds"):
                    writer.add_scalar(f"train/{key}", value, step)
            progress.set_postfix(loss=f"{row['loss']:.3f}")
        if step < cfg.steps and step % cfg.checkpoint_every == 0 and rank == 0:
            save(resume, final=False)
        if stop_after is not None and step >= stop_after:
            progress.close()
            if writer:
                writer.close()
            return None
    progress.close()
    if world > 1:
        dist.barrier()
    if rank != 0:
        return None
    writer.close()
    save(out / "checkpoint.pt", final=True)
    write_log(rows, out / "log.csv")
    metrics = {"method": arm or method, **({"loss": method} if arm and arm != method else {}), "model": model_name, "steps": cfg.steps, "batch_size": cfg.batch_size,
               "pairs_seen": cfg.steps * cfg.batch_size, "seed": seed, "world_size": world,
               "precision": train_step.precision, "seconds": round(seconds, 1), "final_loss": rows[-1]["loss"],
               **compute(model_cfg, method, cfg, options), **pairs_seen(seen, view)}
    if val:
        metrics["val"] = {k: rows[-1][k] for k in ("i2t_r1", "t2i_r1", "chance_r1")}
        metrics["val"]["pairs"] = len(val[0])
    io.write_json(out / "metrics.json", metrics)
    resume.unlink(missing_ok=True)
    log.info("%s seed %d: %d steps in %.0f s, final loss %.3f %s", arm or method, seed, cfg.steps, seconds,
             rows[-1]["loss"], metrics.get("val", ""))
    return metrics


def compute(model_cfg: dict, method: str, cfg: TrainConfig, loss_options: dict) -> dict:
    """What a run spent, for the report's budget: per step the images encoded (real, and synthetic: the negative
    images), the captions encoded, and the training FLOPs (tripletclip.flops, at cfg.flops_text_length tokens a
    caption), and the run's total; the budget it was given."""
    images, captions = flops.batch_shapes(method, cfg.batch_size, cfg.num_negatives)
    per_step = flops.step_flops(model_cfg, method, cfg.batch_size, cfg.num_negatives, cfg.flops_text_length,
                                loss_options)
    return {"budget": cfg.budget, "real_images_per_step": cfg.batch_size,
            "synthetic_images_per_step": images - cfg.batch_size, "captions_per_step": captions,
            "flops_text_length": cfg.flops_text_length or model_cfg["text_cfg"]["context_length"],
            "flops_per_step": per_step, "flops_total": per_step * cfg.steps}


def pairs_seen(seen: dict, view: data.View) -> dict:
    """The anchor pairs a run saw, real and synthetic (a negative pair read as a positive, data.View.extra_pairs),
    and the unique real images among them: all real pairs seen while the first epoch lasts; after it, the real pairs
    of an epoch (an upper bound: each epoch drops its last incomplete batch, a different one each epoch); with what
    the arm read (its caption variants, its negatives' own files)."""
    unique = min(seen["real"], seen.get("real_per_epoch", seen["real"]))
    return {"real_pairs_seen": seen["real"], "synthetic_pairs_seen": seen["synthetic"], "unique_real_images": unique,
            "negatives": view.negative_set or "main", "captions": "rewrites" if view.rewrites else "original",
            "extra_pairs": view.extra_pairs}


SPEC_HELP = """SPEC.json holds one object:
  "shards"      the packed triplet shards to train on (a list of .tar paths: jpg, txt, neg.jpg, neg.txt, or
                TripletData's image, caption, neg_image, neg_caption)
  "output_dir"  where checkpoint.pt, log.csv, metrics.json and tensorboard/ go (and resume.pt while it runs)
  "method"      the loss, one of {methods}
  "arm"         the trained model's name (its report row), or null: the method's
  "seed"        the run's seed (initial weights and data order)
  "val_shard"   a shard of (jpg, txt) pairs for the in-distribution retrieval check, or null
  "view"        what the arm reads beside the shards (tripletclip.data.View: rewrites, negatives, neg_images,
                extra_pairs), or null: the shards alone
  "train"       the train: block of config.yaml ({fields}); other keys are ignored
The DAG's train rule writes it as results/train/METHOD/seedSEED/launch.json when a run has several processes.
A rerun resumes from output_dir/resume.pt."""


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m tripletclip.train SPEC.json`, alone or under torchrun/srun (rank from their env)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m tripletclip.train", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="One training run, on this process or as one rank of torchrun/srun.",
        epilog=SPEC_HELP.format(methods=", ".join(losses.LOSSES),
                                fields=", ".join(f.name for f in dataclasses.fields(TrainConfig))))
    parser.add_argument("spec", metavar="SPEC.json", help="the run's spec (below)")
    spec = io.read_json(parser.parse_args(argv).spec)
    logs.setup()
    train(spec["shards"], spec["output_dir"], spec["method"], TrainConfig.from_config(spec["train"]), spec["seed"],
          arm=spec.get("arm"), val_shard=spec.get("val_shard"), view=data.View.from_dict(spec.get("view")))
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
