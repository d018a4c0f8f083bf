"""Zero-shot classification: top-1 (and top-5) over class names and prompt templates, in two layouts.

1. CLIP_benchmark's webdataset layout (`clip_benchmark` spec block), read and scored by the `clip_benchmark` library
   itself (github.com/LAION-AI/CLIP_benchmark, package `clip-benchmark` 1.6.2): its `build_dataset("wds/{name}")`
   (`clip_benchmark/datasets/builder.py`, `build_wds_dataset`), its `zero_shot_classifier` and
   `run_classification` (`clip_benchmark/metrics/zeroshot_classification.py`; its `accuracy` fails beside numpy
   2.4, so the same `topk` is taken here: `clip_benchmark_table`), run as its `cli.py` runs them for a wds dataset
   (`dataset.batched(batch_size)`, shuffle off), in float32 (`amp=False`, as our other evaluators). A
   dataset `vtab/cifar10` lives at `{root}/wds_vtab-cifar10/` (the CLI's `{dataset_cleaned}`: "/" made "-"; its
   README points `--dataset_root` at `https://huggingface.co/datasets/clip-benchmark/wds_{dataset_cleaned}`):
       classnames.txt                           one class name a line, in label order
       zeroshot_classification_templates.txt    one prompt a line, `{c}` standing for the class name
       test/nshards.txt                         the number of shards N
       test/0.tar ... test/{N-1}.tar            per sample `{key}.cls` (the label, an integer) and
                                                `{key}.webp` / `.png` / `.jpg` / `.jpeg` (the image)
   as `clip_benchmark.webdataset_builder.convert_dataset` writes it (keys `s0000000`, ...; `dataset_type.txt`
   absent or "classification": a retrieval or multilabel set is refused). Download one with
   `git clone https://huggingface.co/datasets/clip-benchmark/wds_vtab-cifar10` (git-lfs). The default list
   (`DEFAULT_DATASETS`) is CLIP_benchmark's "vtab" collection (`dataset_collection["vtab"]` in builder.py: VTAB's
   19 tasks, sun397 among them and CIFAR-10 not) and ImageNet-1k (`imagenet1k`).
2. torchvision's ImageFolder layout (`datasets` spec block), for ImageNet kept as folders: root/{class folder}/
   {image}, a class-name file with one name per line in the sorted order of the class folders, and a template file
   with one prompt per line, `{}` standing for the class name. ImageNet-1k's 1000 names and OpenAI's 80 templates
   ship in `tripletclip/evals/data/` (`classnames: imagenet`, `templates: openai_imagenet`). The classifier is
   open_clip's `build_zero_shot_classifier`: each class's mean normalized prompt embedding, as CLIP_benchmark's.

Both give the same accuracy on the same images and prompts (tests/test_clip_benchmark.py). Metrics per dataset:
`{dataset}_top1` ("/" made "_", CLIP_benchmark's own result-file slug: `vtab_cifar10_top1`), `{dataset}_top5` except
for VTAB's tasks (VTAB reports top-1 only; ImageNet's top-5 is the paper's), and `vtab_avg`, the mean top-1 over the
VTAB tasks evaluated.

ImageNet's validation set as folders: `ILSVRC2012_img_val.tar` unpacks flat, 50,000 JPEGs in one folder. It must
first be sorted into one folder per WordNet id (n01440764, ...), whose sorted order is the order of the shipped
names: with `valprep.sh` (github.com/soumith/imagenetloader.torch, the script pytorch/examples' ImageNet README
points to), or with `torchvision.datasets.ImageNet(root, split="val")`, which sorts them by the devkit's ground
truth (`ILSVRC2012_devkit_t12.tar.gz`) into `root/val/`. A flat folder fails with these instructions.
"""

from __future__ import annotations

import io as bytes_io
import os
import re
import tarfile
from pathlib import Path

import pandas as pd

from .. import io, shapes
from . import encode

SHIPPED = {"imagenet": "imagenet_classnames.txt", "openai_imagenet": "openai_imagenet_templates.txt"}
DATA = Path(__file__).parent / "data"
# the per-sample table's columns (`metrics_from_samples` says what each holds)
COLUMNS = ("category", "sample_id", "correct", "rank", "label", "predicted", "label_index",
           "predicted_index")
# CLIP_benchmark 1.6.2's `dataset_collection["vtab"]` (clip_benchmark/datasets/builder.py), in its order; kept here
# so that the DAG build need not import the library (tests/test_clip_benchmark.py checks they are the same)
VTAB = ("vtab/caltech101", "vtab/cifar100", "vtab/clevr_count_all", "vtab/clevr_closest_object_distance",
        "vtab/diabetic_retinopathy", "vtab/dmlab", "vtab/dsprites_label_orientation", "vtab/dsprites_label_x_position",
        "vtab/dtd", "vtab/eurosat", "vtab/kitti_closest_vehicle_distance", "vtab/flowers", "vtab/pets", "vtab/pcam",
        "vtab/resisc45", "vtab/smallnorb_label_azimuth", "vtab/smallnorb_label_elevation", "sun397", "vtab/svhn")
DEFAULT_DATASETS = VTAB + ("imagenet1k",)
WDS_IMAGES = ("webp", "png", "jpg", "jpeg")  # the image extensions build_wds_dataset decodes, in its order
WDS_SPLIT = "test"
SHAPES_DATASET = "shapes"


def slug(dataset: str) -> str:
    """A dataset's name in metrics and tables: "/" made "_" (CLIP_benchmark's `dataset_slug`)."""
    return dataset.replace("/", "_")


VTAB_SLUGS = frozenset(slug(d) for d in VTAB)


def wds_folder(root: str | Path, dataset: str) -> Path:
    """`{root}/wds_{dataset with "/" made "-"}`: where CLIP_benchmark's HF repos put a dataset (clip-benchmark/
    wds_vtab-cifar10)."""
    return Path(os.path.expanduser(str(root))) / f"wds_{dataset.replace('/', '-')}"


def clip_benchmark_datasets(block: dict) -> list[str]:
    """The datasets of a `clip_benchmark` block: its `datasets`, or `DEFAULT_DATASETS` when that is null/absent."""
    datasets = block.get("datasets")
    return list(DEFAULT_DATASETS if datasets is None else datasets)


def clip_benchmark_paths(options: dict) -> list[tuple[str, str]]:
    """(config key, folder) of every dataset that `eval.zeroshot.clip_benchmark` names (none while it is null), for
    the DAG build to refuse missing ones before any job: `{root}/wds_{name with "/" made "-"}`. Reads no file and
    imports no library (this module imports torch through tripletclip.io: import it only where it is needed)."""
    block = (options or {}).get("clip_benchmark")
    if not block:
        return []
    if not block.get("root"):
        raise ValueError("eval.zeroshot.clip_benchmark: expected {root: PATH, datasets: [...]}, found no root")
    return [(f"eval.zeroshot.clip_benchmark.datasets.{name}", str(wds_folder(block["root"], name)))
            for name in clip_benchmark_datasets(block)]


def shapes_classes() -> list[tuple[str, str]]:
    """The shapes analogue's classes, (colour, shape) in sorted order: every combination, held-out ones included."""
    return sorted((colour, shape) for colour in shapes.COLOURS for shape in shapes.SHAPES)


def write_shapes_split(out: Path, split: str, images_per_class: int, world_cfg: dict, seed: int,
                       key: str = "zeroshot") -> int:
    """`images_per_class` single-object images of every class of `shapes_classes()` (label = its position), written
    as the CLIP_benchmark webdataset split `out/{split}/`: 0.tar ... and nshards.txt, keys s0000000, ... in label
    order, PNG images (lossless, as the library's default webp). `key` seeds the sizes and the pictures: the same
    key, seed and count give the same bytes. Returns the number of shards."""
    import webdataset as wds

    rng = shapes.keyed_rng(key, seed)
    (out / split).mkdir(parents=True, exist_ok=True)
    for stale in (out / split).glob("*.tar"):  # a rebuild with fewer shards leaves none of the old behind
        stale.unlink()
    index = 0
    # mtime fixed, as `io.shard_writer` fixes it: the same build gives the same bytes
    with wds.ShardWriter(str(out / split / "%d.tar"), maxcount=10_000, verbose=0, mtime=0) as sink:
        for label, (colour, shape) in enumerate(shapes_classes()):
            for i in range(images_per_class):
                scene = shapes.Scene((shapes.Obj(rng.choice(shapes.SIZES), colour, shape),), "left")
                # the seed the ImageFolder analogue rendered each image with: the same pictures as before
                image = shapes.render(scene, world_cfg["image_size"],
                                      seed=f"{key}:{seed}:{colour}_{shape}:{i:04d}.jpg")
                png = bytes_io.BytesIO()
                image.save(png, format="PNG")
                sink.write({"__key__": f"s{index:07d}", "png": png.getvalue(), "cls": label})
                index += 1
        shards = sink.shard
    with io.atomic_path(out / split / "nshards.txt") as tmp:
        tmp.write_text(f"{shards}\n", encoding="utf-8")
    return shards


def build_shapes(out_dir: str, world_cfg: dict, options: dict, seed: int) -> dict:
    """Single-object images, one class per colour-shape combination (held-out combinations included), written as a
    CLIP_benchmark webdataset `wds_shapes/` (module docstring; `write_shapes_split`): labels in the sorted class
    order, two templates. Evaluated through the library."""
    out = wds_folder(out_dir, SHAPES_DATASET)
    write_shapes_split(out, WDS_SPLIT, options["shapes_images_per_class"], world_cfg, seed)
    for name, text in (("classnames.txt", "".join(f"{colour} {shape}\n" for colour, shape in shapes_classes())),
                       ("zeroshot_classification_templates.txt", "a small {c}\na large {c}\n")):
        with io.atomic_path(out / name) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return {"clip_benchmark": {"root": ".", "datasets": [SHAPES_DATASET]}}


def read_lines(root: str | Path, name: str, what: str = "zero-shot list") -> list[str]:
    """The non-empty lines of a shipped list (`imagenet`, `openai_imagenet`) or of a UTF-8 file. FileNotFoundError
    naming `what` when the file is missing, ValueError when it is empty."""
    path = Path(DATA / SHIPPED[name] if name in SHIPPED else encode.resolve(root, name))
    if not path.is_file():
        raise FileNotFoundError(f"{what}: expected a text file, one entry a line, or one of {sorted(SHIPPED)}; "
                                f"found no file {path}")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"{what}: {path} is empty")
    return lines


def image_folder(path: Path, name: str):
    """torchvision's ImageFolder over `path`; FileNotFoundError saying how to arrange a folder that is missing,
    flat (images but no class folder, as ImageNet's validation tarball unpacks) or whose class folders hold no
    image."""
    from torchvision.datasets import ImageFolder
    from torchvision.datasets.folder import IMG_EXTENSIONS

    layout = f"torchvision's ImageFolder layout, {path}/<class folder>/<image>, the class folders in `classnames` order"
    if not path.is_dir():
        raise FileNotFoundError(f"zero-shot {name}: expected {layout}; {path} is not a folder")
    entries = list(path.iterdir())
    if not any(entry.is_dir() for entry in entries):
        images = sum(entry.suffix.lower() in IMG_EXTENSIONS for entry in entries)
        raise FileNotFoundError(
            f"zero-shot {name}: expected {layout}; {path} holds {images} images and no class folder. A flat folder "
            f"is how ImageNet's ILSVRC2012_img_val.tar unpacks: sort it into its 1000 WordNet-id folders (n01440764, "
            f"...), which the shipped `imagenet` names follow, by running valprep.sh "
            f"(https://raw.githubusercontent.com/soumith/imagenetloader.torch/master/valprep.sh) in it, or by "
            f"torchvision.datasets.ImageNet(root, split='val') with ILSVRC2012_img_val.tar and the devkit "
            f"ILSVRC2012_devkit_t12.tar.gz (its ground truth) in root, then set image_dir to root/val")
    try:
        return ImageFolder(str(path))
    except FileNotFoundError as error:  # class folders without a single image
        raise FileNotFoundError(f"zero-shot {name}: expected {layout}; {error}") from None


def wds_lines(folder: Path, file: str, dataset: str) -> list[str]:
    """The lines of a wds metadata file as build_wds_dataset reads them (each stripped, blank ones kept: they would
    be a class or a prompt to it); FileNotFoundError / ValueError naming the dataset when it is missing or empty."""
    path = folder / file
    if not path.is_file():
        raise FileNotFoundError(f"zero-shot {dataset}: expected CLIP_benchmark's webdataset layout with {file} in "
                                f"{folder}; found no such file")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    if not lines:
        raise ValueError(f"zero-shot {dataset}: {path} is empty")
    return lines


def wds_keys(folder: Path, dataset: str, split: str = WDS_SPLIT, what: str = "zero-shot") -> list[str]:
    """The `__key__` of every sample of `folder`/{split}/{0..N-1}.tar in the order webdataset reads them, from the tar
    headers alone (no image is read): files grouped into samples by webdataset's own `group_by_keys`. FileNotFoundError
    for a missing nshards.txt or shard, ValueError for a sample without an image or a `.cls` label: checked before
    anything is encoded. `what` begins the messages (the evaluator's name)."""
    from webdataset.tariterators import group_by_keys, meta_prefix, meta_suffix

    split = folder / split
    count = split / "nshards.txt"
    if not count.is_file():
        raise FileNotFoundError(f"{what} {dataset}: expected CLIP_benchmark's webdataset layout, {split}/"
                                f"nshards.txt and shards 0.tar ... N-1.tar; found no {count}")
    try:
        nshards = int(count.read_text(encoding="utf-8").strip())
    except ValueError:
        raise ValueError(f"{what} {dataset}: {count} must hold the number of shards") from None
    shards = [split / f"{i}.tar" for i in range(nshards)]
    if missing := [str(s) for s in shards if not s.is_file()]:
        raise FileNotFoundError(f"{what} {dataset}: nshards.txt says {nshards} shards; {len(missing)} missing, "
                                f"e.g. {missing[0]}")

    def headers():
        for shard in shards:
            with tarfile.open(shard) as tar:
                for member in tar:
                    name = member.name
                    # what webdataset's tar_file_iterator skips: non-files and __meta__ entries
                    if not member.isreg() or ("/" not in name and name.startswith(meta_prefix)
                                              and name.endswith(meta_suffix)) or re.match(r"__[^/]*__($|/)", name):
                        continue
                    yield {"fname": name, "data": b"", "__url__": str(shard)}
            yield {}  # the end of a shard ends its last sample, as tar_file_expander's eof_value

    keys = []
    for sample in group_by_keys(headers()):
        if not any(ext in sample for ext in WDS_IMAGES) or "cls" not in sample:
            found = sorted(k for k in sample if not k.startswith("__"))
            raise ValueError(f"{what} {dataset}: sample {sample['__key__']!r} of {sample['__url__']} has {found}; "
                             f"expected an image ({', '.join(WDS_IMAGES)}) and a cls label")
        keys.append(sample["__key__"])
    if not keys:
        raise ValueError(f"{what} {dataset}: the shards of {split} hold no sample")
    return keys


def check_wds(root: str | Path, dataset: str) -> tuple[Path, list[str], list[str], list[str]]:
    """(folder, class names, templates, sample keys) of a CLIP_benchmark webdataset, every file checked: a clear
    FileNotFoundError for a dataset listed but absent under root, ValueError for a template without `{c}` or a
    dataset_type.txt other than classification."""
    folder = wds_folder(root, dataset)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"zero-shot {dataset}: expected CLIP_benchmark's webdataset layout in {folder} (classnames.txt, "
            f"zeroshot_classification_templates.txt, test/nshards.txt, test/0.tar, ...); there is no such folder. "
            f"Download it from https://huggingface.co/datasets/clip-benchmark/{folder.name} or drop it from "
            f"eval.zeroshot.clip_benchmark.datasets")
    kind = folder / "dataset_type.txt"
    if kind.is_file() and kind.read_text(encoding="utf-8").strip().lower() != "classification":
        raise ValueError(f"zero-shot {dataset}: {kind} says {kind.read_text(encoding='utf-8').strip()!r}; only "
                         f"single-label classification datasets are evaluated here")
    classnames = wds_lines(folder, "classnames.txt", dataset)
    templates = wds_lines(folder, "zeroshot_classification_templates.txt", dataset)
    if blank := [t for t in templates if "{c}" not in t]:
        raise ValueError(f"zero-shot {dataset} templates: CLIP_benchmark fills `{{c}}` with the class name; "
                         f"{len(blank)} lines lack it, e.g. {blank[0]!r}")
    return folder, classnames, templates, wds_keys(folder, dataset)


def evaluate(model, preprocess, tokenizer, spec: dict, root: str = ".", batch_size: int = 256,
             device: str = "cpu") -> tuple[dict, dict, pd.DataFrame]:
    """(metrics, details, samples) over every dataset of the spec: its ImageFolder `datasets` ({name: {image_dir,
    classnames, templates}}) and its `clip_benchmark` block ({root, datasets}: CLIP_benchmark's webdataset layout,
    scored by the library; `root` relative to `root`). metrics: `metrics_from_samples` of the table; details
    {dataset: {"images", "classes", "top1_per_class"}}, and {"vtab_avg": {"datasets", "of"}} (what it averages);
    the table, one row per image (ImageFolder's order / the shards' order), columns
    `COLUMNS`. Every dataset's files are checked before anything is encoded: a missing or flat image folder, a
    missing list, a class count that differs from the folders', a dataset absent under the wds root all fail at
    once."""
    folders = spec.get("datasets") or {}
    block = spec.get("clip_benchmark") or None
    if not folders and not block:
        raise ValueError("zero-shot: the spec names no dataset; expected `datasets` (ImageFolder) or "
                         "`clip_benchmark: {root, datasets}`")
    image_folders = {}
    for name, d in folders.items():
        folder = image_folder(encode.resolve(root, d["image_dir"]), name)
        classnames = read_lines(root, d["classnames"], f"zero-shot {name} classnames")
        templates = read_lines(root, d["templates"], f"zero-shot {name} templates")
        if blank := [t for t in templates if "{}" not in t]:
            raise ValueError(f"zero-shot {name} templates: every line must hold {{}} for the class name; "
                             f"{len(blank)} do not, e.g. {blank[0]!r}")
        if len(classnames) != len(folder.classes):
            raise ValueError(f"zero-shot {name}: {len(classnames)} class names for {len(folder.classes)} class "
                             f"folders in {d['image_dir']}")
        image_folders[name] = folder, classnames, templates
    wds_sets = {}
    if block:
        if not block.get("root"):
            raise ValueError("zero-shot clip_benchmark: expected {root: PATH, datasets: [...]}, found no root")
        wds_root = encode.resolve(root, os.path.expanduser(str(block["root"])))
        wds_sets = {name: check_wds(wds_root, name) for name in clip_benchmark_datasets(block)}
        if clash := sorted(set(map(slug, wds_sets)) & set(folders)):
            raise ValueError(f"zero-shot: {clash} named both as an image folder and a clip_benchmark dataset")

    details, tables = {}, []
    for name, (folder, classnames, templates) in image_folders.items():
        table = image_folder_table(model, preprocess, tokenizer, name, folder, classnames, templates, batch_size,
                                   device)
        tables.append(table)
        details[name] = dataset_details(table, classnames)
    for name, (folder, classnames, templates, keys) in wds_sets.items():
        table, _ = clip_benchmark_table(model, preprocess, tokenizer, name, folder, classnames, templates,
                                              keys, batch_size, device)
        tables.append(table)
        details[slug(name)] = dataset_details(table, classnames)
    table = pd.concat(tables, ignore_index=True)
    if vtab := [name for name in details if name in VTAB_SLUGS]:
        details["vtab_avg"] = {"datasets": vtab, "of": len(VTAB)}  # what vtab_avg averages, of VTAB's 19 tasks
    return metrics_from_samples(table), details, table


def dataset_details(table: pd.DataFrame, classnames: list[str]) -> dict:
    # per class as before: a float32 mean over each class's images, keyed by name (a repeated name keeps the last of
    # its classes, as the shipped ImageNet names' two "missile" and two "sunglasses" always did here)
    per_class = [encode.mean32(table["correct"][table["label_index"] == c]) * 100 for c in range(len(classnames))]
    return {"images": len(table), "classes": len(classnames), "top1_per_class": dict(zip(classnames, per_class))}


def ranked_table(category: str, ids: list[str], logits, labels, classnames: list[str]) -> pd.DataFrame:
    """The per-sample table of one dataset from its (images x classes) logits and true labels."""
    top, rank = class_ranks(logits, labels)
    labels = labels.tolist()
    return pd.DataFrame({
        "category": category, "sample_id": ids, "correct": (rank == 1).tolist(), "rank": rank.tolist(),
        "label": [classnames[c] for c in labels], "predicted": [classnames[c] for c in top.tolist()],
        "label_index": labels, "predicted_index": top.tolist()}, columns=COLUMNS)


def image_folder_table(model, preprocess, tokenizer, name, folder, classnames, templates, batch_size, device):
    """One ImageFolder dataset: open_clip's classifier, our batched image encoder."""
    import open_clip
    import torch

    with torch.no_grad():
        classifier = open_clip.build_zero_shot_classifier(model.eval().to(device), tokenizer, classnames,
                                                          templates, device=device).float().cpu()
    img = encode.images(model, preprocess, [path for path, _ in folder.samples], batch_size, device,
                        desc=f"{name} images")
    ids = [Path(os.path.relpath(path, folder.root)).as_posix() for path, _ in folder.samples]
    return ranked_table(name, ids, img @ classifier, torch.tensor(folder.targets), classnames)


def clip_benchmark_table(model, preprocess, tokenizer, name, folder, classnames, templates, keys, batch_size,
                         device):
    """One CLIP_benchmark webdataset, read and scored by the library as its cli.py does (float32): its dataset,
    classifier and logits (100 x cosine). Returns the table and {"samples": count}. The library's `accuracy` (and so
    its `evaluate`) cannot run beside numpy 2.4 (`float()` of a one-element array, an error in numpy 2.x); the
    table's ranks take the same `topk` of the same logits (`class_ranks`), so its top-1/top-5 hits are the ones
    `accuracy` counts. RuntimeError if the library read other samples, class names or templates than the files
    hold."""
    import warnings

    import torch
    from clip_benchmark.datasets.builder import build_dataset
    from clip_benchmark.metrics import zeroshot_classification as zsc

    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is not None:
        torch.cuda.set_device(dev)  # the library moves tensors to device.type: make that the model's device
    with warnings.catch_warnings():
        # build_wds_dataset leaves WebDataset's shardshuffle unset, which webdataset warns about; its order is the
        # shards' order either way (no shuffle: nodesplitter identity, one process)
        warnings.filterwarnings("ignore", message=r"WebDataset\(shardshuffle=\.\.\.\) is None")
        dataset = build_dataset(f"wds/{name}", root=str(folder), transform=preprocess, split=WDS_SPLIT,
                                download=False, task="zeroshot_classification")
        if list(dataset.classes) != classnames or list(dataset.templates) != templates:
            raise RuntimeError(f"zero-shot {name}: the library read other class names or templates than {folder}'s")
        loader = torch.utils.data.DataLoader(dataset.batched(batch_size), batch_size=None, shuffle=False,
                                             num_workers=0)
        model.eval().to(dev)
        classifier = zsc.zero_shot_classifier(model, tokenizer, classnames, templates, dev.type, amp=False)
        logits, target = zsc.run_classification(model, classifier, loader, dev.type, amp=False)
    if len(target) != len(keys):
        raise RuntimeError(f"zero-shot {name}: the library read {len(target)} samples, the shards' headers name "
                           f"{len(keys)}")
    return ranked_table(slug(name), keys, logits, target, classnames), {"samples": len(keys)}


def class_ranks(logits, labels):
    """(predicted class, 1-based rank of the true class) per row of (images x classes) logits. Ranks 1 to 5 are
    the positions in `topk(5)`, which open_clip's and CLIP_benchmark's accuracies take (its order among equal logits
    is torch's, unspecified); past those, 1 + the number of classes scoring strictly higher, and never less than 6,
    so that rank <= 5 is exactly their top-5 hit whatever the ties."""
    import torch

    k = min(5, logits.shape[1])
    top = logits.topk(k, dim=1).indices
    hits = top == labels.unsqueeze(1)
    higher = (logits > logits.gather(1, labels.unsqueeze(1))).sum(dim=1) + 1
    rank = torch.where(hits.any(dim=1), hits.float().argmax(dim=1) + 1, higher.clamp(min=k + 1))
    return top[:, 0], rank


def metrics_from_samples(samples: pd.DataFrame) -> dict:
    """Per dataset in the table's order, {dataset}_top1 and, except for VTAB's tasks, {dataset}_top5 (%): the share
    of its images whose true class ranks first / in the first five; then, when VTAB tasks are in the table,
    vtab_avg: the mean of their top-1s (over those evaluated: `details` lists them).

    Columns, one row per image: category (the dataset: its name in the spec's `datasets`, or a CLIP_benchmark name
    with "/" made "_", e.g. vtab_cifar100), sample_id (the image's path in its image folder, class folder/file; or
    its webdataset `__key__`, e.g. s0000042), correct (bool: rank == 1), rank (1-based, of the true class; see
    `class_ranks`), label / predicted (the class names of the true and the first-ranked class), label_index /
    predicted_index (their positions in the class list: names can repeat: the shipped ImageNet names hold "missile"
    and "sunglasses" twice each)."""
    metrics, vtab = {}, []
    for category, rank in samples.groupby("category", sort=False)["rank"]:
        # float32 means, as the metrics were first computed: the same floats
        metrics[f"{category}_top1"] = encode.mean32(rank.to_numpy() == 1) * 100
        if category in VTAB_SLUGS:
            vtab.append(metrics[f"{category}_top1"])
        else:
            metrics[f"{category}_top5"] = encode.mean32(rank.to_numpy() <= 5) * 100
    if vtab:
        metrics["vtab_avg"] = sum(vtab) / len(vtab)
    return metrics
