"""What every rewriter returns, and the one way to build one from config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

BACKENDS = ("shapes", "vllm", "transformers", "laclip")
SAMPLING_KEYS = ("temperature", "top_p", "max_tokens")


@dataclass
class Outcome:
    """The rewrites of one caption. `status`: "ok" with all K rewrites, "partial" with fewer, else the reason there is
    none (the key it is counted under in the stats). `rejected` lists the reason of every answer turned down."""

    rewrites: list[str] = field(default_factory=list)
    status: str = "ok"
    backend: str = ""
    attempts: int = 1
    rejected: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, rewrites: list[str], k: int, backend: str, attempts: int = 1, rejected=(),
           none: str = "rejected") -> "Outcome":
        """ok with `k` rewrites, partial with fewer, status `none` without any."""
        status = "ok" if len(rewrites) >= k else "partial" if rewrites else none
        return cls(list(rewrites[:k]), status, backend, attempts, list(rejected))


class Rewriter(Protocol):
    name: str

    def rewrite(self, items: Sequence[tuple[str, str]]) -> list[Outcome]:
        """One Outcome per (key, caption), in order, deterministic given the keys (and, for the transformers engine,
        the batches)."""
        ...


def config_options(cfg: dict, samples_per_shard: int | None = None) -> dict:
    """make_rewriter's options for `cfg["backend"]` from a rewrite block shaped like config.yaml's."""
    backend = cfg["backend"]
    if backend == "laclip":
        return {"files": cfg.get("files"), "samples_per_shard": samples_per_shard}
    if backend in ("transformers", "vllm"):
        llm = dict(cfg.get("llm") or {})
        sampling = {key: llm.pop(key) for key in SAMPLING_KEYS if key in llm}
        return llm | {"sampling": sampling}
    return {}


def make_rewriter(backend: str, num_rewrites: int = 4, seed: int = 0, **options) -> Rewriter:
    """A rewriter by backend name; `options` are that backend's own (see config.yaml's rewrite block)."""
    if backend == "shapes":
        from .paraphrase import ShapesParaphraser

        return ShapesParaphraser(num_rewrites=num_rewrites, seed=seed, **options)
    if backend == "laclip":
        from .release import ReleaseRewriter

        return ReleaseRewriter(num_rewrites=num_rewrites, seed=seed, **options)
    if backend in ("transformers", "vllm"):
        from .llm import LLMRewriter

        return LLMRewriter(backend, num_rewrites=num_rewrites, seed=seed, **options)
    raise ValueError(f"unknown rewrite backend {backend!r}; expected one of {', '.join(BACKENDS)}")
