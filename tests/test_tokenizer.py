"""Our tokenizer gives open_clip's tokens for any text: its fast path only for what it can prove unchanged."""

import random

import open_clip
import torch

from tripletclip import models
from tripletclip.tokenizer import Tokenizer

ODD = ["\t", "\n", "\r", "\x1b[1m", "&amp;", "&lt;b&gt;", "<", ">", "é", "ﬁ", "“quoted”", "Ã©",
       "<start_of_text>", "<END_OF_TEXT>", "'s", "'LL", "’", "\u2028", "ｆｕｌｌ", "7", "42", "  ", "--", "!?", "a.b",
       "don't"]
WORDS = ["a", "small", "Red", "circle", "LEFT", "of", "the", "large", "blue", "square", "x1", "3", "hexagon,", "it's"]


def texts(seed: int, count: int) -> list[str]:
    """Captions of plain words, of odd characters and entities, and of both, with stray whitespace."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        pool = rng.choice([WORDS, WORDS + ODD, ODD, [chr(i) for i in range(32, 127)]])
        out.append(rng.choice(["", " ", "  "]).join(rng.choice(pool) for _ in range(rng.randint(0, 40))))
    return out


def test_the_same_tokens_as_open_clip_for_any_text_and_context_length():
    ours, theirs = Tokenizer(open_clip.get_tokenizer("ViT-B-32")), open_clip.get_tokenizer("ViT-B-32")
    captions = texts(0, 4000) + ["", " a  RED circle ", "word " * 100, "&", "a & b", "caf\u00e9 au lait"]
    assert ours.fast
    plain = [c for c in captions if c.isascii() and c.isprintable() and "&" not in c]
    assert 1000 < len(plain) < len(captions) - 1000  # both paths are exercised
    for context in (None, 8, 77):
        expected = theirs(captions, context_length=context)
        got = ours(captions, context_length=context)
        assert got.dtype == expected.dtype == torch.long and torch.equal(got, expected)
    assert torch.equal(ours("a small red circle"), theirs("a small red circle"))
    assert ours.encode("A  small, RED circle's") == theirs.encode("A  small, RED circle's")
    assert ours.words and all(" " not in word for word in ours.words)  # plain words were looked up
    assert ours.vocab_size == theirs.vocab_size and ours.eot_token_id == theirs.eot_token_id  # open_clip's attributes


def test_other_tokenizers_are_used_as_they_are():
    wrapped = Tokenizer(open_clip.SimpleTokenizer(context_length=77, clean="whitespace"))
    assert not wrapped.fast
    assert torch.equal(wrapped(["A  Red circle"]), wrapped.tokenizer(["A  Red circle"]))  # case kept
    assert wrapped(["A Red circle"])[0, 1] != Tokenizer(open_clip.get_tokenizer("ViT-B-32"))(["A Red circle"])[0, 1]


def test_models_come_with_the_fast_tokenizer():
    tok = models.create("ViT-Tiny-P16-64")[3]
    assert isinstance(tok, Tokenizer) and tok.fast and tok.context_length == 32
    assert torch.equal(tok(["a red circle"]), open_clip.get_tokenizer("ViT-B-32")(["a red circle"], context_length=32))
