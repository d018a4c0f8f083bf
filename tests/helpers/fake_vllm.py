"""A stand-in for the `vllm` module at its offline boundary: `LLM(model, ...)`, `LLM.get_tokenizer()`,
`LLM.generate(prompts, sampling_params)` returning `RequestOutput`s with `CompletionOutput`s, and `SamplingParams`,
with vLLM's own field names. It answers from a script: per caption, one list of answers per call."""

from __future__ import annotations

import types
from dataclasses import dataclass, field


@dataclass
class SamplingParams:
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int | None = 16
    seed: int | None = None


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list = field(default_factory=list)
    cumulative_logprob: float | None = None
    logprobs: list | None = None
    finish_reason: str | None = "stop"


@dataclass
class RequestOutput:
    request_id: str
    prompt: str
    prompt_token_ids: list
    outputs: list
    finished: bool = True


def module(tokenizer, script: dict[str, list[list[str]]]):
    """A `vllm` module whose LLM answers caption c's i-th call with script[c][i]; it records every call."""
    calls, inits = [], []

    class LLM:
        def __init__(self, model: str, tensor_parallel_size: int = 1, dtype: str = "auto", seed: int = 0, **kw):
            inits.append({"model": model, "tensor_parallel_size": tensor_parallel_size, "dtype": dtype,
                          "seed": seed, **kw})
            self.asked: dict[str, int] = {}

        def get_tokenizer(self):
            return tokenizer

        def generate(self, prompts, sampling_params=None, use_tqdm=True):
            if not isinstance(sampling_params, (list, tuple)):
                sampling_params = [sampling_params] * len(prompts)
            assert len(sampling_params) == len(prompts)
            outputs = []
            for i, (prompt, params) in enumerate(zip(prompts, sampling_params)):
                # the caption asked about is the prompt's last "Input:" (the examples come before it)
                caption = max(script, key=lambda c: prompt.rfind(f"Input: {c} Output:"))
                turn = self.asked.get(caption, 0)
                self.asked[caption] = turn + 1
                calls.append({"caption": caption, "prompt": prompt, "params": params})
                texts = script[caption][turn][:params.n]
                outputs.append(RequestOutput(str(len(calls)), prompt, [], [CompletionOutput(j, t)
                                                                           for j, t in enumerate(texts)]))
            return outputs

    return types.SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams, calls=calls, inits=inits)
