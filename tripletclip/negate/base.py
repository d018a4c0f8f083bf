"""What every negator returns, and the one way to build one from config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

BACKENDS = ("shapes", "rules", "transformers", "vllm")


@dataclass
class Outcome:
    """The negatives of one caption. `status` is "ok" when there is at least one negative, else the reason there is
    none (the key it is counted under in the stats). `rejected` lists the reason of every LLM answer turned down."""

    negatives: list[dict] = field(default_factory=list)  # [{"text": ..., "type": ...}], at most K, distinct types
    status: str = "ok"
    backend: str = ""
    attempts: int = 1
    rejected: list[str] = field(default_factory=list)

    @classmethod
    def failed(cls, reason: str, backend: str, attempts: int = 1, rejected=()) -> "Outcome":
        return cls([], reason, backend, attempts, list(rejected))


class Negator(Protocol):
    name: str

    def negate(self, items: Sequence[tuple[str, str]]) -> list[Outcome]:
        """One Outcome per (key, caption), in order. Deterministic given the keys (for the transformers engine,
        given the batches too: its generate has one random state per call)."""
        ...


SAMPLING_KEYS = ("temperature", "top_p", "max_tokens")


def config_options(cfg: dict) -> dict:
    """make_negator's options for `cfg["backend"]` from a negate block shaped like config.yaml's."""
    backend, options = cfg["backend"], {"types": cfg["types"]}
    if backend != "shapes":
        options["spacy_model"] = cfg["spacy_model"]
    if backend == "rules":
        options["batch_size"] = cfg["batch_size"]
    if backend in ("transformers", "vllm"):
        llm = dict(cfg["llm"])
        sampling = {key: llm.pop(key) for key in SAMPLING_KEYS if key in llm}
        options.update(llm, sampling=sampling)
    return options


def make_negator(backend: str, num_negatives: int = 1, seed: int = 0, **options) -> Negator:
    """A negator by backend name; `options` are that backend's own (see config.yaml's negate block)."""
    if backend == "shapes":
        from .shapes import ShapesNegator

        return ShapesNegator(num_negatives=num_negatives, seed=seed, **options)
    if backend == "rules":
        from .rules import RuleNegator

        return RuleNegator(num_negatives=num_negatives, seed=seed, **options)
    if backend in ("transformers", "vllm"):
        from .llm import LLMNegator

        return LLMNegator(backend, num_negatives=num_negatives, seed=seed, **options)
    raise ValueError(f"unknown negation backend {backend!r}; expected one of {', '.join(BACKENDS)}")
