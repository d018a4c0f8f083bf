"""A tiny Mistral-shaped causal LM with random weights and a word-level tokenizer made here (nothing downloaded),
saved the way a real model directory is, chat template included. Its answers are garbage, as they should be."""

from __future__ import annotations

from pathlib import Path

from tripletclip.negate.prompt import PAPER_PROMPT

# Mistral-Instruct's template, minus its system-role checks.
CHAT_TEMPLATE = "{{ bos_token }}{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}"
SPECIALS = ["<unk>", "<s>", "</s>", "<pad>", "[INST]", "[/INST]"]


def build(path: Path, corpus: list[str]) -> Path:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import MistralConfig, MistralForCausalLM, PreTrainedTokenizerFast

    words = sorted({w for text in corpus + [PAPER_PROMPT] for w in text.split()})
    vocab = {w: i for i, w in enumerate(SPECIALS + [w for w in words if w not in SPECIALS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                        pad_token="<pad>")
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(path)
    config = MistralConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                           bos_token_id=1, eos_token_id=2, pad_token_id=3)
    torch.manual_seed(0)
    MistralForCausalLM(config).save_pretrained(path)
    return path
