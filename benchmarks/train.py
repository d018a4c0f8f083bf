"""Training throughput, side by side in one run (the machine is noisy: read the ratios).

    python benchmarks/train.py [--steps 40] [--batch 128] [--workdir DIR]

1. Our CLIP training loop vs open_clip's own (`python -m open_clip_train.main --dataset-type synthetic`) on the same
   tiny model, batch and synthetic data (open_clip's: one blank image and one caption), both on this CPU.
2. TripletCLIP's step cost over CLIP's at the same anchor batch (the encoders see twice the data).
3. The data loader alone (TripletCLIP's batches: both images decoded) vs what TripletCLIP training consumes.

Prints Markdown for BENCHMARKS.md. Steady state only: the first quarter of each run's steps is left out.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tripletclip import data, io, models, train  # noqa: E402

MODEL = "ViT-Tiny-P16-64"
CAPTION = "Dummy caption"  # open_clip's synthetic caption


def synthetic_shard(path: Path, count: int) -> None:
    """open_clip's synthetic sample as a triplet shard: a blank image and its caption, twice."""
    blank = io.encode_jpeg(Image.new("RGB", (64, 64)))
    with io.shard_writer(path) as sink:
        for i in range(count):
            sink.write({"__key__": f"{i:06d}", "jpg": blank, "txt": CAPTION.encode(), "neg.jpg": blank,
                        "neg.txt": CAPTION.encode()})


def ours(shard: Path, method: str, steps: int, batch: int, workdir: Path) -> float:
    """Samples (anchor pairs) per second of our trainer in steady state."""
    cfg = train.TrainConfig.from_config(dict(
        model=MODEL, steps=steps, batch_size=batch, lr=5e-4, weight_decay=0.1, warmup_steps=5, workers=0,
        threads=os.cpu_count(), shuffle_buffer=100, log_every=1, eval_every=10**9, checkpoint_every=10**9))
    train.train([str(shard)], workdir / method, method, cfg, seed=0)
    import pandas as pd
    log = pd.read_csv(workdir / method / "log.csv")
    steady = log[log["step"] > steps // 4]
    return (len(steady) - 1) * batch / steady["seconds"].diff().dropna().sum()


def open_clip_loop(steps: int, batch: int, workdir: Path) -> float:
    """Samples per second of open_clip_train.main, from its own "Batch (t)" log lines in steady state."""
    code = ("import sys, tripletclip.models as m; m.open_clip_with_our_configs(); "
            "from open_clip_train.main import main; main(sys.argv[1:])")
    args = ["--model", MODEL, "--dataset-type", "synthetic", "--train-data", "synthetic",
            "--train-num-samples", str(steps * batch), "--batch-size", str(batch), "--epochs", "1", "--workers", "0",
            "--lr", "5e-4", "--wd", "0.1", "--warmup", "5", "--precision", "fp32", "--log-every-n-steps", "1",
            "--logs", str(workdir / "open_clip_logs"), "--name", "bench", "--save-frequency", "0",
            "--report-to", "", "--seed", "0"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, encoding="utf-8", env=env,
                            cwd=REPO)
    out = result.stdout + result.stderr
    if result.returncode:
        raise RuntimeError(out[-3000:])
    # "Train Epoch: 0 [ 1280/5120 (25%)] Data (t): 0.001 Batch (t): 0.512, 250.1/s, ..." : Batch (t) is a running
    # mean, so take the per-step times back out of it.
    means = [float(m) for m in re.findall(r"Batch \(t\): ([0-9.]+)", out)]
    times = [means[0]] + [(i + 1) * m - i * prev for i, (prev, m) in enumerate(zip(means, means[1:]), 1)]
    steady = times[len(times) // 4:]
    return batch * len(steady) / sum(steady)


def loader(shard: Path, batch: int, count: int, cache_mb: float = 0) -> float:
    """Triplet batches (both images) per second from the loader alone, in the training process (workers 0)."""
    _, _, _, tokenizer = models.create(MODEL)
    transform = data.BatchTransform({"size": 64, "mean": (0.5,) * 3, "std": (0.5,) * 3})
    stream = data.batches([str(shard)], batch, tokenizer, transform, seed=0, shuffle_buffer=100, cache_mb=cache_mb)
    next(stream)
    start = time.perf_counter()
    for _ in range(count):
        next(stream)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-train-"))
    shard = workdir / "synthetic.tar"
    samples = 2000
    synthetic_shard(shard, samples)
    theirs = open_clip_loop(args.steps, args.batch, workdir)
    clip = ours(shard, "clip", args.steps, args.batch, workdir)
    triplet = ours(shard, "tripletclip", args.steps, args.batch, workdir)
    batches_per_s = loader(shard, args.batch, args.steps)
    cached_per_s = loader(shard, args.batch, args.steps, cache_mb=1024)  # as config.yaml runs it
    print(f"\n{platform.machine()}, {os.cpu_count()} cores, torch {__import__('torch').__version__}; "
          f"{MODEL}, batch {args.batch}, {args.steps} steps per run, fp32\n")
    print("| measure | value | goal |\n|---|---:|---:|")
    print(f"| open_clip_train.main, CLIP | {theirs:.0f} pairs/s | |")
    print(f"| ours, CLIP | {clip:.0f} pairs/s | |")
    print(f"| ours / open_clip (CLIP) | {clip / theirs:.2f}x | >= 1.0x |")
    print(f"| ours, TripletCLIP | {triplet:.0f} anchor pairs/s | |")
    print(f"| TripletCLIP step / CLIP step | {clip / triplet:.2f}x | <= 2.1x |")
    print(f"| loader, triplet batches | {batches_per_s:.2f} batches/s | |")
    print(f"| loader / TripletCLIP consumption | {batches_per_s / (triplet / args.batch):.1f}x | >= 3x |")
    epochs = args.steps * args.batch / samples
    print(f"| loader with the cache (cache_mb 1024), {epochs:.1f} epochs | {cached_per_s:.2f} batches/s | |")
    print(f"| loader with the cache / TripletCLIP consumption | {cached_per_s / (triplet / args.batch):.1f}x | |")


if __name__ == "__main__":
    main()
