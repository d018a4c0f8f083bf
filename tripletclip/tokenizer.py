"""open_clip's SimpleTokenizer with the same tokens for any text, at a tenth of its Python for plain captions.

open_clip cleans every caption with ftfy and two rounds of html.unescape, then byte-encodes and BPE-merges each word
anew; on a CPU that is ~0.12 ms a caption, as much as the tiny model's whole text tower, and on a GPU it is what an
evaluation waits for. For a caption of printable ASCII without "&", ftfy and html.unescape change nothing (every fix
they make starts at a non-ASCII character, a control character or an entity), so cleaning is whitespace and case;
each whitespace-separated word's ids are computed once, by open_clip's own regular expression, byte encoder, BPE
and vocabulary, and then looked up. Any other caption goes through open_clip's `encode` unchanged.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch


class Tokenizer:
    """Wraps an open_clip tokenizer: `tokenizer(texts, context_length=None)` as open_clip's, other attributes its
    own. Only SimpleTokenizer with the default cleaning (`clean="lower"`) and truncation gets the fast path."""

    def __init__(self, tokenizer):
        from open_clip.tokenizer import SimpleTokenizer, get_clean_fn
        self.tokenizer = tokenizer
        self.fast = (type(tokenizer) is SimpleTokenizer and tokenizer.reduction_fn is None
                     and tokenizer.clean_fn is get_clean_fn("lower"))
        self.words: dict[str, list[int]] = {}

    def __getattr__(self, name):
        if name == "tokenizer":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.tokenizer, name)

    def __call__(self, texts: str | Sequence[str], context_length: int | None = None) -> torch.Tensor:
        if not self.fast:
            return self.tokenizer(texts, context_length)
        texts = [texts] if isinstance(texts, str) else texts
        length = context_length or self.tokenizer.context_length
        sot, eot = self.tokenizer.sot_token_id, self.tokenizer.eot_token_id
        rows = []
        for text in texts:
            ids = [sot, *self.encode(text), eot]
            if len(ids) > length:  # open_clip truncates and ends with the end-of-text token
                ids = ids[:length]
                ids[-1] = eot
            rows.append(ids + [0] * (length - len(ids)))
        return torch.from_numpy(np.array(rows, dtype=np.int64).reshape(len(rows), length))

    def encode(self, text: str) -> list[int]:
        """open_clip's `SimpleTokenizer.encode(text)`."""
        if not (text.isascii() and text.isprintable() and "&" not in text):
            return self.tokenizer.encode(text)
        ids = []
        for word in text.lower().split():  # open_clip's pieces never span whitespace
            if word not in self.words:  # open_clip's `encode`, less its cleaning
                tok = self.tokenizer
                self.words[word] = [tok.encoder[bpe] for piece in tok.pat.findall(word) for bpe in tok.bpe(
                    "".join(tok.byte_encoder[b] for b in piece.encode("utf-8"))).split(" ")]
            ids += self.words[word]
        return ids
