"""TripletCLIP training throughput on a GPU: ViT-B/32 triplets/s at batch 256 and 512, bf16 autocast, with and
without torch.compile, and the model FLOPs utilization (MFU).

    python benchmarks/train_gpu.py [--model ViT-B-32] [--batches 256 512] [--steps 20] [--peak-tflops N]

What is timed is the trainer's own step (`tripletclip.train.Step`: forward, TripletCLIP loss, backward, clipping,
fused AdamW) on batches already on the device: random images at the model's size and real captions tokenized to the
model's context. The loader is timed next to it on this machine's cores (JPEG triplets at the model's size, `--workers`
processes), to show whether it keeps up. FLOPs per step (forward and backward) are counted once by torch's
FlopCounterMode on the eager model; MFU = FLOPs per step x steps/s / the GPU's peak dense bf16 FLOP/s.

`--device cpu --model ViT-Tiny-P16-64 --batches 8 --steps 2 --no-compile` checks the script without a GPU.
Prints Markdown for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tripletclip import data, io, losses, models, text_tower, train  # noqa: E402

METHOD = "tripletclip"
CAPTIONS = REPO / "tests/data/real_captions.txt"
# Peak dense bf16 tensor-core TFLOP/s by device name (vendor data sheets), most specific first; anything else needs
# --peak-tflops.
PEAK_TFLOPS = {"H100 PCIe": 756, "H100 NVL": 835, "H100": 989, "H200": 989, "A100": 312, "L40S": 362}


def peak_flops(device: torch.device, override: float | None) -> float | None:
    if override:
        return override * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((tflops * 1e12 for key, tflops in PEAK_TFLOPS.items() if key in name), None)


def make_step(model_name: str, device: torch.device, compile_: bool, precision: str, method: str = METHOD,
              backend: str = "inductor"):
    """(the trainer's step of loss `method` on a fresh model, the model's image size, its tokenizer); `compile_`:
    the forward through torch.compile with `backend` ("eager" checks the tracing alone, in seconds on a CPU)."""
    import open_clip

    net, _, _, tokenizer = models.create(model_name, device=device)
    cfg = train.TrainConfig(model=model_name, precision=precision, steps=10**6, warmup_steps=10)
    forward = text_tower.Features(net)
    step = train.Step(net, torch.compile(forward, backend=backend) if compile_ else forward,
                      losses.make_loss(method).to(device), method, cfg, device)
    size = open_clip.get_model_preprocess_cfg(net)["size"]
    return step, size if isinstance(size, int) else size[0], tokenizer


def synthetic_batch(batch: int, size: int, tokenizer, device: torch.device) -> tuple[torch.Tensor, ...]:
    """A TripletBatches-shaped batch on the device: random images, real captions, another caption as negative."""
    captions = CAPTIONS.read_text(encoding="utf-8").splitlines()
    texts = [captions[i % len(captions)] for i in range(batch)]
    negatives = [captions[(i + 1) % len(captions)] for i in range(batch)]
    g = torch.Generator().manual_seed(0)
    return (torch.randn(batch, 3, size, size, generator=g).to(device), tokenizer(texts).to(device),
            torch.randn(batch, 3, size, size, generator=g).to(device),
            tokenizer(negatives).view(batch, 1, -1).to(device), torch.ones(batch, 1, dtype=torch.bool, device=device))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step: train.Step, batch: tuple, steps: int, warmup: int) -> float:
    """Seconds per step, after `warmup` steps (compilation, the allocator, kernel autotuning)."""
    for _ in range(warmup):
        step(*batch)
    sync(step.device)
    start = time.perf_counter()
    for _ in range(steps):
        step(*batch)
    sync(step.device)
    return (time.perf_counter() - start) / steps


def flops_per_step(step: train.Step, batch: tuple) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step(*batch)
    return counter.get_total_flops()


def photo(width: int, height: int, g: torch.Generator) -> bytes:
    """A JPEG of a photo's size and about its bytes: smooth colour fields (low-resolution noise, upsampled) with a
    little grain, which compress as photographs do, where pure noise would be several times larger."""
    from PIL import Image

    low = torch.rand(3, max(height // 32, 2), max(width // 32, 2), generator=g)
    smooth = torch.nn.functional.interpolate(low[None], size=(height, width), mode="bicubic", align_corners=False)[0]
    pixels = (smooth * 255 + torch.randn(3, height, width, generator=g) * 6).clamp(0, 255).to(torch.uint8)
    return io.encode_jpeg(Image.fromarray(pixels.permute(1, 2, 0).numpy()))


def loader_rate(tokenizer, batch: int, size: int, workers: int, count: int,
                image: tuple[int, int] | None = None, negative: tuple[int, int] | None = None) -> float:
    """Triplets/s from the trainer's loader (both images decoded and resized to `size` px) with `workers`
    processes, from JPEGs of `image` (width, height) and `negative` px (default: the model's size)."""
    captions = CAPTIONS.read_text(encoding="utf-8").splitlines()
    with tempfile.TemporaryDirectory() as tmp:
        shard = Path(tmp) / "triplets.tar"
        g = torch.Generator().manual_seed(0)
        # a few dozen distinct photos, each decoded afresh wherever it recurs
        images = [photo(*(image or (size, size)), g) for _ in range(min(batch, 32))]
        negatives = [photo(*(negative or (size, size)), g) for _ in range(min(batch, 32))]
        with io.shard_writer(shard) as sink:
            for i in range(batch * 2):
                sink.write({"__key__": f"{i:06d}", "jpg": images[i % len(images)],
                            "txt": captions[i % len(captions)].encode(), "neg.jpg": negatives[i % len(negatives)],
                            "neg.txt": captions[(i + 1) % len(captions)].encode()})
        transform = data.BatchTransform({"size": size, "mean": (0.5,) * 3, "std": (0.5,) * 3})
        stream = data.batches([str(shard)] * 64, batch, tokenizer, transform, seed=0, workers=workers,
                              shuffle_buffer=batch)
        for _ in range(max(workers, 1)):  # every worker started and past its first batch
            next(stream)
        start = time.perf_counter()
        for _ in range(count):
            next(stream)
        return count * batch / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="ViT-B-32")
    p.add_argument("--batches", type=int, nargs="+", default=[256, 512])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--device", default="cuda")
    p.add_argument("--precision", default="bf16")
    p.add_argument("--no-compile", action="store_true", help="time the eager model only")
    p.add_argument("--workers", type=int, default=os.cpu_count(), help="loader processes; 0: skip the loader")
    p.add_argument("--peak-tflops", type=float, help="the device's peak dense bf16 TFLOP/s, for the MFU")
    args = p.parse_args()
    device = torch.device(args.device)
    peak = peak_flops(device, args.peak_tflops)
    rows, eager_flops = [], {}
    for compile_ in [False] if args.no_compile else [False, True]:
        step, size, tokenizer = make_step(args.model, device, compile_, args.precision)
        for batch in args.batches:
            tensors = synthetic_batch(batch, size, tokenizer, device)
            if not compile_:  # counted on the eager model: the compiled one does the same arithmetic
                eager_flops[batch] = flops_per_step(step, tensors)
            seconds = time_steps(step, tensors, args.steps, args.warmup)
            rows.append({"batch": batch, "compile": compile_, "seconds": seconds, "flops": eager_flops[batch]})
            print(f"batch {batch}, torch.compile {compile_}: {seconds * 1000:.1f} ms per step", flush=True)
        del step, tensors
        if device.type == "cuda":
            torch.cuda.empty_cache()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    print(f"\n{name}, torch {torch.__version__}; {args.model} from scratch, TripletCLIP loss, {args.precision} autocast, "
          f"{args.steps} timed steps after {args.warmup} warm-up steps; peak "
          + (f"{peak / 1e12:.0f} TFLOP/s" if peak else "unknown (--peak-tflops)") + "\n")
    print("| batch (triplets) | torch.compile | step ms | triplets/s | TFLOP per step | TFLOP/s | MFU |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for r in rows:
        achieved = r["flops"] / r["seconds"]
        print(f"| {r['batch']} | {'yes' if r['compile'] else 'no'} | {r['seconds'] * 1000:.1f} | "
              f"{r['batch'] / r['seconds']:.0f} | {r['flops'] / 1e12:.2f} | {achieved / 1e12:.1f} | "
              + (f"{achieved / peak:.1%}" if peak else "n/a") + " |")
    if args.workers:
        rate = loader_rate(tokenizer, max(args.batches), size, args.workers, count=8)
        best = max(r["batch"] / r["seconds"] for r in rows)
        print(f"\nThe loader ({args.workers} worker processes, {size}-px JPEG triplets, batch {max(args.batches)}): "
              f"{rate:.0f} triplets/s, {rate / best:.2f}x the fastest step above.")


if __name__ == "__main__":
    main()
