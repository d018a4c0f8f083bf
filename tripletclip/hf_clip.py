"""CLIPs saved by transformers, and the TripletCLIP authors' release, read as open_clip models without their code.

Two folder layouts, told apart by their files (`layout`):

- **transformers**: `config.json` with `"model_type": "clip"` and `model.safetensors` or `pytorch_model.bin`
  (sharded: their `.index.json`), as `CLIPModel.save_pretrained` writes: `openai/clip-vit-base-patch32`, READ-CLIP
  (`Mayfull/READ-CLIP`) and most fine-tunes on the hub.
- **tripletclip**: `vision-encoder/` and `text-encoder/`, each a transformers folder of its own (a vision and a text
  model with projection: `CLIPVisionModelWithProjection` / `CLIPTextModelWithProjection` keys), with no logit scale:
  the TripletCLIP authors' `TripletCLIP/{CC3M,CC12M}_*_ViTB12` repositories. Their configs name custom classes of a
  root `utils.py` (`auto_map`), loaded in the authors' evaluation with `trust_remote_code=True`; here only the weights
  and the sizes in the configs are read, and weights that are not the standard layout are refused, naming the file.
  The tokenizer and image processor are those of `openai/clip-vit-base-patch32` (the authors' evaluation loads them
  from there), i.e. open_clip's defaults, unless the folder has its own.

Both become an open_clip `CLIP` of the same sizes (`model_config`), whose state dict `convert` maps key by key:
the q/k/v projections of each block become one packed `in_proj`, the projections are transposed, `pre_layrnorm`
is `ln_pre`, and so on (the inverse of transformers' `convert_clip_original_pytorch_to_hf.py`). transformers'
`hidden_act: quick_gelu` builds a QuickGELU model, `gelu` a GELU one; a text tower that pools at another token than
the highest id (open_clip's argmax, transformers' `eos_token_id` of 2 or the vocabulary's last) is refused.

Preprocessing (`preprocess`) follows the folder's `preprocessor_config.json`: resize of the shortest edge, centre
crop, mean and std, resample. transformers resizes and crops with its own code, open_clip with torchvision's; both
resize the same PIL image with the same filter, but a centre crop of an odd margin is placed half a pixel apart
(transformers rounds the offset down, torchvision to nearest), which moves features by a few 1e-3 on such images
and never on square ones. The tokenizer's context length is `tokenizer_config.json`'s `model_max_length` where it
is set (transformers pads to it), else the text model's `max_position_embeddings`.

Nothing here imports transformers: the configs are JSON, the weights safetensors or `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import torch

CONFIG = "config.json"
WEIGHTS = ("model.safetensors", "pytorch_model.bin")  # transformers' preference order
SUBFOLDERS = ("vision-encoder", "text-encoder")  # the TripletCLIP authors' layout
PREPROCESSOR = "preprocessor_config.json"
TOKENIZER = "tokenizer_config.json"
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
RESAMPLE = {2: "bilinear", 3: "bicubic"}  # PIL's codes, as preprocessor_config.json writes them
# transformers CLIP -> open_clip CLIP, after the tower prefix (vision_model. -> visual., text_model. -> '')
BLOCK = re.compile(r"encoder\.layers\.(\d+)\.(.+)")
BLOCK_PARTS = {"self_attn.out_proj": "attn.out_proj", "layer_norm1": "ln_1", "layer_norm2": "ln_2",
               "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj"}
VISION = {"embeddings.class_embedding": "class_embedding", "embeddings.patch_embedding.weight": "conv1.weight",
          "embeddings.position_embedding.weight": "positional_embedding", "pre_layrnorm.weight": "ln_pre.weight",
          "pre_layrnorm.bias": "ln_pre.bias", "post_layernorm.weight": "ln_post.weight",
          "post_layernorm.bias": "ln_post.bias"}
TEXT = {"embeddings.token_embedding.weight": "token_embedding.weight",
        "embeddings.position_embedding.weight": "positional_embedding", "final_layer_norm.weight": "ln_final.weight",
        "final_layer_norm.bias": "ln_final.bias"}
IGNORED = ("embeddings.position_ids",)  # buffers of older transformers versions
# the files of a repository that `layout`, `model_config`, `preprocess_config`, `context_length` and `weight_files`
# read, for a hub download of only those (fnmatch patterns: a `*` would also match folders of other files)
_NEEDED = (CONFIG, PREPROCESSOR, TOKENIZER, "model.safetensors", "model.safetensors.index.json",
           "model-*-of-*.safetensors")
_PICKLES = ("pytorch_model.bin", "pytorch_model.bin.index.json", "pytorch_model-*-of-*.bin")
HUB_PATTERNS = (*_NEEDED, *(f"{sub}/{name}" for sub in SUBFOLDERS for name in _NEEDED))
HUB_PICKLE_PATTERNS = (*_PICKLES, *(f"{sub}/{name}" for sub in SUBFOLDERS for name in _PICKLES))
# transformers' CLIPVisionConfig / CLIPTextConfig defaults (those of openai/clip-vit-base-patch32), which a saved
# config leaves out when it keeps them: the TripletCLIP authors' configs name only their base model
VISION_DEFAULTS = {"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12, "num_hidden_layers": 12,
                   "image_size": 224, "patch_size": 32, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5,
                   "num_channels": 3, "projection_dim": 512}
TEXT_DEFAULTS = {"hidden_size": 512, "intermediate_size": 2048, "num_attention_heads": 8, "num_hidden_layers": 12,
                 "max_position_embeddings": 77, "vocab_size": 49408, "hidden_act": "quick_gelu",
                 "layer_norm_eps": 1e-5, "eos_token_id": 2, "projection_dim": 512}
BASE_MODEL = "openai/clip-vit-base-patch32"  # whose sizes the defaults are
ROOTS = ("vision_model.", "text_model.", "visual_projection.", "text_projection.", "logit_scale")


def layout(folder: str | os.PathLike) -> str | None:
    """"transformers", "tripletclip" or None (neither: e.g. open_clip's own layout) for a folder."""
    folder = Path(folder)
    if all((folder / sub / CONFIG).is_file() for sub in SUBFOLDERS):
        return "tripletclip"
    if (folder / CONFIG).is_file():
        try:
            config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if isinstance(config, dict) and config.get("model_type") == "clip":
            return "transformers"
    return None


def _json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: holds a JSON {type(value).__name__}, not an object")
    return value


def _tower_configs(folder: Path) -> tuple[dict, dict, int, float | None, list[Path]]:
    """(vision config, text config, projection dim, logit scale init or None, the config files read)."""
    if layout(folder) == "tripletclip":
        files = [folder / sub / CONFIG for sub in SUBFOLDERS]
        vision, text = (_json(f) for f in files)
        # a config of a whole CLIP in a subfolder: its tower, with the projection the whole model's config gives
        # (transformers keeps a stale default in the towers' own configs)
        vision = {**vision["vision_config"], "projection_dim": vision.get("projection_dim", 512)} \
            if "vision_config" in vision else vision
        text = {**text["text_config"], "projection_dim": text.get("projection_dim", 512)} \
            if "text_config" in text else text
        for config, path in ((vision, files[0]), (text, files[1])):
            base = config.get("model_name", BASE_MODEL)
            if base != BASE_MODEL and "hidden_size" not in config:
                raise ValueError(f"{path}: its sizes are those of {base}, which it does not state; only "
                                 f"{BASE_MODEL}'s are known here")
        vision, text = {**VISION_DEFAULTS, **vision}, {**TEXT_DEFAULTS, **text}
        if vision["projection_dim"] != text["projection_dim"]:
            raise ValueError(f"{folder}: the towers' projection_dim differ ({vision['projection_dim']}, "
                             f"{text['projection_dim']}); their features could not be compared")
        return vision, text, vision["projection_dim"], None, files
    config = _json(folder / CONFIG)
    return ({**VISION_DEFAULTS, **(config.get("vision_config") or {})},
            {**TEXT_DEFAULTS, **(config.get("text_config") or {})}, config.get("projection_dim", 512),
            config.get("logit_scale_init_value"), [folder / CONFIG])


def _size(value, what: str, path: Path) -> int:
    """An int from a preprocessor field: 224, {"shortest_edge": 224} or {"height": 224, "width": 224}."""
    if isinstance(value, dict):
        sides = {value[k] for k in ("shortest_edge", "height", "width") if k in value}
        if len(sides) != 1:
            raise ValueError(f"{path}: {what} {value} is not one square size, which open_clip's transforms need")
        value = sides.pop()
    if not isinstance(value, int) or value <= 0:
        raise ValueError(f"{path}: {what} {value!r} is not a size in pixels")
    return value


def preprocess_config(folder: str | os.PathLike, image_size: int) -> dict:
    """{"size": crop, "resize": shortest edge, "mean", "std", "interpolation", "resize_mode": "shortest"} from the
    folder's preprocessor_config.json (the TripletCLIP layout: its root or either subfolder), else OpenAI CLIP's
    (resize and crop to the model's image size, bicubic, OpenAI's mean and std), as CLIPImageProcessor's defaults."""
    folder = Path(folder)
    path = next((p for p in (folder / PREPROCESSOR, *(folder / s / PREPROCESSOR for s in SUBFOLDERS)) if p.is_file()),
                None)
    pp = _json(path) if path else {}
    crop = _size(pp["crop_size"], "crop_size", path) if pp.get("do_center_crop", True) and "crop_size" in pp \
        else image_size
    resize = _size(pp["size"], "size", path) if "size" in pp else crop
    resample = pp.get("resample", 3)
    if resample not in RESAMPLE:
        raise ValueError(f"{path}: resample {resample} is neither bilinear (2) nor bicubic (3)")
    return {"size": crop, "resize": resize, "mean": tuple(pp.get("image_mean", OPENAI_MEAN)),
            "std": tuple(pp.get("image_std", OPENAI_STD)), "interpolation": RESAMPLE[resample],
            "resize_mode": "shortest"}


def context_length(folder: str | os.PathLike, model_cfg: dict) -> int:
    """The tokenizer's context length: tokenizer_config.json's model_max_length where set and within the model's
    positions, else the model's."""
    folder = Path(folder)
    path = next((p for p in (folder / TOKENIZER, *(folder / s / TOKENIZER for s in SUBFOLDERS)) if p.is_file()), None)
    positions = model_cfg["text_cfg"]["context_length"]
    longest = _json(path).get("model_max_length") if path else None
    return longest if isinstance(longest, int) and 0 < longest <= positions else positions


def model_config(folder: str | os.PathLike) -> dict:
    """The open_clip model_cfg (embed_dim, quick_gelu, vision_cfg, text_cfg) of a transformers or TripletCLIP-layout
    folder, read from its config.json files. ValueError naming the file for what open_clip's CLIP cannot build: a
    vision tower without a class token pool, towers of different activations, head sizes that do not divide, a
    pooling token other than the end of text, a non-RGB input."""
    folder = Path(folder)
    vision, text, embed_dim, _, files = _tower_configs(folder)
    where = " and ".join(map(str, files))
    acts = {vision["hidden_act"], text["hidden_act"]}
    if len(acts) != 1 or not acts <= {"quick_gelu", "gelu"}:
        raise ValueError(f"{where}: hidden_act {sorted(acts)}; open_clip's CLIP builds one activation for both towers, "
                         "gelu or quick_gelu")
    cfg = {}
    for name, tower in (("vision", vision), ("text", text)):
        width, heads = tower["hidden_size"], tower["num_attention_heads"]
        layers, inner = tower["num_hidden_layers"], tower["intermediate_size"]
        if not all(isinstance(v, int) and v > 0 for v in (width, heads, layers, inner)) or width % heads:
            raise ValueError(f"{where}: the {name} tower's hidden_size {width}, num_attention_heads {heads}, "
                             f"num_hidden_layers {layers}, intermediate_size {inner} are not a transformer open_clip "
                             "can build")
        cfg[name] = dict(width=width, heads=heads, layers=layers, mlp_ratio=inner / width,
                         eps=tower["layer_norm_eps"])
    if vision["num_channels"] != 3:
        raise ValueError(f"{where}: num_channels {vision['num_channels']}; open_clip's CLIP reads RGB images")
    vocab = text["vocab_size"]
    if text["eos_token_id"] not in (2, vocab - 1):
        raise ValueError(f"{where}: the text tower pools at eos_token_id {text['eos_token_id']}, which is not the "
                         "vocabulary's last id; open_clip pools at the highest token id")
    v, t = cfg["vision"], cfg["text"]
    vision_cfg = {"image_size": vision["image_size"], "patch_size": vision["patch_size"],
                  "layers": v["layers"], "width": v["width"], "head_width": v["width"] // v["heads"],
                  "mlp_ratio": v["mlp_ratio"]}
    text_cfg = {"context_length": text["max_position_embeddings"], "vocab_size": vocab, "width": t["width"],
                "heads": t["heads"], "layers": t["layers"], "mlp_ratio": t["mlp_ratio"]}
    for tower_cfg, c in ((vision_cfg, v), (text_cfg, t)):
        if c["eps"] != 1e-5:  # open_clip's LayerNorm default; say it only when it differs
            tower_cfg["norm_kwargs"] = {"eps": c["eps"]}
    return {"embed_dim": embed_dim, "quick_gelu": acts == {"quick_gelu"}, "vision_cfg": vision_cfg,
            "text_cfg": text_cfg}


def weight_files(folder: str | os.PathLike) -> list[Path]:
    """The weight files of a transformers folder (sharded ones through their index), or of both TripletCLIP
    subfolders. FileNotFoundError naming the folder when one has none."""
    folder = Path(folder)
    if layout(folder) == "tripletclip":
        return [f for sub in SUBFOLDERS for f in weight_files(folder / sub)]
    for name in WEIGHTS:
        index = folder / f"{name}.index.json"
        if index.is_file():
            return [folder / f for f in dict.fromkeys(_json(index).get("weight_map", {}).values())]
        if (folder / name).is_file():
            return [folder / name]
    raise FileNotFoundError(f"{folder}: no weights ({' or '.join(WEIGHTS)}, or a sharded index of them)")


def torch_load(path) -> object:
    """torch.load(path, weights_only=True) on the CPU, memory-mapped where the file allows it (torch's zip format:
    only what is used is read; files of its legacy format cannot be). pickle.UnpicklingError for a pickle that needs
    more than tensors and plain containers."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as e:
        if "mmap" not in str(e):
            raise
        return torch.load(path, map_location="cpu", weights_only=True)


def read_tensors(path: Path, meta: bool = False) -> dict[str, torch.Tensor]:
    """The tensors of one weight file (safetensors, or a pickle read with weights_only). meta: only their shapes and
    dtypes, as meta tensors, from the safetensors header or a memory-mapped pickle (no weights read)."""
    if path.suffix == ".safetensors":
        from safetensors import safe_open
        with safe_open(path, framework="pt") as f:
            if meta:
                return {k: torch.empty(f.get_slice(k).get_shape(), device="meta") for k in f.keys()}
            return {k: f.get_tensor(k) for k in f.keys()}
    import pickle
    try:
        tensors = torch_load(path)
    except pickle.UnpicklingError as e:
        raise ValueError(f"{path} is refused: it holds more than weights, and unpickling it could run code from the "
                         f"file ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    if not isinstance(tensors, dict):
        raise ValueError(f"{path}: holds a {type(tensors).__name__}, not a state dict")
    if meta:
        return {k: torch.empty(v.shape, device="meta") for k, v in tensors.items() if isinstance(v, torch.Tensor)}
    return tensors


def read_weights(folder: str | os.PathLike, meta: bool = False) -> tuple[dict[str, torch.Tensor], list[Path]]:
    """(the folder's transformers state dict, the files read); the TripletCLIP layout's two towers merged."""
    files = weight_files(folder)
    state_dict = {}
    for path in files:
        state_dict.update(strip_wrapper(read_tensors(path, meta=meta), ROOTS, str(path)))
    return state_dict, files


def strip_wrapper(state_dict: dict, roots: tuple[str, ...], where: str) -> dict:
    """`state_dict` without the prefix a wrapper module put on every key ("model." of a PyTorch Lightning module or
    of the TripletCLIP authors' encoder classes, "module." of DDP, ...), repeatedly, while no key starts with one
    of `roots` and all share their first dotted name; logged once per prefix."""
    import logging
    while state_dict and not any(k.startswith(roots) for k in state_dict):
        heads = {k.split(".", 1)[0] for k in state_dict}
        if len(heads) != 1 or not all("." in k for k in state_dict):
            break
        head = heads.pop() + "."
        logging.getLogger(__name__).info("%s: every key starts with %r (a wrapper module's name): stripped", where, head)
        state_dict = {k[len(head):]: v for k, v in state_dict.items()}
    return state_dict


def convert(state_dict: dict[str, torch.Tensor], where: str = "the checkpoint") -> dict[str, torch.Tensor]:
    """open_clip's CLIP state dict from transformers' (CLIPModel, or CLIPVisionModelWithProjection and
    CLIPTextModelWithProjection merged): renamed, q/k/v packed into in_proj_weight (3w, w) and in_proj_bias, the
    projections transposed to (width, embed_dim). Works on meta tensors too (shapes only). A key it does not know
    -> ValueError naming `where` and a few such keys (e.g. weights of a custom class that needs its own code)."""
    out, qkv, unknown = {}, {}, []
    for key, value in state_dict.items():
        if key.endswith(IGNORED):
            continue
        if key == "logit_scale":
            out["logit_scale"] = value.reshape(())
            continue
        if key in ("visual_projection.weight", "text_projection.weight"):
            out["visual.proj" if key.startswith("visual") else "text_projection"] = value.t()
            continue
        tower, _, rest = key.partition(".")
        if tower not in ("vision_model", "text_model"):
            unknown.append(key)
            continue
        prefix, names = ("visual.", VISION) if tower == "vision_model" else ("", TEXT)
        block = BLOCK.fullmatch(rest)
        if block:
            layer, part = block.groups()
            head = f"{prefix}transformer.resblocks.{layer}."
            proj = re.fullmatch(r"self_attn\.([qkv])_proj\.(weight|bias)", part)
            if proj:
                qkv.setdefault((head, proj[2]), {})[proj[1]] = value
                continue
            module, _, param = part.rpartition(".")
            if module in BLOCK_PARTS:
                out[f"{head}{BLOCK_PARTS[module]}.{param}"] = value
                continue
        elif rest in names:
            out[prefix + names[rest]] = value
            continue
        unknown.append(key)
    if unknown:
        raise ValueError(f"{where}: {len(unknown)} weights of no transformers CLIP layer "
                         f"({', '.join(unknown[:4])}{', ...' if len(unknown) > 4 else ''}); a model that needs its "
                         "own code to load (trust_remote_code) is not loaded here")
    for (head, param), parts in qkv.items():
        if set(parts) != {"q", "k", "v"}:
            raise ValueError(f"{where}: {head}attn lacks the {', '.join(sorted({'q', 'k', 'v'} - set(parts)))} "
                             f"projection {param}")
        out[f"{head}attn.in_proj_{param}"] = torch.cat([parts["q"], parts["k"], parts["v"]])
    if "logit_scale" not in out:  # the TripletCLIP layout keeps none: CLIP's initial value, as transformers'
        out["logit_scale"] = torch.tensor(math.log(1 / 0.07), device=next(iter(out.values())).device
                                          if out else "cpu")
    return out
