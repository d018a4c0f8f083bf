"""Our evaluators against the CLIP_benchmark library's, side by side in one run on the same model and benchmarks.

    python benchmarks/clip_benchmark.py [--model ViT-Tiny-P16-64] [--threads 2] [--rounds 3] [--batch-size 256]
                                        [--library-batch-size 64]

Each benchmark is the shapes world's analogue at config.yaml's default size: zero-shot (42 classes x 10 images;
ours reads them as an ImageFolder, the library its webdataset shards, the same PNGs and prompts), retrieval (500
images x 5 captions; the library's `mscoco_captions` layout), SugarCrepe (200 samples per category; the library's
`sugar_crepe/{category}`), Winoground (200 examples; the library's `winoground`, whose hub download is replaced by
the same rows, as in tests/test_clip_benchmark.py). Ours: `tripletclip.evals.{benchmark}.evaluate`, batch 256 (the
config's eval.batch_size). The library: its dataset classes and metric functions, as its cli.py runs them (batch 64,
its CLI default; `num_workers=0`, as our evaluators read in the main process; float32: `amp=False`). The model is
the tiny config with seeded random weights, or a trained one (`--model local-dir:PATH`); the metrics must agree
either way (to 1e-4 %). The two alternate for `--rounds` rounds, so that both meet the machine's slow spells; round
1 is the cold one. Prints Markdown for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
import types
from pathlib import Path

import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
# this script's folder comes first on sys.path, and its name would shadow the library's package `clip_benchmark`
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))

from tripletclip import io, models  # noqa: E402
from tripletclip.evals import retrieval, sugarcrepe, winoground, zeroshot  # noqa: E402

WORLD = {"heldout_combos": 6, "image_size": 64, "hollow_rate": 0.2, "third_object_rate": 0.3}


def cpu_model() -> str:
    """lscpu's "Model name", else platform's processor."""
    try:
        for line in os.popen("lscpu").read().splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def build(root: Path) -> dict:
    """Each benchmark's shapes analogue in our layout and in the library's; {benchmark: (our spec, our root,
    library root, items)}."""
    out = {}
    z = root / "zeroshot"
    zeroshot.build_shapes(str(z), WORLD, {"shapes_images_per_class": 10}, 0)
    with tarfile.open(z / "wds_shapes" / "test" / "0.tar") as tar:  # the same PNGs as an ImageFolder
        for member in tar:
            if member.name.endswith(".cls"):
                label = int(tar.extractfile(member).read())
                path = z / "folder" / f"{label:03d}" / member.name.replace(".cls", ".png")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(tar.extractfile(member.name.replace(".cls", ".png")).read())
    (z / "templates.txt").write_text("a small {}\na large {}\n", encoding="utf-8")
    out["zeroshot"] = ({"datasets": {"shapes": {"image_dir": "folder", "classnames": "wds_shapes/classnames.txt",
                                                "templates": "templates.txt"}}}, z, z / "wds_shapes", 420)

    r = root / "retrieval"
    spec = retrieval.build_shapes(str(r), WORLD, {"shapes_images": 500, "captions_per_image": 5}, 0)
    entries = io.read_json(r / "dataset_shapes.json")["images"]
    shutil.copytree(r / "images", r / "library" / "val2014")
    io.write_json(r / "library" / "coco_test_karpathy.json", {  # the COCO captions format of mscoco_captions
        "images": [{"id": e["imgid"], "file_name": e["filename"]} for e in entries],
        "annotations": [{"id": 100 * e["imgid"] + j, "image_id": e["imgid"], "caption": s["raw"]}
                        for e in entries for j, s in enumerate(e["sentences"])]})
    out["retrieval"] = (spec, r, r / "library", len(entries))

    s = root / "sugarcrepe"
    spec = sugarcrepe.build_shapes(str(s), WORLD, {"samples_per_category": 200}, 0)
    shutil.copytree(s / "images", s / "library" / "val2017")
    for category in sugarcrepe.CATEGORIES:
        shutil.copy(s / f"{category}.json", s / "library" / f"{category}.json")
    out["sugarcrepe"] = (spec, s, s / "library", 7 * 200)

    w = root / "winoground"
    spec = winoground.build_shapes(str(w), WORLD, {"shapes_examples": 200}, 0)
    out["winoground"] = (spec, w, w, 200)
    return out


def offline_winoground(folder: Path) -> None:
    """The library's WinoGround calls `datasets.load_dataset("facebook/winoground")` (the hub); give it the same
    rows, images decoded to PIL as the hub's Image feature does, from examples.jsonl and images/."""
    def load_dataset(path, cache_dir=None):
        rows = [{**e, **{f"image_{k}": Image.open(folder / "images" / f"{e[f'image_{k}']}.png") for k in (0, 1)}}
                for e in io.read_jsonl(folder / "examples.jsonl")]
        return {"test": rows}

    sys.modules["datasets"] = types.SimpleNamespace(load_dataset=load_dataset)


def library(benchmark: str, model, preprocess, tokenizer, root: Path, batch_size: int) -> dict:
    """The library's metrics in our names and units (%)."""
    from clip_benchmark.datasets.builder import build_dataset, image_captions_collate_fn
    from clip_benchmark.metrics import image_caption_selection, zeroshot_retrieval

    def loader(dataset):
        return torch.utils.data.DataLoader(dataset, batch_size=batch_size, collate_fn=image_captions_collate_fn)

    if benchmark == "zeroshot":  # our module's clip_benchmark path: the library's dataset, classifier and logits
        spec = {"clip_benchmark": {"root": str(root.parent), "datasets": ["shapes"]}}
        return zeroshot.evaluate(model, preprocess, tokenizer, spec, batch_size=batch_size)[0]
    if benchmark == "retrieval":
        dataset = build_dataset("mscoco_captions", root=str(root), transform=preprocess, task="zeroshot_retrieval")
        m = zeroshot_retrieval.evaluate(model, loader(dataset), tokenizer, "cpu", amp=False,
                                        recall_k_list=list(retrieval.KS))
        return {f"shapes_{ours}_r{k}": m[f"{theirs}_retrieval_recall@{k}"] * 100
                for ours, theirs in (("i2t", "text"), ("t2i", "image")) for k in retrieval.KS}
    if benchmark == "sugarcrepe":
        return {category: image_caption_selection.evaluate(model, loader(build_dataset(
            f"sugar_crepe/{category}", root=str(root), transform=preprocess, task="image_caption_selection")),
            tokenizer, "cpu", amp=False)["acc"] * 100 for category in sugarcrepe.CATEGORIES}
    offline_winoground(root)
    dataset = build_dataset("winoground", root=str(root), transform=preprocess, task="image_caption_selection")
    m = image_caption_selection.evaluate(model, loader(dataset), tokenizer, "cpu", amp=False)
    return {"text": m["text_acc"] * 100, "image": m["image_acc"] * 100, "group": m["acc"] * 100}


def quiet(function, *args):
    """`function(*args)` with its prints (pycocotools' "loading annotations...") sent to stderr: stdout is the table."""
    with contextlib.redirect_stdout(sys.stderr):
        return function(*args)


def agree(ours: dict, theirs: dict) -> bool:
    return all(abs(ours[k] - v) < 1e-4 for k, v in theirs.items())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ViT-Tiny-P16-64")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--rounds", type=int, default=3, help="library then ours, this many times")
    parser.add_argument("--batch-size", type=int, default=256, help="ours (config eval.batch_size)")
    parser.add_argument("--library-batch-size", type=int, default=64, help="the library's (its CLI default)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model, _, preprocess, tokenizer = models.create(args.model)
    model.eval()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        benches = build(Path(tmp))
        for benchmark, (spec, ours_root, library_root, items) in benches.items():
            mod = {"zeroshot": zeroshot, "retrieval": retrieval, "sugarcrepe": sugarcrepe,
                   "winoground": winoground}[benchmark]
            timings, results = {"library": [], "ours": []}, {}
            for _ in range(args.rounds):
                fresh = type(tokenizer)(tokenizer.tokenizer)  # ours: an empty word cache, as a fresh job has
                for name, run in (
                        ("library", lambda: quiet(library, benchmark, model, preprocess, tokenizer.tokenizer,
                                                  library_root, args.library_batch_size)),
                        ("ours", lambda: mod.evaluate(model, preprocess, fresh, spec, str(ours_root),
                                                      args.batch_size)[0])):
                    start = time.perf_counter()
                    results[name] = run()
                    timings[name].append(time.perf_counter() - start)
            rows.append((benchmark, items, timings, agree(results["ours"], results["library"]), results))
    print(f"Ours against CLIP_benchmark 1.6.2, {args.model}, {args.threads} threads, {cpu_model()}, "
          f"{os.cpu_count()} cores, torch {torch.__version__}; {args.rounds} rounds, library then ours\n")
    print("| benchmark (shapes analogue) | items | library s (rounds) | ours s (rounds) | fastest: library / ours | "
          "medians | metrics equal |\n|---|---:|---|---|---:|---:|---|")
    for benchmark, items, t, same, _ in rows:
        best, median = (min(t["library"]) / min(t["ours"]),
                        statistics.median(t["library"]) / statistics.median(t["ours"]))
        print(f"| {benchmark} | {items} | {', '.join(f'{x:.2f}' for x in t['library'])} | "
              f"{', '.join(f'{x:.2f}' for x in t['ours'])} | **{best:.1f}x** | {median:.1f}x | {same} |")
    for benchmark, _, _, same, results in rows:
        if not same:
            raise SystemExit(f"{benchmark}: metrics differ: ours {results['ours']} vs library {results['library']}")


if __name__ == "__main__":
    main()
