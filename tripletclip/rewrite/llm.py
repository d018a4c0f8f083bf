"""Rewrites from a language model with LaCLIP's in-context prompt (prompt.py), through the negate stage's engines:
vLLM (GPUs) or transformers (anywhere).

Rewrite j of a caption is one completion of a prompt with three meta pairs of kind j % 4, sampled at LaCLIP's
temperature 0.9 and top_p 0.95 with at most 77 new tokens (llama_rewrite.py:72-73, 156) unless configured otherwise;
its seed is keyed by (seed, sample key, j, attempt), and so are the meta pairs drawn. Every answer is read as LaCLIP
reads it (prompt.answer), cleaned (negate's answers.clean) and checked (answers.check without its overlap test:
empty, refusal, explanation, echo of the caption up to case and punctuation, length beyond `max_length_ratio`), then
turned down as a `duplicate` of an earlier rewrite of the caption. A rewrite turned down is asked again with a new
seed, up to `max_attempts` answers per rewrite; the caption keeps those accepted: K is "ok", fewer "partial", none
"rejected". A caption's `attempts` counts the answers asked for it.
"""

from __future__ import annotations

import logging
from typing import Sequence

from .. import shapes
from ..negate import answers
from ..negate.llm import DEFAULT_MODEL, Sampling, make_engine, sample_seed
from ..negate.rules import normalized
from . import prompt
from .base import Outcome

log = logging.getLogger(__name__)
# LaCLIP's sampling (llama_rewrite.py:72-73; max_gen_len=77, line 156)
LACLIP_SAMPLING = {"temperature": 0.9, "top_p": 0.95, "max_tokens": 77}
# LaCLIP's meta pairs grow a caption up to 4.6-fold ("golden fish in a bowl", 5 words, becomes 30: (30 + 2) / (5 + 2),
# rewrite/utils.py:78, 96), so the length check allows 5 by default.
MAX_LENGTH_RATIO = 5.0


class LLMRewriter:
    def __init__(self, backend: str, model: str = DEFAULT_MODEL, num_rewrites: int = 4, seed: int = 0,
                 sampling: dict | None = None, max_attempts: int = 3, max_length_ratio: float = MAX_LENGTH_RATIO,
                 batch_size: int = 16, device: str = "auto", dtype: str = "auto", tensor_parallel_size: int = 1,
                 engine=None):
        if max_attempts < 1:
            raise ValueError("rewrite max_attempts must be at least 1")
        self.name, self.k, self.seed, self.max_attempts = backend, num_rewrites, seed, max_attempts
        self.sampling = Sampling(**(LACLIP_SAMPLING | (sampling or {})))
        self.max_length_ratio = max_length_ratio
        self.engine = engine or make_engine(backend, model, self.sampling, seed, batch_size, device, dtype,
                                            tensor_parallel_size)

    def prompt(self, key: str, caption: str, index: int, attempt: int) -> str:
        """The prompt of rewrite `index` of a caption at `attempt`, its meta pairs drawn by that key."""
        rng = shapes.keyed_rng("rewrite-prompt", self.seed, key, index, attempt)
        return prompt.build(caption, prompt.kind_of(index), rng)

    def rewrite(self, items: Sequence[tuple[str, str]]) -> list[Outcome]:
        accepted: list[dict[int, str]] = [{} for _ in items]
        outcomes = [Outcome(backend=self.name, attempts=0) for _ in items]
        pending = [(i, j) for i in range(len(items)) for j in range(self.k)]
        for attempt in range(self.max_attempts):
            if not pending:
                break
            prompts = [self.prompt(items[i][0], items[i][1], j, attempt) for i, j in pending]
            seeds = [sample_seed(self.seed, f"{items[i][0]}:{j}", attempt, stage="rewrite") for i, j in pending]
            generated = self.engine.generate(prompts, 1, seeds, add_special_tokens=True)  # LaCLIP's BOS, no chat
            for (i, j), raw in zip(pending, generated):
                outcomes[i].attempts += 1
                text, reason = self._judge(raw[0], items[i][1], accepted[i].values())
                if reason is None:
                    accepted[i][j] = text
                else:
                    outcomes[i].rejected.append(reason)
                    log.debug("rejected (%s): %r", reason, raw[0])
            pending = [(i, j) for i, j in pending if j not in accepted[i]]
        return [Outcome.of([texts[j] for j in sorted(texts)], self.k, self.name, outcome.attempts, outcome.rejected)
                for outcome, texts in zip(outcomes, accepted)]

    def _judge(self, raw: str, caption: str, accepted) -> tuple[str, str | None]:
        """(the rewrite in the answer `raw`, why it is no rewrite of `caption` or None when it is one)."""
        text = answers.clean(prompt.answer(raw))
        reason = answers.check(text, caption, max_length_ratio=self.max_length_ratio, min_overlap=0.0)
        if reason is None and normalized(text) in {normalized(a) for a in accepted}:
            reason = "duplicate"
        return text, reason
