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

from pathlib import Path

import open_clip
import torch
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import IMG_EXTENSIONS

from .. import io, shapes, world
from . import encode

SHIPPED = {"imagenet": "imagenet_classnames.txt", "openai_imagenet": "openai_imagenet_templates.txt"}
DATA = Path(__file__).parent / "data"


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
             device: str = "cpu") -> tuple[dict, dict]:
    """{dataset}_top1 and {dataset}_top5 (%) for every dataset of the spec. A missing or flat image folder, a
    missing list or a class count that differs from the folders' fails before anything is encoded."""
    metrics, details = {}, {}
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
        top = (img @ classifier).topk(min(5, len(classnames)), dim=1).indices
        hits = top == labels.unsqueeze(1)
        metrics[f"{name}_top1"] = hits[:, 0].float().mean().item() * 100
        metrics[f"{name}_top5"] = hits.any(dim=1).float().mean().item() * 100
        per_class = [hits[labels == c, 0].float().mean().item() * 100 for c in range(len(classnames))]
        details[name] = {"images": len(labels), "classes": len(classnames),
                         "top1_per_class": dict(zip(classnames, per_class))}
    return metrics, details
