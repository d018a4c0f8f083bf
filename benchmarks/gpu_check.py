"""One prepared check of every GPU stage, sized for a 15-minute lease: the training step, the loader beside it,
synthesis and evaluation, each timed after a warm-up with CUDA synchronised, into one Markdown table
(gpu_check.md) and one JSON file (gpu_check.json) in OUT.

    benchmarks/gpu_check.sh OUT            # on a GPU node: installs from benchmarks/wheels if needed, then all parts
    benchmarks/gpu_check.sh --cpu OUT      # the reduced mode `make test` runs: tiny sizes, a few steps, the CPU
    python benchmarks/gpu_check.py PART --out OUT [--cpu]     # one part: train, loader, synthesize or evaluate
    python benchmarks/gpu_check.py report --out OUT [--cpu]   # the table and the JSON from the parts' files
    python benchmarks/gpu_check.py size                       # the repository and its wheels, against 64 MiB

The shell script runs each part in its own process under a time limit, so that a part that fails, runs out of
memory or hangs costs only itself: the table then says why (its error, or its exit status and log's last line).

- train: the trainer's own step (`train.Step`: forward under bf16 autocast, the loss, backward, clipping, fused
  AdamW) for ViT-B/32 from random weights, CLIP and TripletCLIP, batch 256 and 512 anchor pairs, eager and through
  torch.compile: anchor pairs/s and MFU. FLOPs are counted once per shape by torch's FlopCounterMode on the eager
  step (forward and backward on the real shapes, 2 per multiply-add), against the device's peak dense bf16 FLOP/s
  from its data sheet (`train_gpu.PEAK_TFLOPS`), named in the table.
- loader: the trainer's loader (`data.batches`) with one worker process per core, decoding 500x375 photo-sized
  JPEGs and 512x512 negatives (SDXL-turbo's) to 224 px: triplets/s beside the fastest TripletCLIP step.
- synthesize: SDXL-turbo's architecture at full size, built from its published configs (benchmarks/sdxl_turbo/*.json:
  UNet, VAE, both text encoders, the scheduler) with random weights, saved in fp16 and loaded by our synthesizer as
  a downloaded model is; 512 px, 1 step, batch 1/8/32 through `synthesize_to_dir` (JPEG files): images/s, the VAE
  decode's share of the time, and the NaN-safe decode's cost on a healthy batch (our checked call against the bare
  pipeline on the same prompts and generators).
- evaluate: SugarCrepe's protocol (`evals.sugarcrepe.evaluate`) for ViT-B/32 on CUDA over 7,511 synthetic items in
  SugarCrepe's layout and category sizes (2,000 640x480 JPEGs): items/s; and the choice of caption made from the same
  fp32 features on CUDA and on the CPU, which must agree item for item.

`--cpu` runs the same code on tiny sizes (ViT-Tiny-P16-64, the SDXL-turbo configs shrunk by `TINY_SDXL`, 21 items),
torch.compile with the "eager" backend (the tracing without a C++ build); its figures say nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]
if str(HERE) not in sys.path:  # train_gpu; last, so that benchmarks/clip_benchmark.py never shadows the library
    sys.path.append(str(HERE))

PARTS = ("train", "loader", "synthesize", "evaluate")
LIMIT_BYTES = 64 * 2**20  # what the device tool carries: the working tree and the wheels together
WHEELS = HERE / "wheels"
SDXL = HERE / "sdxl_turbo"
# SugarCrepe's seven files hold 7,511 items (RAIVNLab/sugar-crepe, data/*.json)
SUGARCREPE_SIZES = {"replace_obj": 1652, "replace_att": 788, "replace_rel": 1406, "swap_obj": 245, "swap_att": 666,
                    "add_obj": 2062, "add_att": 692}
# What the numbers are compared with (issue 31): TripletCLIP's paper (one A100), its SDXL-turbo figure, Stability's card
ANCHORS = ("TripletCLIP's paper: about 1.6k anchor pairs/s for ViT-B/32 on one A100; SDXL-turbo: about 2.5 images/s "
           "per V100 (the paper), about 23 images/s per H100 with TensorRT at batch 1 (Stability's model card)")
# Each component's config shrunk for --cpu: the same architecture classes and block layout, widths of a few dozen
TINY_SDXL = {
    "unet": {"block_out_channels": [32, 64, 128], "attention_head_dim": [2, 4, 8], "layers_per_block": 1,
             "transformer_layers_per_block": [1, 1, 1], "cross_attention_dim": 64, "addition_time_embed_dim": 8,
             "projection_class_embeddings_input_dim": 6 * 8 + 32, "norm_num_groups": 8, "sample_size": 8},
    "vae": {"block_out_channels": [32, 32, 64, 64], "layers_per_block": 1, "norm_num_groups": 8, "sample_size": 64},
    "text_encoder": {"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4, "num_hidden_layers": 2,
                     "projection_dim": 32},
    "text_encoder_2": {"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4, "num_hidden_layers": 2,
                       "projection_dim": 32},
}


class Mode:
    """The sizes of a run: the GPU's (issue 31's), or --cpu's tiny ones that only check the code paths."""

    def __init__(self, cpu: bool):
        self.cpu = cpu
        self.device = "cpu" if cpu else "cuda"
        self.model = "ViT-Tiny-P16-64" if cpu else "ViT-B-32"
        self.batches = (8, 16) if cpu else (256, 512)
        self.steps, self.warmup = (2, 1) if cpu else (10, 3)
        self.backend = "eager" if cpu else "inductor"
        self.workers = min(2, os.cpu_count() or 1) if cpu else os.cpu_count() or 1
        self.loader_batches = 2 if cpu else 10
        self.photo, self.negative = ((80, 60), (64, 64)) if cpu else ((500, 375), (512, 512))
        self.synth_size, self.synth_batches = (64, (1, 2)) if cpu else (512, (1, 8, 32))
        self.synth_images, self.synth_rounds = (4, 1) if cpu else (64, 2)
        self.eval_sizes = {c: 3 for c in SUGARCREPE_SIZES} if cpu else SUGARCREPE_SIZES
        self.eval_images, self.eval_image = (8, (80, 60)) if cpu else (2000, (640, 480))
        self.eval_batch = 16 if cpu else 256


def device_name(torch, mode: Mode) -> str:
    if mode.cpu or not torch.cuda.is_available():
        return f"CPU ({platform.machine()}, {os.cpu_count()} cores)"
    return torch.cuda.get_device_name()


# ---------------------------------------------------------------------------------------------------- the parts


def part_train(mode: Mode) -> dict:
    """Rows per method, batch and compile: step seconds, anchor pairs/s, FLOPs per step, MFU (None without a peak)."""
    import torch

    import train_gpu

    device = torch.device(mode.device)
    peak = train_gpu.peak_flops(device, None)
    rows, flops = [], {}
    for method in ("clip", "tripletclip"):
        for compiled in (False, True):
            step, size, tokenizer = train_gpu.make_step(mode.model, device, compiled, "bf16", method, mode.backend)
            for batch in mode.batches:
                tensors = train_gpu.synthetic_batch(batch, size, tokenizer, device)
                if not compiled:  # the compiled step does the same arithmetic
                    flops[method, batch] = train_gpu.flops_per_step(step, tensors)
                seconds = train_gpu.time_steps(step, tensors, mode.steps, mode.warmup)
                rows.append({"method": method, "batch": batch, "compile": compiled, "step_s": seconds,
                             "pairs_per_s": batch / seconds, "flops_per_step": flops[method, batch],
                             "mfu": flops[method, batch] / seconds / peak if peak else None})
                print(f"{method}, batch {batch}, compile {compiled}: {seconds * 1000:.1f} ms per step", flush=True)
            del step, tensors
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return {"rows": rows, "peak_flops": peak, "model": mode.model, "image_size": size,
            "setting": f"{mode.model} from random weights, bf16 autocast, {mode.steps} timed steps after "
                       f"{mode.warmup} warm-up steps, torch.compile backend {mode.backend}"}


def part_loader(mode: Mode) -> dict:
    import open_clip

    import train_gpu

    size = 64 if mode.cpu else 224
    tokenizer = open_clip.get_tokenizer(mode.model)
    batch = max(mode.batches)
    rate = train_gpu.loader_rate(tokenizer, batch, size, mode.workers, mode.loader_batches, mode.photo, mode.negative)
    return {"rows": [{"workers": mode.workers, "size": size, "batch": batch, "triplets_per_s": rate,
                      "photo": list(mode.photo), "negative": list(mode.negative)}]}


def load_configs() -> dict[str, dict]:
    """SDXL-turbo's component configs as published (stabilityai/sdxl-turbo: unet/, vae/, text_encoder/,
    text_encoder_2/, scheduler/)."""
    return {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(SDXL.glob("*.json"))}


def build_components(configs: dict[str, dict], device: str = "cpu", dtype=None) -> dict:
    """The pipeline's modules with random weights from `configs` (load_configs' keys), built on `device` (the meta
    device builds none: parameter counts only), plus the scheduler."""
    import torch
    from diffusers import AutoencoderKL, EulerAncestralDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    with torch.device(device):
        out = {"unet": UNet2DConditionModel.from_config(configs["unet"]),
               "vae": AutoencoderKL.from_config(configs["vae"]),
               "text_encoder": CLIPTextModel(CLIPTextConfig(**configs["text_encoder"])),
               "text_encoder_2": CLIPTextModelWithProjection(CLIPTextConfig(**configs["text_encoder_2"]))}
    if dtype is not None:
        out = {name: module.to(dtype) for name, module in out.items()}
    out["scheduler"] = EulerAncestralDiscreteScheduler.from_config(configs["scheduler"])
    return out


def build_sdxl_turbo(path: Path, tiny: bool, device: str) -> Path:
    """SDXL-turbo's pipeline (TINY_SDXL's shrunk one with `tiny`) with random weights, saved at `path` (fp16 on a
    GPU, as the hub's fp16 variant) with CLIP's tokenizer, to be loaded as a downloaded model is."""
    import torch
    from diffusers import StableDiffusionXLPipeline

    from helpers.tiny_diffusion import clip_tokenizer

    configs = load_configs()
    if tiny:
        configs = {name: {**config, **TINY_SDXL.get(name, {})} for name, config in configs.items()}
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    parts = build_components(configs, device, dtype)
    tokenizer = clip_tokenizer()
    StableDiffusionXLPipeline(**parts, tokenizer=tokenizer, tokenizer_2=tokenizer,
                              force_zeros_for_empty_prompt=True).save_pretrained(path)
    return path


def part_synthesize(mode: Mode) -> dict:
    import shutil

    import torch

    import train_gpu
    from tripletclip import synthesize
    from tripletclip.synthesize import diffusion

    captions = ["a red car next to a tree", "two dogs on a couch", "a man riding a horse on a beach",
                "a blue vase on a wooden table", "a cat sleeping in a box", "a boat on a lake"]
    requests = [(str(i), captions[i % len(captions)], None) for i in range(mode.synth_images)]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        path = build_sdxl_turbo(Path(tmp) / "sdxl-turbo", mode.cpu, mode.device)
        synth = synthesize.make_synthesizer("diffusers", model=str(path), image_size=mode.synth_size, steps=1,
                                            batch_size=max(mode.synth_batches), device=mode.device,
                                            dtype="float32" if mode.cpu else "float16")
        built = time.perf_counter() - start
        unet = sum(p.numel() for p in synth.pipe.unet.parameters())
        print(f"built, saved and loaded in {built:.0f} s; UNet {unet / 1e9:.3f} B parameters", flush=True)
        vae_seconds = [0.0]
        decode = synth.pipe.vae.decode

        def timed_decode(*args, **kwargs):  # the synthesizer's NaN check wraps this, so its own work is not in it
            train_gpu.sync(torch.device(mode.device))
            start = time.perf_counter()
            out = decode(*args, **kwargs)
            train_gpu.sync(torch.device(mode.device))
            vae_seconds[0] += time.perf_counter() - start
            return out

        synth.pipe.vae.decode = timed_decode
        for bs in mode.synth_batches:  # warm-up: kernels and the allocator, per batch shape
            synth.batch_size = bs
            synth.synthesize([(f"warm{i}", captions[0]) for i in range(bs)])
        times = {bs: [] for bs in mode.synth_batches}
        vae = {bs: [] for bs in mode.synth_batches}
        for r in range(mode.synth_rounds):  # rounds alternate the batch sizes: each sees the slow and fast spells
            for bs in mode.synth_batches:
                synth.batch_size = bs
                out = Path(tmp) / f"out{r}-{bs}"
                vae_seconds[0] = 0.0
                train_gpu.sync(torch.device(mode.device))
                start = time.perf_counter()
                stats = synthesize.synthesize_to_dir(requests, out, synth, batch_size=bs)
                train_gpu.sync(torch.device(mode.device))
                times[bs].append(time.perf_counter() - start)
                vae[bs].append(vae_seconds[0] / times[bs][-1])
                written = len(list(out.glob("*.jpg")))
                if written != len(requests):
                    raise RuntimeError(f"batch {bs}: {written} of {len(requests)} images written ({stats})")
                shutil.rmtree(out)
                print(f"round {r}, batch {bs}: {len(requests) / times[bs][-1]:.1f} images/s", flush=True)
        del synth.pipe.vae.decode
        rows = [{"batch": bs, "images_per_s": len(requests) / statistics.median(t), "vae_share": statistics.median(vae[bs])}
                for bs, t in times.items()]
        # the NaN-safe decode on a healthy batch: our checked call against the bare pipeline, same prompts and seeds
        bs = min(8, max(mode.synth_batches))
        batch = [(f"nan{i}", captions[i % len(captions)]) for i in range(bs)]
        synth.batch_size = bs
        checked, bare = [], []
        for _ in range(max(mode.synth_rounds, 2) + 1):
            train_gpu.sync(torch.device(mode.device))
            start = time.perf_counter()
            images = synth.synthesize(batch)
            train_gpu.sync(torch.device(mode.device))
            checked.append(time.perf_counter() - start)
            generators = [torch.Generator("cpu").manual_seed(diffusion.key_seed(synth.seed, key))
                          for key, _ in batch]
            start = time.perf_counter()
            with torch.no_grad():
                synth.pipe(prompt=[caption for _, caption in batch], generator=generators, output_type="pil",
                           **synth.call)
            train_gpu.sync(torch.device(mode.device))
            bare.append(time.perf_counter() - start)
        if not all(hasattr(image, "save") for image in images):
            raise RuntimeError(f"the checked call flagged a healthy batch: {images}")
        checked_s, bare_s = statistics.median(checked[1:]), statistics.median(bare[1:])  # the first: a warm-up
    return {"rows": rows, "nan_safe": {"batch": bs, "checked_s": checked_s, "bare_s": bare_s,
                                       "overhead": checked_s / bare_s - 1},
            "unet_parameters": unet, "build_s": built,
            "setting": f"{mode.synth_size} px, 1 step, guidance 0, {'fp32' if mode.cpu else 'fp16'} (the VAE upcasts "
                       f"to fp32 as sdxl-turbo's config asks), {len(requests)} images to JPEG files, median of "
                       f"{mode.synth_rounds} rounds"}


def write_sugarcrepe(root: Path, sizes: dict[str, int], images: int, image: tuple[int, int]) -> int:
    """SugarCrepe's layout (one {category}.json per category, {id: {filename, caption, negative_caption}}, and
    images/) with `sizes` items per category over `images` photo-sized JPEGs; returns the item count."""
    import torch

    import train_gpu

    captions = train_gpu.CAPTIONS.read_text(encoding="utf-8").splitlines()
    (root / "images").mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    photos = [train_gpu.photo(*image, g) for _ in range(min(images, 64))]  # each file is decoded on its own anyway
    for i in range(images):
        (root / "images" / f"{i:012d}.jpg").write_bytes(photos[i % len(photos)])
    n = 0
    for category, size in sizes.items():
        items = {}
        for k in range(size):
            items[str(k)] = {"filename": f"{n % images:012d}.jpg", "caption": captions[n % len(captions)],
                             "negative_caption": captions[(n * 7 + 3) % len(captions)]}
            n += 1
        (root / f"{category}.json").write_text(json.dumps(items), encoding="utf-8")
    return n


def part_evaluate(mode: Mode) -> dict:
    import torch

    import train_gpu
    from tripletclip import models
    from tripletclip.evals import encode, protocols, sugarcrepe

    torch.manual_seed(0)
    model, _, preprocess, tokenizer = models.create(mode.model, device=mode.device)
    model.eval()
    scoring = "cuda" if torch.cuda.is_available() and not mode.cpu else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        bench = Path(tmp) / "sugarcrepe"
        items = write_sugarcrepe(bench, mode.eval_sizes, mode.eval_images, mode.eval_image)
        warm = sorted((bench / "images").iterdir())[:mode.eval_batch]
        encode.images(model, preprocess, warm, mode.eval_batch, mode.device, desc=None)  # kernels, allocator
        encode.texts(model, tokenizer, ["a warm-up caption"] * mode.eval_batch, mode.eval_batch, mode.device, desc=None)
        train_gpu.sync(torch.device(mode.device))
        start = time.perf_counter()
        metrics, _, table = sugarcrepe.evaluate(model, preprocess, tokenizer, {"benchmark": str(bench)},
                                                batch_size=mode.eval_batch, device=mode.device)
        seconds = time.perf_counter() - start  # its features come back to the CPU: synchronised
        # the same fp32 features, the choice made on the accelerator and on the CPU
        data = sugarcrepe.load(bench)
        files, image_row = encode.index(sorted(s["filename"] for d in data.values() for s in d.values()))
        texts, text_row = encode.index(sorted(c for d in data.values() for s in d.values()
                                              for c in (s["caption"], s["negative_caption"])))
        image_features = encode.images(model, preprocess, [bench / "images" / f for f in files], mode.eval_batch,
                                       mode.device, desc=None)
        text_features = encode.texts(model, tokenizer, texts, mode.eval_batch, mode.device, desc=None)
        correct = {}
        for key, device in (("cpu", "cpu"), ("scoring", scoring)):
            correct[key] = []
            for samples in data.values():
                choice = protocols.choose_caption(
                    image_features[[image_row[s["filename"]] for s in samples.values()]].to(device),
                    [text_features[[text_row[s[c]] for s in samples.values()]].to(device)
                     for c in ("caption", "negative_caption")])
                correct[key] += choice.correct.tolist()
        agree = sum(a == b for a, b in zip(correct["cpu"], correct["scoring"]))
    return {"rows": [{"items": items, "seconds": seconds, "items_per_s": items / seconds, "avg": metrics["avg"],
                      "scored_on": scoring, "agree": agree, "equal": agree == items == len(correct["scoring"]),
                      "table_correct": int(table["correct"].sum()), "features_correct": sum(correct["cpu"])}],
            "setting": f"{mode.model} from random weights, fp32, batch {mode.eval_batch}, {mode.eval_images} "
                       f"{mode.eval_image[0]}x{mode.eval_image[1]} JPEGs"}


# ---------------------------------------------------------------------------------------------------- the report


def fmt(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}" if x >= 1 else f"{x:.3g}"


def table_rows(name: str, result: dict) -> list[list[str]]:
    """Markdown cells (part, setting, rate, unit, note) of one part's result."""
    if not result.get("ok"):
        return [[name, "", "failed", "", result.get("error", "no result")]]
    if name == "train":
        return [[name, f"{r['method']}, batch {r['batch']}, {'torch.compile' if r['compile'] else 'eager'}",
                 fmt(r["pairs_per_s"]), "anchor pairs/s",
                 f"{r['step_s'] * 1000:.1f} ms/step, {r['flops_per_step'] / 1e12:.3g} TFLOP/step, "
                 + (f"MFU {r['mfu']:.1%}" if r["mfu"] is not None else "MFU n/a (no known peak)")]
                for r in result["rows"]]
    if name == "loader":
        r = result["rows"][0]
        return [[name, f"{r['workers']} workers, {r['photo'][0]}x{r['photo'][1]} + {r['negative'][0]}x"
                       f"{r['negative'][1]} JPEGs to {r['size']} px, batch {r['batch']}",
                 fmt(r["triplets_per_s"]), "triplets/s", result.get("note", "")]]
    if name == "synthesize":
        rows = [[name, f"batch {r['batch']}", fmt(r["images_per_s"]), "images/s", f"VAE decode {r['vae_share']:.0%}"]
                for r in result["rows"]]
        nan = result["nan_safe"]
        rows.append([name, f"NaN-safe decode, batch {nan['batch']}", f"{nan['overhead']:+.1%}", "time",
                     f"checked {nan['checked_s']:.3g} s against the bare pipeline's {nan['bare_s']:.3g} s"])
        return rows
    r = result["rows"][0]
    return [[name, f"SugarCrepe's protocol, {r['items']:,} items", fmt(r["items_per_s"]), "items/s",
             f"avg {r['avg']:.2f} %; the choice from the same fp32 features on "
             f"{'the CPU twice' if r['scored_on'] == 'cpu' else r['scored_on'] + ' and the CPU'}: "
             f"{'equal' if r['equal'] else 'DIFFERENT'} ({r['agree']:,} of {r['items']:,} agree)"]]


def read_part(out: Path, name: str) -> dict:
    """A part's result file, or why there is none: the exit status the shell script recorded and the log's last
    line."""
    path = out / "parts" / f"{name}.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    status = out / "parts" / f"{name}.status"
    log = out / "parts" / f"{name}.log"
    code = status.read_text(encoding="utf-8").strip() if status.is_file() else "not run"
    last = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()][-1:] \
        if log.is_file() else []
    why = {"124": "timed out", "137": "killed (memory?)"}.get(code, f"exit status {code}")
    return {"ok": False, "error": f"{why}" + (f": {last[0][:300]}" if last else "")}


def report(out: Path, mode: Mode) -> dict:
    import torch

    parts = {name: read_part(out, name) for name in PARTS}
    train, loader = parts["train"], parts["loader"]
    if train.get("ok") and loader.get("ok"):
        best = max(r["pairs_per_s"] for r in train["rows"] if r["method"] == "tripletclip")
        loader["note"] = f"{loader['rows'][0]['triplets_per_s'] / best:.2f}x the fastest TripletCLIP step"
    peak = train.get("peak_flops") if train.get("ok") else None
    result = {"mode": "cpu" if mode.cpu else "gpu", "device": device_name(torch, mode), "torch": torch.__version__,
              "cuda": None if mode.cpu else torch.version.cuda, "peak_bf16_tflops": peak / 1e12 if peak else None, "parts": parts}
    lines = [f"GPU check on {result['device']}, torch {result['torch']}" + (f", CUDA {result['cuda']}" if result["cuda"]
                                                                            else "")
             + (f"; peak dense bf16 {peak / 1e12:.0f} TFLOP/s (data sheet)" if peak else "; no known bf16 peak: MFU n/a")
             + (" -- reduced CPU mode: the figures check the code, not the speed" if mode.cpu else ""), "",
             "| part | setting | rate | unit | note |", "|---|---|---:|---|---|"]
    for name in PARTS:
        lines += ["| " + " | ".join(cells) + " |" for cells in table_rows(name, parts[name])]
    settings = [f"{name}: {parts[name]['setting']}" for name in PARTS if parts[name].get("setting")]
    lines += ["", *settings, "", f"Anchors: {ANCHORS}."]
    (out / "gpu_check.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "gpu_check.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    print("\n".join(lines))
    return result


# ---------------------------------------------------------------------------------------------------- size, main


def carried_bytes(repo: Path = REPO) -> tuple[int, int]:
    """(bytes of the working tree that travels to the device: git's tracked and untracked-but-not-ignored files, or
    every file outside .git where there is no git; bytes of benchmarks/wheels)."""
    try:
        listed = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                capture_output=True, check=True).stdout.decode("utf-8").split("\0")
        files = [repo / name for name in listed if name]
    except (OSError, subprocess.CalledProcessError):
        files = [p for p in repo.rglob("*") if ".git" not in p.relative_to(repo).parts]
    wheels = sum(p.stat().st_size for p in WHEELS.glob("*") if p.is_file())
    tree = sum(p.stat().st_size for p in files if p.is_file() and WHEELS not in p.parents)
    return tree, wheels


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=[*PARTS, "report", "size"])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--cpu", action="store_true", help="the reduced mode: tiny sizes on the CPU")
    args = parser.parse_args(argv)
    if args.what == "size":
        tree, wheels = carried_bytes()
        total = tree + wheels
        print(f"repository {tree / 2**20:.1f} MiB + wheels {wheels / 2**20:.1f} MiB = {total / 2**20:.1f} MiB "
              f"(limit {LIMIT_BYTES / 2**20:.0f} MiB)")
        if total > LIMIT_BYTES:
            print("over the limit: the device tool would not carry it all", file=sys.stderr)
            return 2
        return 0
    if args.out is None:
        parser.error("--out is required")
    mode = Mode(args.cpu)
    if args.what == "report":
        report(args.out, mode)
        return 0
    import torch

    if not mode.cpu and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run with --cpu for the reduced mode")
    (args.out / "parts").mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        result = {"ok": True, **globals()[f"part_{args.what}"](mode)}
    except Exception as e:  # noqa: BLE001 - the table says why; the other parts still run
        import traceback

        traceback.print_exc()
        result = {"ok": False, "error": f"{type(e).__name__}: {str(e)[:300]}"}
    result["wall_s"] = time.perf_counter() - start
    bad = [k for r in result.get("rows", []) for k, v in r.items()
           if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        result.update(ok=False, error=f"non-finite figures: {', '.join(sorted(set(bad)))}")
    tmp = args.out / "parts" / f"{args.what}.json.tmp"
    tmp.write_text(json.dumps(result, indent=1), encoding="utf-8")
    tmp.replace(args.out / "parts" / f"{args.what}.json")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
