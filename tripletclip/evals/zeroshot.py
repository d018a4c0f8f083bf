"""Zero-shot classification: an image-folder dataset, class names and prompt templates; top-1 and top-5.

Format: torchvision's ImageFolder layout (root/{class folder}/{image}), a class-name file with one name per line
in the sorted order of the class folders, and a template file with one prompt per line, `{}` standing for the class
name. ImageNet-1k's 1000 names and OpenAI's 80 templates ship in `tripletclip/evals/data/` (`classnames: imagenet`,
`templates: openai_imagenet`). The classifier is open_clip's: each class's mean normalized prompt embedding.

ImageNet's validation set: `ILSVRC2012_img_val.tar` unpacks flat, 50,000 JPEGs in one folder. It must first be
sorted into one folder per WordNet id (n01440764, ...), whose sorted order is the order of the shipped names: with
`valprep.sh` (github.com/soumith/imagenetloader.torch, the script pytorch/examples' ImageNet README points to), or
with `torchvision.datasets.ImageNet(root, split="val")`, which sorts them by the devkit's ground truth
(`ILSVRC2012_devkit_t12.tar.gz`) into `root/val/`. A flat folder fails with these instructions.
"""

from __future__ import annotations

import os
from pathlib import Path

import open_clip
import pandas as pd
import torch
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import IMG_EXTENSIONS

from .. import io, shapes, world
from . import encode

SHIPPED = {"imagenet": "imagenet_classnames.txt", "openai_imagenet": "openai_imagenet_templates.txt"}
DATA = Path(__file__).parent / "data"
# the per-sample table's columns (`metrics_from_samples` says what each holds)
COLUMNS = ("category", "sample_id", "correct", "rank", "label", "predicted", "label_index",
           "predicted_index")


def build_shapes(out_dir: str, world_cfg: dict, options: dict, seed: int) -> dict:
    """Single-object images, one class per colour-shape combination (held-out combinations included)."""
    out = Path(out_dir)
    rng = shapes.keyed_rng("zeroshot", seed)
    classes = sorted((colour, shape) for colour in shapes.COLOURS for shape in shapes.SHAPES)
    for colour, shape in classes:
        scenes = {f"{i:04d}.jpg": shapes.Scene((shapes.Obj(rng.choice(shapes.SIZES), colour, shape),), "left")
                  for i in range(options["shapes_images_per_class"])}
        world.render_all(out / "images" / f"{colour}_{shape}", scenes, world_cfg["image_size"],
                         f"zeroshot:{seed}:{colour}_{shape}")
    with io.atomic_path(out / "classnames.txt") as tmp:
        tmp.write_text("".join(f"{colour} {shape}\n" for colour, shape in classes), encoding="utf-8")
    with io.atomic_path(out / "templates.txt") as tmp:
        tmp.write_text("a small {}\na large {}\n", encoding="utf-8")
    return {"datasets": {"shapes": {"image_dir": "images", "classnames": "classnames.txt",
                                    "templates": "templates.txt"}}}


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


def image_folder(path: Path, name: str) -> ImageFolder:
    """torchvision's ImageFolder over `path`; FileNotFoundError saying how to arrange a folder that is missing,
    flat (images but no class folder, as ImageNet's validation tarball unpacks) or whose class folders hold no
    image."""
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


def evaluate(model, preprocess, tokenizer, spec: dict, root: str = ".", batch_size: int = 256,
             device: str = "cpu") -> tuple[dict, dict, pd.DataFrame]:
    """(metrics, details, samples): {dataset}_top1 and {dataset}_top5 (%) for every dataset of the spec
    (`metrics_from_samples` of the table); details {dataset: {"images", "classes", "top1_per_class"}}; the table,
    one row per image in ImageFolder's order, columns `COLUMNS`. A missing or flat image folder, a missing list or
    a class count that differs from the folders' fails before anything is encoded."""
    details, tables = {}, []
    for name, d in spec["datasets"].items():
        folder = image_folder(encode.resolve(root, d["image_dir"]), name)
        classnames = read_lines(root, d["classnames"], f"zero-shot {name} classnames")
        templates = read_lines(root, d["templates"], f"zero-shot {name} templates")
        if blank := [t for t in templates if "{}" not in t]:
            raise ValueError(f"zero-shot {name} templates: every line must hold {{}} for the class name; "
                             f"{len(blank)} do not, e.g. {blank[0]!r}")
        if len(classnames) != len(folder.classes):
            raise ValueError(f"zero-shot {name}: {len(classnames)} class names for {len(folder.classes)} class "
                             f"folders in {d['image_dir']}")
        with torch.no_grad():
            classifier = open_clip.build_zero_shot_classifier(model.eval().to(device), tokenizer, classnames,
                                                              templates, device=device).float().cpu()
        img = encode.images(model, preprocess, [path for path, _ in folder.samples], batch_size, device,
                            desc=f"{name} images")
        labels = torch.tensor(folder.targets)
        top, rank = class_ranks(img @ classifier, labels)
        ids = [Path(os.path.relpath(path, folder.root)).as_posix() for path, _ in folder.samples]
        table = pd.DataFrame({
            "category": name, "sample_id": ids, "correct": (rank == 1).tolist(), "rank": rank.tolist(),
            "label": [classnames[c] for c in folder.targets], "predicted": [classnames[c] for c in top.tolist()],
            "label_index": folder.targets, "predicted_index": top.tolist()}, columns=COLUMNS)
        tables.append(table)
        # per class as before: a float32 mean over each class's images, keyed by name (a repeated name keeps the
        # last of its classes, as the shipped ImageNet names' two "missile" and two "sunglasses" always did here)
        per_class = [encode.mean32(table["correct"][table["label_index"] == c]) * 100
                     for c in range(len(classnames))]
        details[name] = {"images": len(labels), "classes": len(classnames),
                         "top1_per_class": dict(zip(classnames, per_class))}
    table = pd.concat(tables, ignore_index=True)
    return metrics_from_samples(table), details, table


def class_ranks(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted class, 1-based rank of the true class) per row of (images x classes) logits. Ranks 1 to 5 are
    the positions in `topk(5)`, which open_clip's zero-shot accuracy takes (its order among equal logits is
    torch's, unspecified); past those, 1 + the number of classes scoring strictly higher, and never less than 6,
    so that rank <= 5 is exactly open_clip's top-5 hit whatever the ties."""
    k = min(5, logits.shape[1])
    top = logits.topk(k, dim=1).indices
    hits = top == labels.unsqueeze(1)
    higher = (logits > logits.gather(1, labels.unsqueeze(1))).sum(dim=1) + 1
    rank = torch.where(hits.any(dim=1), hits.float().argmax(dim=1) + 1, higher.clamp(min=k + 1))
    return top[:, 0], rank


def metrics_from_samples(samples: pd.DataFrame) -> dict:
    """{dataset}_top1 and {dataset}_top5 (%), the share of a dataset's images whose true class ranks first / in the
    first five, per dataset in the table's order.

    Columns, one row per image: category (the dataset's name in the spec), sample_id (the image's path in its
    image folder, class folder/file), correct (bool: rank == 1), rank (1-based, of the true class; see
    `class_ranks`), label / predicted (the class names of the true and the first-ranked class), label_index /
    predicted_index (their positions in the class list: names can repeat: the shipped ImageNet names hold "missile" and
    "sunglasses" twice each)."""
    metrics = {}
    for category, rank in samples.groupby("category", sort=False)["rank"]:
        # float32 means, as the metrics were first computed: the same floats
        metrics[f"{category}_top1"] = encode.mean32(rank.to_numpy() == 1) * 100
        metrics[f"{category}_top5"] = encode.mean32(rank.to_numpy() <= 5) * 100
    return metrics
