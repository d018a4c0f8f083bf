"""open_clip models: the shipped tiny config, loading any CLIP the way a config names it, and export as an open_clip
`local-dir:` model.

A config names a model with a *spec* (`ModelSpec`): an open_clip name with a pretrained tag, an `hf-hub:` or
`local-dir:` model, or an open_clip name with a checkpoint file. `load` turns a spec into a model, and on the way
guards against the three ways such a load goes quietly or slowly wrong:

- the QuickGELU trap (`resolve`): OpenAI-derived weights in a GELU config lose accuracy without any error;
- an offline cluster node (`check_available`): a hub download that cannot happen fails at once, with the command
  that fetches the files, instead of after retries deep inside open_clip;
- checkpoint files of other trainers (`read_state_dict`): every usual container, loaded without unpickling code,
  TorchScript archives read without running them (`torchscript`), transformers' CLIP folders and the TripletCLIP
  authors' two-tower release mapped onto open_clip's CLIP (`hf_clip`), and a wrong model name reported by its keys
  rather than by a shape error from inside torch.

`check_loadable` asks the same questions at plan time from shapes alone (meta tensors), so that a model that cannot
load stops `snakemake -n` rather than every job that would load it.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import difflib
import functools
import logging
import os
import pickle
import shlex
import shutil
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import save_file

from . import hf_clip, io, tokenizer, torchscript
from .specs import OUR_CONFIGS, ModelSpec
from .specs import schema as _schema

log = logging.getLogger(__name__)

MODEL_CONFIGS = OUR_CONFIGS
WEIGHTS_NAME = "open_clip_model.safetensors"
# The containers trainers wrap a state dict in, in the order they are tried: open_clip's training checkpoints,
# this repo's trainer (train.py `save`), DeepSpeed.
STATE_DICT_KEYS = ("state_dict", "model", "module")
# Prefixes a wrapper adds to every key: DDP / DataParallel, torch.compile.
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
# Entries of OpenAI's original state dicts that are hyperparameters, not parameters (as open_clip drops them).
OPENAI_EXTRA_KEYS = ("input_resolution", "context_length", "vocab_size")
HUB_CONFIG_NAME = "open_clip_config.json"
HUB_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")  # open_clip's preference order
# transformers' repositories of OpenAI's weights -> open_clip's name and tag for the same weights
OPENAI_HUB_TAGS = {"openai/clip-vit-base-patch32": "ViT-B-32-quickgelu", "openai/clip-vit-base-patch16": "ViT-B-16-quickgelu",
                   "openai/clip-vit-large-patch14": "ViT-L-14-quickgelu",
                   "openai/clip-vit-large-patch14-336": "ViT-L-14-336-quickgelu"}


@functools.cache
def open_clip_with_our_configs():
    """open_clip, with our configs registered as ordinary open_clip model names. Imported on first use: it adds
    ~7 s to torch's start-up (torchvision, transformers, timm), which the export job, a cluster job of its own,
    does not need."""
    import open_clip
    open_clip.add_model_config(MODEL_CONFIGS)
    return open_clip


def create(model_name: str, pretrained: str | None = None, device: str = "cpu"):
    """(model, train transform, eval transform, tokenizer) for an open_clip name, `local-dir:` path or our config;
    the tokenizer is open_clip's, with its fast path for plain captions (`tokenizer.Tokenizer`)."""
    open_clip = open_clip_with_our_configs()
    model, preprocess_train, preprocess_val = open_clip.create_model_and_transforms(
        model_name, pretrained=pretrained, device=device
    )
    return model, preprocess_train, preprocess_val, tokenizer.Tokenizer(open_clip.get_tokenizer(model_name))


def load_checkpoint(path: str) -> dict:
    """The whole checkpoint object of `path` (torch.load, weights only), e.g. this repo's trainer's dict with
    "model", "model_cfg", "optimizer", ...; `read_state_dict` for just the weights of any trainer's file."""
    return torch.load(path, map_location="cpu", weights_only=True)


def model_config(model_name: str) -> dict:
    """The architecture config of an open_clip name, of our configs, of a `local-dir:` model (its
    open_clip_config.json's model_cfg) or of an `hf-hub:` model (the hub's, from the cache when it has it). A copy:
    the caller may change it. ValueError for an unknown name."""
    folder = hf_folder(model_name)
    if folder is not None:
        return hf_clip.model_config(folder)
    if model_name.startswith("local-dir:"):
        return io.read_json(Path(model_name.removeprefix("local-dir:")) / HUB_CONFIG_NAME)["model_cfg"]
    if model_name.startswith("hf-hub:") and (snapshot := _hub_snapshot(model_name.removeprefix("hf-hub:"))) \
            and (snapshot / HUB_CONFIG_NAME).is_file():
        return io.read_json(snapshot / HUB_CONFIG_NAME)["model_cfg"]
    open_clip = open_clip_with_our_configs()
    # open_clip looks names up with "/" as "-" (ViT-B/32 is ViT-B-32)
    name = model_name if model_name.startswith("hf-hub:") else model_name.replace("/", "-")
    model_cfg = open_clip.get_model_config(name)
    if model_cfg is None:
        close = difflib.get_close_matches(name, open_clip.list_models(), n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else " (open_clip.list_models() lists them)"
        raise ValueError(f"unknown open_clip model {model_name!r}{hint}")
    return copy.deepcopy(model_cfg)


def export_local_dir(checkpoint: str, output_dir: str) -> None:
    """Write `output_dir` as an open_clip local directory (open_clip_config.json + safetensors weights) from a
    checkpoint of the trainer (which records the model's config), so that
    `open_clip.create_model_and_transforms("local-dir:" + output_dir)` loads the trained model unchanged."""
    state = load_checkpoint(checkpoint)
    out = Path(output_dir)
    staging = out.with_name(out.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in state["model"].items()}, staging / WEIGHTS_NAME)
    config = {"model_cfg": state["model_cfg"], "preprocess_cfg": state["preprocess_cfg"]}
    io.write_json(staging / HUB_CONFIG_NAME, config)
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)


def _tag_cfg(spec: ModelSpec) -> dict:
    """open_clip's pretrained config of spec's tag ({} when `pretrained` is not a tag of the model: a file)."""
    if spec.pretrained is None or _schema(spec.model):
        return {}
    return open_clip_with_our_configs().get_pretrained_cfg(spec.model.replace("/", "-"), spec.pretrained)


def _quickgelu_fix(model: str) -> str:
    """The config line that makes a model QuickGELU: open_clip's -quickgelu variant where it has one."""
    variant = f"{model.replace('/', '-')}-quickgelu"
    if variant in open_clip_with_our_configs().list_models():
        return f"`model: {variant}`"
    return "`quick_gelu: true`"


def resolve(spec: ModelSpec) -> ModelSpec:
    """`spec`, with QuickGELU forced where its pretrained tag needs it.

    The QuickGELU trap: OpenAI-derived weights (openai, laion400m_*, yfcc15m, cc12m, ...) were trained with
    QuickGELU; loaded into a GELU config (ViT-B-32 rather than ViT-B-32-quickgelu) they run without any error and
    silently lose several SugarCrepe points (an open issue on SugarCrepe's tracker). open_clip only warns. When
    `pretrained` is an open_clip tag whose pretrained config says quick_gelu and the model's config lacks it, this
    returns the spec with quick_gelu=True and logs one warning naming the model, the tag and the config fix.
    Otherwise (a file, hf-hub:, local-dir:, an unknown model) the spec unchanged. Reads open_clip's registries
    only: no download."""
    if spec.quick_gelu or spec.pretrained is None or _schema(spec.model):
        return spec
    tag_cfg = _tag_cfg(spec)
    if not tag_cfg.get("quick_gelu"):
        return spec
    model_cfg = open_clip_with_our_configs().get_model_config(spec.model.replace("/", "-"))
    if model_cfg is None or model_cfg.get("quick_gelu"):
        return spec
    log.warning("%s with pretrained %r: these weights were trained with QuickGELU but %s uses GELU, which silently "
                "costs accuracy; loading it with QuickGELU. Say so in the config: %s", spec.model, spec.pretrained,
                spec.model, _quickgelu_fix(spec.model))
    return dataclasses.replace(spec, quick_gelu=True)


# ---------------------------------------------------------------------------------------------------------------
# Checkpoint files


def _strip_prefixes(state_dict: dict) -> dict:
    """Keys without the prefixes DDP and torch.compile add, when every key has one."""
    changed = True
    while changed and state_dict:
        changed = False
        for prefix in WRAPPER_PREFIXES:
            if all(isinstance(k, str) and k.startswith(prefix) for k in state_dict):
                state_dict = {k[len(prefix):]: v for k, v in state_dict.items()}
                changed = True
    return state_dict


CONVERT_COMMAND = (
    "python -c \"import sys, torch; c = torch.load(sys.argv[1], map_location='cpu', weights_only=False); "
    "c = c.state_dict() if hasattr(c, 'state_dict') else c; "
    "c = next((c[k] for k in ('state_dict', 'model', 'module') if k in c), c); "
    "torch.save({k: v for k, v in c.items() if isinstance(v, torch.Tensor)}, sys.argv[2])\" {path} {out}"
)


def _read_checkpoint(path: str | os.PathLike, meta: bool = False) -> tuple[dict[str, torch.Tensor], dict | None]:
    """(state dict, the model_cfg the file records or None): `read_state_dict`, plus the architecture config that
    this repo's trainer writes beside the weights, which tells whether the weights are QuickGELU ones. meta: the
    tensors' shapes only, as meta tensors (a safetensors header, a memory-mapped pickle: no weights read)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such checkpoint file: {path}" +
                                (" (a directory: name the weights file in it)" if os.path.isdir(path) else ""))
    if path.endswith(".safetensors"):
        return _strip_prefixes(hf_clip.read_tensors(Path(path), meta=meta)), None
    if torchscript.is_torchscript(path):
        # OpenAI's original release files and open_clip's jit=True saves: their tensors, no code run; open_clip
        # rebuilds the causal mask itself
        state_dict = torchscript.read_torchscript(path)
        state_dict.pop("attn_mask", None)
        for key in OPENAI_EXTRA_KEYS:
            state_dict.pop(key, None)
        return state_dict, None
    try:
        checkpoint = hf_clip.torch_load(path)
    except pickle.UnpicklingError as e:
        reason = str(e).strip().splitlines()
        reason = next((line for line in reason if "Unsupported global" in line or "GLOBAL" in line),
                      reason[0] if reason else type(e).__name__)
        reason = reason.split(" Please use")[0].strip()  # torch's advice to allowlist the class: not for a file we distrust
        raise ValueError(
            f"{path} is refused: it holds more than weights ({reason}), and unpickling it could run code "
            f"from the file (torch.load(weights_only=True) refuses it). If you trust the file, convert it once to a "
            f"plain state dict and name the new file instead: "
            f"{CONVERT_COMMAND.replace('{path}', shlex.quote(path)).replace('{out}', shlex.quote(path + '.weights.pt'))}"
        ) from e
    recorded = None
    state_dict = checkpoint
    if isinstance(checkpoint, dict) and not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        key = next((k for k in STATE_DICT_KEYS if isinstance(checkpoint.get(k), dict)), None)
        if key is None:
            raise ValueError(f"{path}: no state dict found: neither a dict of tensors nor one under "
                             f"{', '.join(map(repr, STATE_DICT_KEYS))} (its keys: {', '.join(map(str, checkpoint))})")
        state_dict = checkpoint[key]
        if isinstance(checkpoint.get("model_cfg"), dict):
            recorded = checkpoint["model_cfg"]
    if not isinstance(state_dict, dict):
        raise ValueError(f"{path}: holds a {type(state_dict).__name__}, not a state dict")
    state_dict = _strip_prefixes(state_dict)
    for key in OPENAI_EXTRA_KEYS:
        state_dict.pop(key, None)
    others = [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
    if others:
        raise ValueError(f"{path}: its state dict has entries that are not tensors: {', '.join(map(str, others[:5]))}")
    if meta:
        state_dict = {k: torch.empty(v.shape, dtype=v.dtype, device="meta") for k, v in state_dict.items()}
    return state_dict, recorded


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The weights of a checkpoint file, name -> tensor on the CPU, in every shape open_clip and common trainers
    write: a bare state dict; {"state_dict": ...} (open_clip's training checkpoints, PyTorch Lightning's .ckpt);
    {"model": ...} (this repo's trainer, train.py `save`); {"module": ...} (DeepSpeed); any of these with DDP's
    "module." or torch.compile's "_orig_mod." prefix on every key (another wrapper's prefix, such as a Lightning
    module's "model.", is stripped when the weights meet the model: `_fit_state_dict`); a .safetensors file; a
    TorchScript archive (OpenAI's original release files, open_clip's jit=True saves), read by
    `torchscript.read_torchscript` without running its code, less the `attn_mask` open_clip rebuilds. Pickles are
    read with torch.load(weights_only=True): one that needs more than tensors and plain containers (an
    argparse.Namespace, a whole nn.Module, numpy objects) -> ValueError saying why it is refused and the one-line,
    shell-quoted command that converts it. A missing file -> FileNotFoundError naming it."""
    return _read_checkpoint(path)[0]


def _fit_state_dict(model: torch.nn.Module, state_dict: dict[str, torch.Tensor], where: str = "the checkpoint"
                    ) -> dict[str, torch.Tensor]:
    """The conversions before a strict load: a prefix a wrapper put on every key (a PyTorch Lightning module's
    "model.", ...: `hf_clip.strip_wrapper`, logged), transformers' CLIP layout (`hf_clip.convert`, logged), and open_clip's
    harmless ones (see open_clip.factory.load_checkpoint): third-party layouts it knows, the old text-tower layout
    for CustomTextCLIP, a scalar vs 1-element logit scale and bias, and position ids that newer transformers no
    longer keep. No resizing: a size that differs is a wrong model. Works on meta tensors (shapes only)."""
    from open_clip.convert import convert_state_dict
    from open_clip.model import convert_to_custom_text_state_dict
    ours = model.state_dict()
    if state_dict and not any(k in ours for k in state_dict):
        roots = tuple(dict.fromkeys(k.split(".", 1)[0] + ("." if "." in k else "") for k in ours))
        state_dict = hf_clip.strip_wrapper(state_dict, roots + hf_clip.ROOTS, where)
    if any(k.startswith(("vision_model.", "text_model.")) for k in state_dict):
        log.info("%s: transformers CLIP keys (vision_model., text_model.): mapped onto open_clip's", where)
        state_dict = hf_clip.convert(state_dict, where)
    state_dict = convert_state_dict(model, dict(state_dict))
    if "positional_embedding" in state_dict and not hasattr(model, "positional_embedding"):
        state_dict = convert_to_custom_text_state_dict(state_dict)
    for name in ("logit_scale", "logit_bias"):
        mine = getattr(model, name, None)
        if name in state_dict and isinstance(mine, torch.Tensor) and state_dict[name].ndim != mine.ndim:
            state_dict[name] = state_dict[name].reshape(mine.shape)
    position_ids = "text.transformer.embeddings.position_ids"
    if position_ids in state_dict and position_ids not in ours:
        del state_dict[position_ids]
    return state_dict


def _fit(model: torch.nn.Module, state_dict: dict[str, torch.Tensor], path: str, model_name: str
         ) -> dict[str, torch.Tensor]:
    """`_fit_state_dict`, then every key and shape checked against `model`: ValueError naming the file, the model
    and a few of the missing, unexpected and mis-shaped keys."""
    state_dict = _fit_state_dict(model, state_dict, path)
    ours = model.state_dict()
    missing = [k for k in ours if k not in state_dict]
    unexpected = [k for k in state_dict if k not in ours]
    shapes = [f"{k} {tuple(state_dict[k].shape)} in the file, {tuple(v.shape)} in the model"
              for k, v in ours.items() if k in state_dict and state_dict[k].shape != v.shape]
    if missing or unexpected or shapes:
        parts = [f"{len(keys)} {what} ({'; '.join(keys[:4])}{', ...' if len(keys) > 4 else ''})"
                 for what, keys in (("missing keys", missing), ("unexpected keys", unexpected),
                                    ("shape mismatches", shapes)) if keys]
        raise ValueError(f"{path} does not fit model {model_name}: {', '.join(parts)}. The usual cause is a wrong "
                         f"model name (e.g. ViT-B-16 weights with model: ViT-B-32): name the architecture the "
                         f"checkpoint was trained as")
    return state_dict


def _load_strict(model: torch.nn.Module, state_dict: dict[str, torch.Tensor], path: str, model_name: str) -> None:
    """Load `state_dict` into `model`, every key and shape matching (`_fit`)."""
    model.load_state_dict(_fit(model, state_dict, path, model_name), strict=True)


# ---------------------------------------------------------------------------------------------------------------
# Offline hub


def _hub_offline() -> bool:
    """Whether the Hugging Face hub is off: huggingface_hub's own flag (read from HF_HUB_OFFLINE /
    TRANSFORMERS_OFFLINE when it was imported) or those variables now, which a job may set after the import."""
    from huggingface_hub import constants
    now = any(os.environ.get(v, "").upper() in ("1", "ON", "YES", "TRUE")
              for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return bool(constants.HF_HUB_OFFLINE) or now


def _hub_cache() -> str:
    from huggingface_hub import constants
    return constants.HF_HUB_CACHE


def _cached(repo: str, filename: str) -> bool:
    from huggingface_hub import try_to_load_from_cache
    # a str is the cached file; None and the "known not to exist" marker are not
    return isinstance(try_to_load_from_cache(repo, filename), str)


def _repo_cached(repo: str) -> bool:
    """Whether any snapshot of hub repo `repo` is in the cache (tokenizer and text-model repos, whose needed files
    vary by model)."""
    from huggingface_hub.file_download import repo_folder_name
    snapshots = Path(_hub_cache()) / repo_folder_name(repo_id=repo, repo_type="model") / "snapshots"
    return snapshots.is_dir() and any(snapshots.iterdir())


def _hf_download(repo: str, files: list[str] = (), include: tuple[str, ...] = ()) -> str:
    """The `hf download` command line that puts these files where this process's huggingface_hub looks."""
    parts = ["hf", "download", repo, *files]
    if include:
        parts += ["--include", *include]
    return shlex.join([*parts, "--cache-dir", _hub_cache()])


def _weight_alternatives(filename: str) -> tuple[str, ...]:
    """The names open_clip's download_pretrained_from_hf tries for `filename`, first choice first: a safetensors
    twin of a pickle, then the file itself."""
    if filename == HUB_WEIGHTS[1]:
        return HUB_WEIGHTS
    if filename.endswith((".bin", ".pth")):
        return filename[:-4] + ".safetensors", filename
    return (filename,)


def _missing_hub_files(repo: str, wanted: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """The groups of alternative names of which no file of `repo` is cached."""
    return [names for names in wanted if not any(_cached(repo, n) for n in names)]


def _fetch_hint(repo: str, missing: list[tuple[str, ...]]) -> str:
    command = _hf_download(repo, [names[0] for names in missing])
    others = [f"{names[1]} for {names[0]}" for names in missing if len(names) > 1]
    return command + (f" (should the repo lack a file, open_clip takes {', '.join(others)})" if others else "")


def _text_repos(model_cfg: dict, schema: str | None) -> list[str]:
    """The hub repos a model's text tower reads at build time besides the CLIP weights: the HF tokenizer (not for
    local-dir:, whose tokenizer files are in the directory) and the HF text model's config."""
    text_cfg = model_cfg.get("text_cfg", {})
    repos = [text_cfg.get("hf_model_name")]
    if schema != "local-dir":
        repos.append(text_cfg.get("hf_tokenizer_name"))
    return list(dict.fromkeys(r for r in repos if r and not os.path.isdir(r)))


def _hub_snapshot(repo: str) -> Path | None:
    """The folder of `repo`'s cached snapshot (its main revision), or None when nothing of it is cached."""
    from huggingface_hub import snapshot_download
    try:
        return Path(snapshot_download(repo, local_files_only=True, cache_dir=_hub_cache()))
    except Exception:  # huggingface_hub's "not in the cache" errors differ by version; all mean: not cached
        return None


def hf_folder(model: str, download: bool = False) -> Path | None:
    """The folder of a `local-dir:` or `hf-hub:` model that is a transformers CLIP or in the TripletCLIP authors'
    layout (`hf_clip.layout`), or None (open_clip's own layout, a plain name, a hub repo not cached). download: an
    `hf-hub:` repo not cached, online, is looked at on the hub (open_clip's layout when it has open_clip_config.json,
    else the configs, tokenizer files and safetensors of `HF_PATTERNS` are downloaded)."""
    schema = _schema(model)
    if schema == "local-dir":
        path = Path(model.removeprefix("local-dir:"))
        # open_clip's own config first, as for the hub: a folder may carry both
        return path if hf_clip.layout(path) and not (path / HUB_CONFIG_NAME).is_file() else None
    if schema != "hf-hub":
        return None
    repo = model.removeprefix("hf-hub:")
    snapshot = _hub_snapshot(repo)
    if download and not _hub_offline() and (snapshot is None or not _has_weights(snapshot)):
        from huggingface_hub import hf_hub_download, snapshot_download
        from huggingface_hub.errors import EntryNotFoundError
        try:
            hf_hub_download(repo, HUB_CONFIG_NAME, cache_dir=_hub_cache())
            return None  # open_clip's layout: open_clip fetches its weights
        except EntryNotFoundError:
            pass
        snapshot = Path(snapshot_download(repo, allow_patterns=list(hf_clip.HUB_PATTERNS), cache_dir=_hub_cache()))
        if not _has_weights(snapshot):  # a repository of pickles only
            snapshot = Path(snapshot_download(repo, allow_patterns=list(hf_clip.HUB_PICKLE_PATTERNS),
                                              cache_dir=_hub_cache()))
    if snapshot is None or (snapshot / HUB_CONFIG_NAME).is_file() or not hf_clip.layout(snapshot):
        return None
    return snapshot


def _has_weights(folder: Path) -> bool:
    """Whether a transformers / TripletCLIP-layout folder has its weight files (a snapshot may hold its configs only,
    cached by an AutoConfig or AutoProcessor call)."""
    try:
        return all(f.is_file() for f in hf_clip.weight_files(folder))
    except (FileNotFoundError, ValueError):
        return False


def check_available(spec: ModelSpec, name: str | None = None) -> None:
    """Fail at once, and say how to fix it, where loading `spec` would fail late or hang.

    Always: a local checkpoint file or local-dir: directory that does not exist -> FileNotFoundError naming `name`
    (the config's key for the model) and the path; an unknown open_clip model name -> ValueError.

    With the Hugging Face hub offline (huggingface_hub.constants.HF_HUB_OFFLINE, i.e. HF_HUB_OFFLINE=1): files that
    are not in the local cache -> RuntimeError naming `name`, the model and its tag, and the exact command that
    fetches them on a machine with network: `hf download REPO FILE --cache-dir CACHE` for hub-hosted weights (the
    weights of a tag; the open_clip_config.json and weights of an hf-hub: model; the tokenizer / text-model repos
    an HF text tower reads), or, for a tag that only has a URL in open_clip's registry, the curl into open_clip's
    cache dir (~/.cache/clip) that open_clip would download to. Reads caches only, never the network. Online, the
    hub checks are skipped (open_clip downloads what is missing)."""
    open_clip = open_clip_with_our_configs()
    label = f"model {name!r}" if name else "model"
    what = f"{label} ({spec.describe()})"
    schema = _schema(spec.model)
    if schema == "local-dir":
        path = Path(spec.model.removeprefix("local-dir:"))
        if hf_folder(spec.model) is not None:
            try:
                hf_clip.weight_files(path)
            except FileNotFoundError as e:
                raise FileNotFoundError(f"{what}: {e}") from None
            return
        if not (path / HUB_CONFIG_NAME).is_file():
            raise FileNotFoundError(
                f"{what}: no model at {path}: a local-dir: folder holds open_clip's layout ({HUB_CONFIG_NAME} and "
                f"{WEIGHTS_NAME}, as tripletclip.models.export_local_dir writes), a transformers CLIP "
                f"({hf_clip.CONFIG} of model_type clip and {' or '.join(hf_clip.WEIGHTS)}) or the TripletCLIP "
                f"authors' ({' and '.join(f'{s}/' for s in hf_clip.SUBFOLDERS)})"
                + ("; the folder does not exist" if not path.is_dir() else
                   f"; it has {', '.join(sorted(p.name for p in path.iterdir())[:8]) or 'nothing'}"))
        if _hub_offline():
            _check_text_repos(model_config(spec.model), schema, what)
        return
    if schema is None:
        try:
            model_cfg = model_config(spec.model)
        except ValueError as e:
            raise ValueError(f"{what}: {e}") from None
        tag_cfg = _tag_cfg(spec)
        if spec.pretrained is not None and not tag_cfg:
            if not os.path.isfile(spec.pretrained):
                tags = open_clip.list_pretrained_tags_by_model(spec.model.replace("/", "-"))
                raise FileNotFoundError(
                    f"{what}: no such checkpoint file {spec.pretrained}, nor is it an open_clip pretrained tag of "
                    f"{spec.model} (its tags: {', '.join(tags) or 'none'})")
            return
        if not _hub_offline():
            return
        if tag_cfg:
            _check_tag(tag_cfg, what)
        _check_text_repos(model_cfg, schema, what)
        return
    # hf-hub:
    if not _hub_offline():
        return
    repo = spec.model.removeprefix("hf-hub:")
    folder = hf_folder(spec.model)
    if folder is not None and _has_weights(folder):  # a cached transformers / TripletCLIP-layout snapshot
        return
    missing = _missing_hub_files(repo, [(HUB_CONFIG_NAME,), HUB_WEIGHTS])
    if missing:
        raise RuntimeError(f"{what}: the Hugging Face hub is offline (HF_HUB_OFFLINE) and the cache "
                           f"{_hub_cache()} lacks {' and '.join(n[0] for n in missing)} of {repo}. On a machine "
                           f"with network, run: {_fetch_hint(repo, missing)} (a repository in open_clip's layout), "
                           f"or {_hf_download(repo, include=hf_clip.HUB_PATTERNS)} (transformers' CLIP layout, or "
                           f"the TripletCLIP authors'; for one without safetensors, "
                           f"{_hf_download(repo, include=hf_clip.HUB_PICKLE_PATTERNS)})")
    _check_text_repos(model_config(spec.model), schema, what)


def _check_tag(tag_cfg: dict, what: str) -> None:
    """Offline: the weights of a pretrained tag, where open_clip's download_pretrained would take them from."""
    open_clip = open_clip_with_our_configs()
    if "file" in tag_cfg:
        if not os.path.isfile(tag_cfg["file"]):
            raise FileNotFoundError(f"{what}: open_clip's registry points at {tag_cfg['file']}, which does not exist")
        return
    hub = tag_cfg.get("hf_hub", "")
    if hub and open_clip.pretrained.has_hf_hub():
        # "org/name/" is the repo with open_clip's default file; "org/name/file.bin" names the file
        repo, filename = os.path.split(hub)
        missing = _missing_hub_files(repo, [_weight_alternatives(filename or HUB_WEIGHTS[1])])
        if missing:
            raise RuntimeError(f"{what}: the Hugging Face hub is offline (HF_HUB_OFFLINE) and the cache "
                               f"{_hub_cache()} lacks the weights ({repo}). On a machine with network, run: "
                               f"{_fetch_hint(repo, missing)}")
        return
    url = tag_cfg.get("url", "")
    if url:
        # open_clip's download_pretrained_from_url with cache_dir=None, as create_model calls it
        target = os.path.join(os.path.expanduser("~/.cache/clip"), os.path.basename(url))
        if not os.path.isfile(target):
            raise RuntimeError(f"{what}: offline (HF_HUB_OFFLINE) and the weights are not at {target}, where "
                               f"open_clip downloads them. On a machine with network that shares this filesystem, "
                               f"run: curl -L --create-dirs -o {target} {url}")


def _check_text_repos(model_cfg: dict, schema: str | None, what: str) -> None:
    missing = [r for r in _text_repos(model_cfg, schema) if not _repo_cached(r)]
    if missing:
        commands = "; ".join(_hf_download(r, include=("*.json", "*.txt", "*.model")) for r in missing)
        raise RuntimeError(f"{what}: the Hugging Face hub is offline (HF_HUB_OFFLINE) and the cache "
                           f"{_hub_cache()} lacks the text tower's tokenizer / config ({', '.join(missing)}). On a "
                           f"machine with network, run: {commands}")


# ---------------------------------------------------------------------------------------------------------------
# Loading


@dataclasses.dataclass
class Loaded:
    """A loaded model, as `load` returns it.

    model: the network, in eval() mode, on the device asked for.
    preprocess_train / preprocess_val: open_clip's image transforms for it (PIL image -> (3, H, W) tensor).
    tokenizer: open_clip's tokenizer in our wrapper (texts -> (N, context_length) int64), as `create` returns.
    model_cfg: the architecture config that builds this exact network, quick_gelu included: what export_local_dir
        must write so that local-dir: rebuilds the same network.
    spec: the spec loaded, after `resolve` (quick_gelu as actually built).
    """

    model: torch.nn.Module
    preprocess_train: Callable
    preprocess_val: Callable
    tokenizer: "tokenizer.Tokenizer"
    model_cfg: dict
    spec: ModelSpec


class _DropRecord(logging.Filter):
    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


@contextlib.contextmanager
def _quiet_random_init():
    """open_clip warns "No pretrained weights loaded ... initialized randomly" on its root logger; for a checkpoint
    file, which `load` puts in right after, that would tell the reader the opposite of what happens."""
    root, drop = logging.getLogger(), _DropRecord("No pretrained weights loaded")
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


def load(spec: ModelSpec | dict | str, device="cpu", name: str | None = None, named: dict | None = None,
         default_model: str | None = None) -> Loaded:
    """Load the model `spec` names: ModelSpec.parse(spec, named, default_model) -> resolve -> check_available(spec,
    name) -> build.

    An open_clip tag, hf-hub: or local-dir: model goes through open_clip's create_model_and_transforms
    (force_quick_gelu=spec.quick_gelu, weights_only=True, and require_pretrained, so that weights open_clip could
    not fetch are an error rather than a randomly initialised model). A checkpoint file: the named architecture is
    built with random weights, then read_state_dict(path) is loaded into it strictly; keys or shapes that do not
    match -> ValueError naming the file, the model name and a few of the keys (the usual cause: a wrong model name,
    e.g. ViT-B-16 weights with ViT-B-32). A checkpoint of this repo's trainer records its model_cfg: when that says
    QuickGELU and the spec does not, QuickGELU is forced, with a warning, as `resolve` does for tags. A spec with no
    pretrained: random weights. `name` (the config's key) is named in errors."""
    open_clip = open_clip_with_our_configs()
    spec = resolve(ModelSpec.parse(spec, named=named, default_model=default_model))
    check_available(spec, name)
    schema = _schema(spec.model)
    folder = hf_folder(spec.model, download=True)
    if folder is not None:
        return _load_hf(folder, spec, device)
    is_file = spec.pretrained is not None and not _tag_cfg(spec)
    if is_file:
        state_dict, recorded = _read_checkpoint(spec.pretrained)
        if recorded and recorded.get("quick_gelu") and not spec.quick_gelu \
                and not model_config(spec.model).get("quick_gelu"):
            log.warning("%s was trained with QuickGELU (its recorded model_cfg says so) but %s uses GELU; loading it "
                        "with QuickGELU. Say so in the config: %s", spec.pretrained, spec.model,
                        _quickgelu_fix(spec.model))
            spec = dataclasses.replace(spec, quick_gelu=True)
        with _quiet_random_init():
            # no pretrained text tower either: the checkpoint overwrites it, and fetching it may need the network
            model, preprocess_train, preprocess_val = open_clip.create_model_and_transforms(
                spec.model, pretrained=None, device=device, force_quick_gelu=spec.quick_gelu, pretrained_text=False)
        _load_strict(model, state_dict, spec.pretrained, spec.model)
    else:
        model, preprocess_train, preprocess_val = open_clip.create_model_and_transforms(
            spec.model, pretrained=spec.pretrained, device=device, force_quick_gelu=spec.quick_gelu,
            weights_only=True, require_pretrained=spec.pretrained is not None or schema is not None)
    model_cfg = model_config(spec.model)
    if spec.quick_gelu:
        model_cfg["quick_gelu"] = True
    return Loaded(model=model.eval(), preprocess_train=preprocess_train, preprocess_val=preprocess_val,
                  tokenizer=tokenizer.Tokenizer(open_clip.get_tokenizer(spec.model)), model_cfg=model_cfg,
                  spec=spec)


def _build(model_cfg: dict, device="cpu") -> torch.nn.Module:
    """An open_clip CLIP of `model_cfg` with random weights (on "meta": shapes only, built in no time)."""
    from open_clip.model import CLIP
    with torch.device(device):
        return CLIP(**copy.deepcopy(model_cfg))


def _load_hf(folder: Path, spec: ModelSpec, device) -> Loaded:
    """A transformers CLIP folder or the TripletCLIP authors' layout (`hf_clip`) as an open_clip CLIP: its sizes and
    activation from its config.json files (QuickGELU also when spec.quick_gelu), its weights mapped key by key and
    loaded strictly, its preprocessor_config.json's resize, crop, mean and std, open_clip's tokenizer (the same BPE)
    at the tokenizer's context length."""
    from open_clip.tokenizer import SimpleTokenizer
    from open_clip.transform import PreprocessCfg, image_transform_v2
    from torchvision.transforms import InterpolationMode, Resize
    repo = spec.model.removeprefix("hf-hub:")
    if repo in OPENAI_HUB_TAGS:
        log.info("%s holds OpenAI's weights, which open_clip also names {model: %s, pretrained: openai}", spec.model,
                 OPENAI_HUB_TAGS[repo])
    model_cfg = hf_clip.model_config(folder)
    if spec.quick_gelu:
        model_cfg["quick_gelu"] = True
    if model_cfg["text_cfg"]["vocab_size"] != 49408:
        raise ValueError(f"{spec.model}: a vocabulary of {model_cfg['text_cfg']['vocab_size']} tokens; only CLIP's "
                         "BPE of 49,408 (open_clip's tokenizer) is read here")
    state_dict, files = hf_clip.read_weights(folder)
    where = " and ".join(map(str, files))
    model = _build(model_cfg)
    _load_strict(model, hf_clip.convert(state_dict, where), where, spec.model)
    pp = hf_clip.preprocess_config(folder, model_cfg["vision_cfg"]["image_size"])
    cfg = PreprocessCfg(**{k: pp[k] for k in ("size", "mean", "std", "interpolation", "resize_mode")})
    model.visual.preprocess_cfg = dataclasses.asdict(cfg)  # open_clip.get_model_preprocess_cfg reads it
    preprocess_train, preprocess_val = image_transform_v2(cfg, is_train=True), image_transform_v2(cfg, is_train=False)
    if pp["resize"] != pp["size"]:  # CLIPImageProcessor's resize of the shortest edge before its crop
        preprocess_val.transforms[0] = Resize(pp["resize"], interpolation=InterpolationMode(pp["interpolation"]))
    context = hf_clip.context_length(folder, model_cfg)
    return Loaded(model=model.to(device).eval(), preprocess_train=preprocess_train, preprocess_val=preprocess_val,
                  tokenizer=tokenizer.Tokenizer(SimpleTokenizer(context_length=context)), model_cfg=model_cfg,
                  spec=spec)


def check_loadable(spec: ModelSpec | dict | str, name: str | None = None, named: dict | None = None,
                   default_model: str | None = None) -> ModelSpec:
    """At plan time, without reading any weights: would `load(spec)` succeed? `check_available` (files, an
    unknown name, the hub cache when offline), then the checkpoint's keys and shapes against the architecture:
    a safetensors header or a memory-mapped pickle read as meta tensors, the architecture built on the meta
    device, and the same conversions and strict comparison as `load` (`_fit`). For a checkpoint file, a
    local-dir: or cached hf-hub: folder (open_clip's, transformers' or the TripletCLIP authors' layout); an open_clip
    tag's weights are open_clip's own and a hub repo not cached is fetched by the job. Returns the resolved spec;
    ValueError (FileNotFoundError, RuntimeError for the offline hub) naming `name`, the file and the fix."""
    open_clip = open_clip_with_our_configs()
    spec = resolve(ModelSpec.parse(spec, named=named, default_model=default_model))
    check_available(spec, name)
    what = f"{f'model {name!r}' if name else 'model'} ({spec.describe()})"
    try:
        folder = hf_folder(spec.model)
        if folder is not None and spec.model.startswith("hf-hub:") and not _hub_offline() \
                and not _has_weights(folder):
            return spec  # the configs cached, not the weights: its job fetches them
        if folder is not None:
            meta, files = hf_clip.read_weights(folder, meta=True)
            where = " and ".join(map(str, files))
            _fit(_build(hf_clip.model_config(folder), "meta"), hf_clip.convert(meta, where), where, spec.model)
            return spec
        schema = _schema(spec.model)
        if schema:
            path = Path(spec.model.removeprefix("local-dir:")) if schema == "local-dir" else \
                _hub_snapshot(spec.model.removeprefix("hf-hub:"))
            weights = next((path / n for n in HUB_WEIGHTS if path and (path / n).is_file()), None)
            if weights is None and schema == "local-dir":
                raise FileNotFoundError(f"{path} has {HUB_CONFIG_NAME} but no weights ({' or '.join(HUB_WEIGHTS)})")
            if weights is None:
                return spec  # a hub repo not cached: its job fetches it
            with torch.device("meta"), _quiet_random_init():
                model = open_clip.create_model(f"local-dir:{path}", load_weights=False, device="meta")
        elif spec.pretrained is not None and not _tag_cfg(spec):
            weights = Path(spec.pretrained)
            with torch.device("meta"), _quiet_random_init():
                model = open_clip.create_model(spec.model, pretrained=None, device="meta",
                                               force_quick_gelu=spec.quick_gelu, pretrained_text=False)
        else:
            return spec
        _fit(model, _read_checkpoint(weights, meta=True)[0], str(weights), spec.model)
    except (ValueError, FileNotFoundError, KeyError) as e:
        raise ValueError(f"{what} cannot load: {e}") from None
    return spec
