"""Linear probes: a linear classifier trained on a frozen model's normalized image features, scored on held-out
images. Zero-shot accuracy mixes the two towers; a probe sees the image tower alone, so a method whose zero-shot
accuracy drops (hard-negative training often costs some) shows here whether its image features lost information.

The protocol is CLIP_benchmark's own `linear_probe` task (github.com/LAION-AI/CLIP_benchmark, package `clip-benchmark`
1.6.2 as installed; lines below are of `clip_benchmark/metrics/linear_probe.py` unless named otherwise), on datasets
in its webdataset layout, as `tripletclip.evals.zeroshot` reads them (`clip_benchmark` spec block {root, datasets}):
    {root}/wds_{name with "/" made "-"}/classnames.txt     one class name a line, in label order
    {root}/wds_{...}/zeroshot_classification_templates.txt  not used by the probe, but `build_dataset` asserts it
                                                            for every wds dataset (builder.py lines 514-515)
    {root}/wds_{...}/train/nshards.txt, train/0.tar ...    the split the probe is trained on
    {root}/wds_{...}/test/nshards.txt, test/0.tar ...      the split it is scored on
each sample `{key}.cls` (the label) and `{key}.webp` / `.png` / `.jpg` / `.jpeg` (builder.py `build_wds_dataset`,
lines 708-805, whose docstring lists train/ beside test/; CLIP_benchmark's copies on the Hugging Face hub,
`git clone https://huggingface.co/datasets/clip-benchmark/wds_vtab-cifar100`, hold both splits). An optional
validation split (`val_split`, a third folder) turns on the weight-decay search.

How cli.py runs the task for a dataset (cli.py lines 337-391): the train split is `build_dataset(name,
split=--train_split)` (default "train", line 34), read by `DataLoader(train, batch_size, shuffle=False,
collate_fn=default_collate, pin_memory=True)` (lines 361-365); the test split `--split` (default "test", line 32) by
`DataLoader(dataset.batched(batch_size), batch_size=None, shuffle=False)` for a wds dataset (lines 292-296); a
validation split is `--val_split` (line 36) or a `--val_proportion` of the train set split off by `random_split`
(lines 37, 357-358: impossible on a webdataset, an IterableDataset without a length, so not offered here), else none.
Then `linear_probe.evaluate(model, train, test, fewshot_k, batch_size, num_workers, fewshot_lr, fewshot_epochs,
model_id, seed, feature_root, val_dataloader, device, normalize, amp)` (lines 374-391), with the defaults
fewshot_k -1 (every train image), 10 epochs, lr 0.1 (lines 45-47), seed 0, batch size 64 (lines 50-51),
normalize True (line 52; `type=bool` cannot turn it off from the command line) and amp on (line 42).

`evaluate` (lines 142-312), step by step:
1. asserts device == "cuda" (line 144); featurizes the train, val and test loaders in that order with `Featurizer`
   (lines 35-45: `encode_image`, then `F.normalize(dim=-1)`), caching the features under feature_root/model_id and
   reusing them when present (lines 146-207; we give it a fresh temporary folder);
2. few-shot subset (lines 212-232): a `torch.randperm` of the train features from the global generator, keeping per
   class the first `fewshot_k` in that order (all of them for -1); a class with fewer prints "insufficient data"
   and returns None (an error here);
3. feature loaders of `batch_size`, every one shuffled, the test loader too (lines 236-263); the head maps the feature
   size to max(train label) + 1 classes (line 264);
4. with a validation split, OpenAI's weight-decay sweep (lines 265-285): 97 values `np.logspace(-6, 2)`, the 7 of
   `np.logspace(-6, 2, 7)` first, then the peak and its neighbours at distance 8, 4, 2, 1 (`find_peak`, lines
   128-139: the best validation top-1, the first of equals); the final head is then trained on train + val
   (fewshot_k -1) or on the few-shot set alone (the fix of CLIP_benchmark issue #125); without one, weight decay 0;
5. `train` (lines 59-107): `torch.manual_seed(seed)`, an `nn.Linear`, AdamW(lr, weight_decay), cross-entropy,
   `cosine_lr` (lines 19-32) without warm-up over epochs x batches, set before each batch; `infer` (lines 110-125);
6. metrics (lines 292-312): `lp_acc1` and `lp_acc5` by `accuracy` (zeroshot_classification.py lines 60-82: the
   true class in `topk`), `lp_acc5` only when the largest test label is >= 5 (NaN otherwise), and
   `lp_mean_per_class_recall`, scikit-learn's `balanced_accuracy_score` of the argmax; fractions.

On CUDA (`device` "cuda"), the library's `evaluate` runs as it is, with two of its module's names swapped for the
call: `accuracy` by a copy (`accuracy` below: the library's `float()` of a one-element array is an error in numpy
2.x, the numbers are the same) and `infer` by a recorder that calls it and keeps the final test logits. The library
cannot run on a CPU (step 1, and `.cuda()` in `train`), so there the same steps are ported (`_port`): the library's
own `Featurizer`, `FeatureDataset`, `cosine_lr` and `infer`, and a copy of `train` without `.cuda()` and
`DataParallel` (with no GPU, DataParallel is the module itself). tests/test_linear_probe.py runs the library's
`evaluate` on the CPU under a shim and gets the same metrics from the port. On both, the per-image table is taken from
the library's shuffled test pass: its order is replayed from the generator (`_in_order`) and checked on the labels.

Our settings: float32 (amp off, as every evaluator here), normalize on, no loader workers, the image loaders batched
by the runner's `batch_size` (the probe's own `batch_size` is the spec's). `torch.manual_seed(seed)` is set just
before featurizing, and the caller's generator state is restored afterwards. cli.py seeds at the start of its run
(line 223), before building the model, whose initialisation draws from the same generator: its few-shot subset and
shuffles are drawn the same way, not the same draws, so a run of cli.py and one here agree in distribution, not bit
for bit.

Metrics, per dataset ("/" made "_" as zeroshot's, e.g. vtab_cifar100), in %: `{dataset}_lp_top1`,
`{dataset}_lp_top5` where the library computes one, `{dataset}_lp_mean_per_class_recall`; `vtab_lp_avg`, the mean
top-1 over the VTAB tasks probed. From the table, whose rows are the library's final test logits: top-1 and top-5
are its lp_acc1 and lp_acc5 x 100 (the same `topk` of the same logits; float32 means, as zeroshot's), the recall its
balanced accuracy x 100 (`mean_per_class_recall`, the same float). `details` keeps the library's own dict per
dataset. The library prints its training progress and progress bars as it goes.

Shapes analogue (`build_shapes`): zeroshot's 42 colour-shape classes of single objects, a train split rendered afresh
and, as the test split, the zero-shot analogue's very images (the same renderer key: the same seed and count give
the same bytes). `linear_probe/shapes_lp_top1` against `zeroshot/shapes_top1` on the same test images then separates
what the image tower encodes from how well the text tower names it.

Not confirmed: the VTAB and ImageNet copies' train splits on the hub could not be listed here (CIFAR-100's viewer
shows train 45k, test 10k); a dataset without train/ is refused with the folder named.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .. import io
from . import encode, zeroshot

log = logging.getLogger(__name__)

TRAIN_SPLIT, TEST_SPLIT = "train", "test"  # cli.py's --train_split and --split defaults (lines 32-34)
# the probe's settings and CLIP_benchmark's defaults for them (cli.py lines 36, 45-47, 50-51)
DEFAULTS = {"fewshot_k": -1, "epochs": 10, "lr": 0.1, "batch_size": 64, "seed": 0, "val_split": None}
WHAT = "linear probe"  # how messages name this evaluator
SHAPES_DATASET = zeroshot.SHAPES_DATASET
SHAPES_KEY = "linear_probe"  # renders the analogue's train split; its test split is zeroshot's ("zeroshot")
COLUMNS = zeroshot.COLUMNS  # the per-sample table's columns (`metrics_from_samples` says what each holds)
LAYOUT = ("CLIP_benchmark's webdataset layout, {root}/wds_{name with '/' made '-'}/ holding classnames.txt, "
          "zeroshot_classification_templates.txt, train/ and test/ (each nshards.txt and shards 0.tar ... N-1.tar of "
          "{key}.cls and {key}.webp/.png/.jpg)")
SHARDSHUFFLE = r"WebDataset\(shardshuffle=\.\.\.\) is None"  # build_wds_dataset leaves it unset: no shuffle anyway


def clip_benchmark_paths(options: dict) -> list[tuple[str, str]]:
    """(config key, folder) of every split that `eval.linear_probe.clip_benchmark` makes the probe read (none while
    it is null): `{root}/wds_{name with "/" made "-"}/{train,test[,val_split]}`, so that the DAG build refuses a
    missing train split before any job. Reads no file and imports no library."""
    block = (options or {}).get("clip_benchmark")
    if not block:
        return []
    if not block.get("root"):
        raise ValueError("eval.linear_probe.clip_benchmark: expected {root: PATH, datasets: [...]}, found no root")
    val = options.get("val_split")
    splits = [TRAIN_SPLIT, TEST_SPLIT] + [val] * bool(val)
    return [(f"eval.linear_probe.clip_benchmark.datasets.{name}.{split}",
             str(zeroshot.wds_folder(block["root"], name) / split))
            for name in zeroshot.clip_benchmark_datasets(block) for split in splits]


def settings(spec: dict) -> dict:
    """The probe's settings (`DEFAULTS`' keys) from a spec, CLIP_benchmark's default for any absent or null;
    ValueError for a value the library cannot run with."""
    found = {key: default if spec.get(key) is None else spec[key] for key, default in DEFAULTS.items()}
    k = found["fewshot_k"]
    if not isinstance(k, int) or isinstance(k, bool) or not (k == -1 or k >= 1):
        raise ValueError(f"{WHAT}: fewshot_k must be -1 (every train image) or a count >= 1, found {k!r}")
    for key in ("epochs", "batch_size"):
        if not isinstance(found[key], int) or isinstance(found[key], bool) or found[key] < 1:
            raise ValueError(f"{WHAT}: {key} must be an integer >= 1, found {found[key]!r}")
    if not isinstance(found["lr"], (int, float)) or found["lr"] <= 0:
        raise ValueError(f"{WHAT}: lr must be > 0, found {found['lr']!r}")
    if found["val_split"] is not None and found["val_split"] in (TRAIN_SPLIT, TEST_SPLIT):
        raise ValueError(f"{WHAT}: val_split must be a third split of each dataset, found {found['val_split']!r}")
    return found


def build_shapes(out_dir: str, world_cfg: dict, options: dict, seed: int) -> dict:
    """zeroshot's analogue with a train split (module docstring): `wds_shapes/` with classnames.txt and the two
    templates (a complete CLIP_benchmark dataset), train/ (`shapes_train_images_per_class` new images a class,
    rendered under `SHAPES_KEY`) and test/ (`shapes_images_per_class` a class: the zero-shot analogue's images, the
    same bytes for the same seed and the same count as eval.zeroshot's). The spec holds the probe's settings from
    `options` (`DEFAULTS` for those absent)."""
    out = zeroshot.wds_folder(out_dir, SHAPES_DATASET)
    zeroshot.write_shapes_split(out, TRAIN_SPLIT, options["shapes_train_images_per_class"], world_cfg, seed,
                                key=SHAPES_KEY)
    zeroshot.write_shapes_split(out, TEST_SPLIT, options["shapes_images_per_class"], world_cfg, seed)
    classes = zeroshot.shapes_classes()
    for name, text in (("classnames.txt", "".join(f"{colour} {shape}\n" for colour, shape in classes)),
                       ("zeroshot_classification_templates.txt", "a small {c}\na large {c}\n")):
        with io.atomic_path(out / name) as tmp:
            tmp.write_text(text, encoding="utf-8")
    probe = {key: default if options.get(key) is None else options[key] for key, default in DEFAULTS.items()}
    return {"clip_benchmark": {"root": ".", "datasets": [SHAPES_DATASET]}, **probe}


def check_dataset(wds_root: Path, dataset: str, val_split: str | None) -> tuple[Path, list[str], dict]:
    """(folder, class names, {split: sample keys}) of one dataset, every file checked before anything is encoded:
    FileNotFoundError for a missing folder, classnames.txt, train / test / val split or shard, ValueError for a
    dataset_type.txt other than classification, an empty list or a sample without image or label."""
    folder = zeroshot.wds_folder(wds_root, dataset)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{WHAT} {dataset}: expected {LAYOUT}; there is no folder {folder}. Download it from "
            f"https://huggingface.co/datasets/clip-benchmark/{folder.name} or drop it from "
            f"eval.linear_probe.clip_benchmark.datasets")
    kind = folder / "dataset_type.txt"
    if kind.is_file() and kind.read_text(encoding="utf-8").strip().lower() != "classification":
        raise ValueError(f"{WHAT} {dataset}: {kind} says {kind.read_text(encoding='utf-8').strip()!r}; only "
                         f"single-label classification datasets are probed")
    names = folder / "classnames.txt"
    for path in (names, folder / "zeroshot_classification_templates.txt"):
        if not path.is_file():
            # build_dataset asserts both lists, templates too, for any wds dataset it reads (builder.py 514-515)
            raise FileNotFoundError(f"{WHAT} {dataset}: expected {LAYOUT}; found no {path}")
    # as build_wds_dataset reads them: each line stripped, blank ones kept (they are classes to it)
    classnames = [line.strip() for line in names.read_text(encoding="utf-8").splitlines()]
    if not classnames:
        raise ValueError(f"{WHAT} {dataset}: {names} is empty")
    splits = [TRAIN_SPLIT] + [val_split] * bool(val_split) + [TEST_SPLIT]
    for split in splits:
        if not (folder / split).is_dir():
            present = sorted(p.name for p in folder.iterdir() if p.is_dir())
            role = {TRAIN_SPLIT: "trained on", TEST_SPLIT: "scored on"}.get(split, "tuned (weight decay) on")
            raise FileNotFoundError(
                f"{WHAT} {dataset}: the probe is {role} the split {split}/ ({split}/nshards.txt and shards 0.tar, ...) "
                f"of {folder}, which has no such folder (its folders: {present or 'none'}); CLIP_benchmark's "
                f"copies on the hub hold train/ and test/ (git lfs pull in {folder}), or drop {dataset} from "
                f"eval.linear_probe.clip_benchmark.datasets")
    return folder, classnames, {split: zeroshot.wds_keys(folder, dataset, split, WHAT) for split in splits}


def evaluate(model, preprocess, tokenizer, spec: dict, root: str = ".", batch_size: int = 256,
             device: str = "cpu") -> tuple[dict, dict, pd.DataFrame]:
    """(metrics, details, samples) of a linear probe on every dataset of the spec's `clip_benchmark` block ({root,
    datasets}; root relative to `root`; datasets null: zeroshot's default list), with the spec's probe settings
    (`settings`). `tokenizer` is not used (images only). metrics: `metrics_from_samples` of the table; details
    {dataset: {"images" (test), "train_images", "val_images", "classes", "weight_decay", "library" (the library's
    own result dict, NaN as None)}} and {"vtab_lp_avg": {"datasets", "of"}}; the table, one row per test image in the
    shards' order, columns `COLUMNS`. Every dataset's files are checked before anything is encoded."""
    options = settings(spec)
    block = spec.get("clip_benchmark") or None
    if not block:
        raise ValueError(f"{WHAT}: the spec names no dataset; expected `clip_benchmark: {{root, datasets}}` ({LAYOUT})")
    if not block.get("root"):
        raise ValueError(f"{WHAT} clip_benchmark: expected {{root: PATH, datasets: [...]}}, found no root")
    wds_root = encode.resolve(root, os.path.expanduser(str(block["root"])))
    checked = {name: check_dataset(wds_root, name, options["val_split"])
               for name in zeroshot.clip_benchmark_datasets(block)}
    details, tables = {}, []
    for name, (folder, classnames, keys) in checked.items():
        table, info = probe_dataset(model, preprocess, name, folder, classnames, keys, options, batch_size, device)
        tables.append(table)
        details[zeroshot.slug(name)] = info
    table = pd.concat(tables, ignore_index=True)
    if vtab := [name for name in details if name in zeroshot.VTAB_SLUGS]:
        details["vtab_lp_avg"] = {"datasets": vtab, "of": len(zeroshot.VTAB)}  # what it averages, of VTAB's 19
    return metrics_from_samples(table), details, table


def loaders(folder: Path, dataset: str, preprocess, options: dict, batch_size: int, device: str = "cpu"):
    """(train, val or None, test) image loaders of one dataset as cli.py builds them for the task (module
    docstring): the library's `build_dataset("wds/{name}")` per split; train (and val) through a DataLoader of
    `batch_size` with default_collate, test through `dataset.batched(batch_size)`; no shuffle, no workers."""
    import torch
    from clip_benchmark.datasets.builder import build_dataset
    from torch.utils.data import DataLoader, default_collate

    def split(name):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=SHARDSHUFFLE)
            return build_dataset(f"wds/{dataset}", root=str(folder), transform=preprocess, split=name,
                                 download=False)

    pin = torch.device(device).type == "cuda"
    train = DataLoader(split(TRAIN_SPLIT), batch_size=batch_size, shuffle=False, num_workers=0,
                       collate_fn=default_collate, pin_memory=pin)
    val = None
    if options["val_split"]:
        val = DataLoader(split(options["val_split"]), batch_size=batch_size, shuffle=False, num_workers=0,
                         collate_fn=default_collate, pin_memory=pin)
    test = DataLoader(split(TEST_SPLIT).batched(batch_size), batch_size=None, shuffle=False, num_workers=0)
    return train, val, test


def probe_dataset(model, preprocess, dataset, folder, classnames, keys, options, batch_size, device):
    """One dataset: the probe (`probe`) and its table (zeroshot's `ranked_table` of the head's test logits).
    ValueError for labels outside the class list or test labels the head cannot output (no train image of them)."""
    import torch

    dev = torch.device(device)
    model.eval().to(dev)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=SHARDSHUFFLE)
        result, logits, targets = probe(model, *loaders(folder, dataset, preprocess, options, batch_size, device),
                                        options, device)
    if len(targets) != len(keys[TEST_SPLIT]):
        raise RuntimeError(f"{WHAT} {dataset}: the library read {len(targets)} test samples, the shards' headers "
                           f"name {len(keys[TEST_SPLIT])}")
    if logits.shape[1] > len(classnames):
        raise ValueError(f"{WHAT} {dataset}: train labels reach {logits.shape[1] - 1}, classnames.txt names "
                         f"{len(classnames)} classes")
    if int(targets.max()) >= logits.shape[1]:
        raise ValueError(f"{WHAT} {dataset}: test label {int(targets.max())} has no train image (the head outputs "
                         f"classes 0-{logits.shape[1] - 1})")
    table = zeroshot.ranked_table(zeroshot.slug(dataset), keys[TEST_SPLIT], logits, targets, classnames)
    if int(table["correct"].sum()) / len(table) != result["lp_acc1"]:  # only an exact tie of logits could do it
        log.warning("%s %s: the table's top-1 %d/%d differs from the library's lp_acc1 %s", WHAT, dataset,
                    int(table["correct"].sum()), len(table), result["lp_acc1"])
    # plain JSON: NaN (no top-5 under 5 classes) as null, numpy's floats (scikit-learn's recall) as floats
    library = {key: (None if np.isnan(value) else float(value)) if isinstance(value, float) else value
               for key, value in result.items()}
    info = {"images": len(table), "train_images": len(keys[TRAIN_SPLIT]),
            "val_images": len(keys[options["val_split"]]) if options["val_split"] else 0, "classes": len(classnames),
            "weight_decay": result["weight_decay"], "library": library}
    return table, info


def probe(model, train_loader, val_loader, test_loader, options: dict, device: str = "cpu"):
    """CLIP_benchmark's linear probe of `model` on the three image loaders: the library's `evaluate` on CUDA, the
    port on a CPU (module docstring). Returns (the library's result dict: lp_acc1, lp_acc5, lp_mean_per_class_recall
    as fractions, weight_decay, epochs, seed, fewshot_k, normalized; the head's test logits (images x classes,
    float32, in the test loader's order); the test labels in that order).
    The global generator is seeded with `seed` first and restored afterwards. ValueError for a few-shot count some
    class cannot fill."""
    import torch

    dev = torch.device(device)
    cuda = dev.type == "cuda"
    with torch.random.fork_rng(devices=list(range(torch.cuda.device_count())) if cuda else []):
        torch.manual_seed(options["seed"])
        if cuda:
            if dev.index is not None:
                torch.cuda.set_device(dev)  # the library moves everything to "cuda": make that the model's device
            return _library(model, train_loader, val_loader, test_loader, options)
        return _port(model, train_loader, val_loader, test_loader, options)


def accuracy(output, target, topk=(1,)):
    """CLIP_benchmark's `accuracy` (zeroshot_classification.py lines 60-82): the share of rows whose target is
    among the `topk` logits, per k. Its count is taken as the one element of the array where the library calls
    `float()` on the array, an error in numpy 2.x: the same floats."""
    pred = output.topk(max(topk), 1, True, True)[1].t()
    correct = pred.eq(target.view(1, -1).expand_as(pred))
    n = len(target)
    return [float(correct[:k].reshape(-1).float().sum(0, keepdim=True).cpu().numpy()[0]) / n for k in topk]


def _insufficient(options):
    return ValueError(f"{WHAT}: fewshot_k {options['fewshot_k']} but some class has fewer train images (the "
                      f"library prints 'insufficient data for this eval' and returns nothing)")


def _library(model, train_loader, val_loader, test_loader, options):
    """The library's `evaluate` on CUDA, its `accuracy` made numpy-2-safe and its `infer` recorded (module
    docstring), features cached in a temporary folder."""
    import torch
    from clip_benchmark.metrics import linear_probe as lp

    calls, infer, saved = [], lp.infer, (lp.infer, lp.accuracy)

    def recording_infer(model, dataloader, amp, device):
        state = torch.get_rng_state()  # what the shuffled loader draws its order from
        logits, target = infer(model, dataloader, amp, device)
        calls.append((dataloader, state, logits, target))
        return logits, target

    lp.infer, lp.accuracy = recording_infer, accuracy
    try:
        with tempfile.TemporaryDirectory() as feature_root:
            result = lp.evaluate(model, train_loader, test_loader, options["fewshot_k"], options["batch_size"], 0,
                                 options["lr"], options["epochs"], "probe", options["seed"], feature_root, "cuda",
                                 val_dataloader=val_loader, normalize=True, amp=False)
    finally:
        lp.infer, lp.accuracy = saved
    if result is None:
        raise _insufficient(options)
    loader, state, logits, target = calls[-1]  # evaluate's last inference is the final head's on the test set
    return result, _in_order(loader, state, logits, target), loader.dataset.targets.cpu()


def _train(dataloader, input_shape, output_shape, weight_decay, lr, epochs, seed):
    """The library's `train` (lines 59-107) on the CPU: without `.cuda()`, DataParallel (the module itself without
    a GPU), autocast (amp off) and the progress print."""
    import torch
    from clip_benchmark.metrics import linear_probe as lp

    torch.manual_seed(seed)
    model = torch.nn.Linear(input_shape, output_shape)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    criterion = torch.nn.CrossEntropyLoss()
    len_loader = len(dataloader)
    scheduler = lp.cosine_lr(optimizer, lr, 0., epochs * len_loader)
    for epoch in range(epochs):
        for i, (x, y) in enumerate(dataloader):
            scheduler(i + epoch * len_loader)
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
    return model


def _find_peak(wd_list, idxs, train_loader, val_loader, input_shape, output_shape, options):
    """The library's `find_peak` (lines 128-139): the index of the weight decay whose head has the best validation
    top-1, the first of equals."""
    from clip_benchmark.metrics import linear_probe as lp

    best_wd_idx, max_acc = 0, 0
    for idx in idxs:
        model = _train(train_loader, input_shape, output_shape, wd_list[idx], options["lr"], options["epochs"],
                       options["seed"])
        logits, target = lp.infer(model, val_loader, False, "cpu")
        acc1, = accuracy(logits.float(), target.float(), topk=(1,))
        if max_acc < acc1:
            best_wd_idx, max_acc = idx, acc1
    return best_wd_idx


def _port(model, train_loader, val_loader, test_loader, options):
    """The library's `evaluate` (lines 142-312) on the CPU, step for step (module docstring): the same draws from
    the global generator in the same order, so the same head and the same metrics."""
    import torch
    from clip_benchmark.metrics import linear_probe as lp
    from sklearn.metrics import balanced_accuracy_score
    from torch.utils.data import DataLoader

    fewshot_k, batch_size = options["fewshot_k"], options["batch_size"]
    featurizer = lp.Featurizer(model, True)
    cached = {}
    # lines 158-207: each loader iterated once, train, val, test (each iteration draws its base seed)
    for split, loader in (("train", train_loader), ("val", val_loader), ("test", test_loader)):
        if loader is None:
            continue
        features, targets = [], []
        with torch.no_grad():
            for images, target in loader:
                features.append(featurizer(images.to("cpu")).cpu())
                targets.append(target)
        cached[split] = torch.cat(features), torch.cat(targets)
    features, targets = cached["train"]

    # lines 212-235: the few-shot subset, in the order of a random permutation
    perm = [p.item() for p in torch.randperm(len(features))]
    idxs, counts = [], {}
    for p in perm:
        target = targets[p].item()
        counts.setdefault(target, 0)
        if fewshot_k < 0 or counts[target] < fewshot_k:
            counts[target] += 1
            idxs.append(p)
    if fewshot_k > 0 and any(count != fewshot_k for count in counts.values()):
        raise _insufficient(options)
    train_features, train_labels = features[idxs], targets[idxs]

    def shuffled(dataset):  # lines 240-263: every feature loader shuffles
        return DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=0)

    if val_loader is not None:
        features_val, targets_val = cached["val"]
        feature_val_loader = shuffled(lp.FeatureDataset(features_val, targets_val))
        feature_train_val_loader = shuffled(lp.FeatureDataset(np.concatenate((train_features, features_val)),
                                                              np.concatenate((train_labels, targets_val))))
    feature_train_loader = shuffled(lp.FeatureDataset(train_features, train_labels))
    feature_test_loader = shuffled(lp.FeatureDataset(*cached["test"]))
    input_shape, output_shape = features[0].shape[0], targets.max().item() + 1
    if val_loader is not None:  # lines 265-285: OpenAI's weight-decay sweep
        wd_list = np.logspace(-6, 2, num=97).tolist()
        wd_list_init = np.logspace(-6, 2, num=7).tolist()
        wd_init_idx = [i for i, val in enumerate(wd_list) if val in wd_list_init]
        peak_idx = _find_peak(wd_list, wd_init_idx, feature_train_loader, feature_val_loader, input_shape,
                              output_shape, options)
        step_span = 8
        while step_span > 0:
            left, right = max(peak_idx - step_span, 0), min(peak_idx + step_span, len(wd_list) - 1)
            peak_idx = _find_peak(wd_list, [left, peak_idx, right], feature_train_loader, feature_val_loader,
                                  input_shape, output_shape, options)
            step_span //= 2
        best_wd = wd_list[peak_idx]
        # the whole train set with val; a few-shot head on its few shots alone
        train_loader = feature_train_val_loader if fewshot_k < 0 else feature_train_loader
    else:
        best_wd = 0
        train_loader = feature_train_loader

    # lines 290-312
    final_model = _train(train_loader, input_shape, output_shape, best_wd, options["lr"], options["epochs"],
                         options["seed"])
    state = torch.get_rng_state()
    logits, target = lp.infer(final_model, feature_test_loader, False, "cpu")
    pred = logits.argmax(axis=1)
    if target.max() >= 5:
        acc1, acc5 = accuracy(logits.float(), target.float(), topk=(1, 5))
    else:
        acc1, = accuracy(logits.float(), target.float(), topk=(1,))
        acc5 = float("nan")
    result = {"lp_acc1": acc1, "lp_acc5": acc5, "lp_mean_per_class_recall": balanced_accuracy_score(target, pred),
              "weight_decay": best_wd, "epochs": options["epochs"], "seed": options["seed"], "fewshot_k": fewshot_k,
              "normalized": True}
    return result, _in_order(feature_test_loader, state, logits, target), feature_test_loader.dataset.targets


def _in_order(loader, state, logits, target):
    """The rows of `logits` (from the library's `infer` over the shuffled feature `loader`, run from generator state
    `state`) put back in the order of loader.dataset: the loader's permutation is drawn again from `state` the same
    way (one draw for the iterator's base seed, one seeding RandomSampler), then the generator is put back.
    RuntimeError if the labels do not come out in that order (the replay is not the loader's)."""
    import torch
    from torch.utils.data import DataLoader

    after = torch.get_rng_state()
    torch.set_rng_state(state)
    order = torch.cat(list(DataLoader(range(len(loader.dataset)), batch_size=loader.batch_size, shuffle=True)))
    torch.set_rng_state(after)
    if not torch.equal(torch.as_tensor(loader.dataset.targets).cpu()[order], target.cpu()):
        raise RuntimeError(f"{WHAT}: the replayed order of the shuffled test loader does not give its labels")
    ordered = torch.empty_like(logits)
    ordered[order] = logits
    return ordered


def mean_per_class_recall(samples: pd.DataFrame) -> float:
    """scikit-learn's `balanced_accuracy_score` of a table's rows (a fraction): per true class (label_index, in
    sorted order) the share of its rows that are correct, then their mean, in float64 as it computes them."""
    labels = samples["label_index"].to_numpy()
    correct = samples["correct"].to_numpy()
    classes = np.unique(labels)
    hits = np.array([correct[labels == c].sum() for c in classes], dtype=np.int64)
    totals = np.array([(labels == c).sum() for c in classes], dtype=np.int64)
    return float(np.mean(hits / totals))


def metrics_from_samples(samples: pd.DataFrame) -> dict:
    """Per dataset in the table's order (%): {dataset}_lp_top1, the share of its test images whose true class the
    head ranks first; {dataset}_lp_top5, in its first five, where the library reports one (the largest test label
    >= 5); {dataset}_lp_mean_per_class_recall (`mean_per_class_recall`); then vtab_lp_avg, the mean top-1 of the
    VTAB tasks in the table, where there are any.

    Columns, one row per test image, as zeroshot's table: category (the dataset, "/" made "_"), sample_id (its
    webdataset `__key__`), correct (bool: rank == 1), rank (1-based, of the true class among the head's logits;
    zeroshot's `class_ranks`), label / predicted (class names of the true and the first-ranked class), label_index /
    predicted_index (their positions in classnames.txt)."""
    metrics, vtab = {}, []
    for category, rows in samples.groupby("category", sort=False):
        rank = rows["rank"].to_numpy()
        # float32 means, as zeroshot's: the same floats from the table as from the tensors
        metrics[f"{category}_lp_top1"] = encode.mean32(rank == 1) * 100
        if rows["label_index"].max() >= 5:
            metrics[f"{category}_lp_top5"] = encode.mean32(rank <= 5) * 100
        metrics[f"{category}_lp_mean_per_class_recall"] = mean_per_class_recall(rows) * 100
        if category in zeroshot.VTAB_SLUGS:
            vtab.append(metrics[f"{category}_lp_top1"])
    if vtab:
        metrics["vtab_lp_avg"] = sum(vtab) / len(vtab)
    return metrics
