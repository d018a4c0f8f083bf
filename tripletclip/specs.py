"""Model specs: how a config names a CLIP (a `models:` entry, train.init, the filter's scorer), parsed and checked
in one place without importing torch or open_clip, so that the DAG build (rules/common.smk) and every job read a
spec the same way. Loading one is tripletclip.models.load; whether its weights would load, models.check_loadable.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path

SCHEMAS = ("hf-hub:", "local-dir:")  # open_clip's model names that carry their own weights
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt")
OUR_CONFIGS = Path(__file__).parent / "model_configs"


def schema(model: str) -> str | None:
    """"hf-hub", "local-dir" or None (a plain open_clip name)."""
    return next((s[:-1] for s in SCHEMAS if model.startswith(s)), None)


def looks_like_file(pretrained: str) -> bool:
    """Whether `pretrained` names a file rather than an open_clip tag (tags are bare names: openai, laion2b_...)."""
    return (os.sep in pretrained or "/" in pretrained or pretrained.startswith("~") or os.path.exists(pretrained)
            or pretrained.endswith(CHECKPOINT_SUFFIXES))


def architecture_names() -> set[str]:
    """Every architecture open_clip can build by name: its shipped configs and ours, read from the config files
    (importing open_clip would cost a DAG build seconds)."""
    folders = [Path(importlib.util.find_spec("open_clip").submodule_search_locations[0]) / "model_configs",
               OUR_CONFIGS]
    return {p.stem for folder in folders for p in folder.glob("*.json")}


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A CLIP as a config names it (config.yaml's `models:` entries, train.init, filter).

    model: an open_clip name (ours in tripletclip/model_configs count), "hf-hub:ORG/NAME" or "local-dir:PATH" (`~`
        expanded).
    pretrained: an open_clip pretrained tag of `model` (`openai`, `laion2b_s34b_b79k`, ...), or a checkpoint file
        (.pt/.pth/.bin/.safetensors/.ckpt, `~` expanded) of `model`'s architecture; None: random weights. Not
        allowed with hf-hub: or local-dir:, which carry their own weights.
    quick_gelu: force QuickGELU activations (open_clip's force_quick_gelu), as OpenAI-derived weights need.
    """

    model: str
    pretrained: str | None = None
    quick_gelu: bool = False

    def __post_init__(self):
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError(f"model spec: `model` must be a non-empty string, not {self.model!r}")
        if self.model.startswith("local-dir:~"):
            object.__setattr__(self, "model", f"local-dir:{os.path.expanduser(self.model[len('local-dir:'):])}")
        if isinstance(self.pretrained, os.PathLike):
            object.__setattr__(self, "pretrained", os.fspath(self.pretrained))
        if isinstance(self.pretrained, str) and self.pretrained.startswith("~"):
            object.__setattr__(self, "pretrained", os.path.expanduser(self.pretrained))
        if self.pretrained is not None and (not isinstance(self.pretrained, str) or not self.pretrained.strip()):
            raise ValueError(f"model spec {self.model}: `pretrained` must be a tag or a file path, "
                             f"not {self.pretrained!r}")
        if self.quick_gelu is None:  # `quick_gelu: null` in YAML, or a schema default left unset
            object.__setattr__(self, "quick_gelu", False)
        if not isinstance(self.quick_gelu, bool):
            raise ValueError(f"model spec {self.model}: `quick_gelu` must be true or false, not {self.quick_gelu!r}")
        if self.pretrained is not None and schema(self.model):
            # open_clip would ignore it with a warning; a config that says it is almost surely not what was meant
            raise ValueError(f"model spec {self.model}: `pretrained` ({self.pretrained}) cannot go with an "
                             f"{schema(self.model)}: model, which carries its own weights; drop one of them")

    @classmethod
    def parse(cls, value, named: Mapping | None = None, default_model: str | None = None) -> "ModelSpec":
        """The spec that `value` names.

        value: a ModelSpec (returned as is); a mapping {model, pretrained?, quick_gelu?} (any other key ->
        ValueError naming it); or a string: a key of `named` (the config's `models:` block, name -> mapping) gives
        that entry, "local-dir:..." / "hf-hub:..." gives {model: value}, and a string that names a file
        (`looks_like_file`: a path, `~`, an existing file or a checkpoint suffix), or os.PathLike, is a checkpoint of
        `default_model` -> {model: default_model, pretrained: value}. Anything else -> ValueError, suggesting the
        closest key of `named`."""
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - {f.name for f in dataclasses.fields(cls)})
            if unknown:
                raise ValueError(f"model spec {dict(value)!r}: unknown key(s) {', '.join(map(str, unknown))} (a spec "
                                 "has model, pretrained and quick_gelu)")
            if "model" not in value:
                raise ValueError(f"model spec {dict(value)!r}: no `model` (an open_clip name, hf-hub:ORG/NAME or "
                                 "local-dir:PATH)")
            return cls(**dict(value))
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if isinstance(value, str) and value:
            if named and value in named:
                return cls.parse(named[value], default_model=default_model)
            if schema(value):
                return cls(model=value)
            if default_model is not None and looks_like_file(value):
                return cls(model=default_model, pretrained=value)
            keys = list(named or ())
            close = difflib.get_close_matches(value, keys, n=1)
            raise ValueError(f"{value!r} is not a key of the models: block ({', '.join(keys) or 'it is empty'})"
                             f"{f'; did you mean {close[0]!r}?' if close else ''}, nor an hf-hub: or local-dir: "
                             "model" + (", nor a checkpoint file" if default_model else
                                        ", nor, without a model name to build, a checkpoint file"))
        raise ValueError(f"a model is a models: key, a {{model, pretrained, quick_gelu}} mapping, an hf-hub: or "
                         f"local-dir: name, or a checkpoint file; not {value!r}")

    def as_dict(self) -> dict:
        """{model, pretrained, quick_gelu}: JSON-able, for Snakemake params and evaluation JSONs."""
        return dataclasses.asdict(self)

    def describe(self) -> str:
        """One human line, e.g. "ViT-B-32 (openai weights, QuickGELU)"."""
        parts = []
        if self.pretrained is not None:
            parts.append(f"weights from {self.pretrained}" if looks_like_file(self.pretrained)
                         else f"{self.pretrained} weights")
        elif not schema(self.model):
            parts.append("random weights")
        if self.quick_gelu:
            parts.append("QuickGELU")
        return f"{self.model} ({', '.join(parts)})" if parts else self.model

    def local_files(self) -> list[str]:
        """The files on disk it loads (a checkpoint, a local-dir: folder): inputs of the jobs that load it."""
        paths = [self.model.removeprefix("local-dir:")] if schema(self.model) == "local-dir" else []
        if self.pretrained and looks_like_file(self.pretrained):
            paths.append(self.pretrained)
        return paths

    def check_names(self) -> None:
        """What can be checked without torch: an architecture name open_clip knows (with suggestions) and files
        that exist. ValueError saying which. Whether the weights fit: models.check_loadable."""
        name = self.model.replace("/", "-")  # open_clip reads ViT-B/32 as ViT-B-32
        if not schema(self.model) and name not in (known := architecture_names()):
            close = difflib.get_close_matches(name, sorted(known), n=3)
            raise ValueError(f"open_clip has no model {self.model!r}"
                             + (f" (did you mean {', '.join(close)}?)" if close else ""))
        missing = [path for path in self.local_files() if not os.path.exists(path)]
        if missing:
            raise ValueError(f"no such checkpoint file or local-dir: model {', '.join(missing)} (a relative path "
                             "starts at the working directory)")
