"""The negate stage on real captions: the rules backend, the LLM backends (transformers on a tiny random model, vLLM
at its boundary), the answer checks, resume, the inputs it reads and its command line."""

import collections
import difflib
import itertools
import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from helpers import fake_vllm, tiny_lm
from helpers.counting import Counting
from tripletclip import io, negate
from tripletclip.negate import answers, lexicon, rules
from tripletclip.negate.prompt import PAPER_PROMPT, chat_prompt

REAL = (Path(__file__).parent / "data" / "real_captions.txt").read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def rule_negator():
    return rules.RuleNegator()


# (caption, type, the negative with key "0"): COCO / CC3M style, capitals, typos and punctuation kept.
RULES_TABLE = [
    ("A large red bus parked next to a small white car.", "swap_att",
     "A small red bus parked next to a large white car."),
    ("An orange cat laying on a black couch.", "swap_att", "A black cat laying on an orange couch."),
    ("Two dogs and three cats on a sofa.", "swap_att", "Three dogs and two cats on a sofa."),
    ("A toilet next to a shower in a small bathroom.", "swap_obj", "A shower next to a toilet in a small bathroom."),
    ("A black cat sitting on a wooden bench.", "replace_att", "A green cat sitting on a wooden bench."),
    ("Two zebras grazing in a field.", "replace_att", "Five zebras grazing in a field."),
    ("An old man reading a newspaper.", "replace_att", "A young man reading a newspaper."),
    ("A cat looking out of an open window.", "replace_att", "A cat looking out of a closed window."),
    ("A SMALL DOG SITTING ON A RED COUCH.", "replace_att", "A LARGE DOG SITTING ON A RED COUCH."),
    ("A dog catching a frisbee in its mouth.", "replace_obj", "An elephant catching a frisbee in its mouth."),
    ("Three elephants walking through a dry field.", "replace_obj", "Three bears walking through a dry field."),
    ("A cow standing in a field behind a wooden fence.", "replace_rel",
     "A cow sitting in a field behind a wooden fence."),
    ("A cat sleeping inside of a suitcase.", "replace_rel", "A cat sleeping outside of a suitcase."),
    ("a man riding a motorcyle down a higway", "replace_rel", "a man pushing a motorcyle down a higway"),
    ("Several cars are parked along the side of the street.", "replace_rel",
     "Several cars are driven along the side of the street."),
    ("A giraffe standing next to a tree in a zoo.", "replace_rel", "A giraffe standing far from a tree in a zoo."),
    ("the view from the top of the mountain", "replace_rel", "the view from the bottom of the mountain"),
    ("A man holding an umbrella.", "add_att", "An old man holding an umbrella."),
    ("A woman cutting a large cake with a knife.", "add_obj",
     "A woman and a bench cutting a large cake with a knife."),
    ("actor attends the premiere of the film", "add_obj", "actor attends the premiere of the film and a bench"),
]


@pytest.mark.parametrize("caption,kind,expected", RULES_TABLE)
def test_rules_table(rule_negator, caption, kind, expected):
    assert rule_negator.perturb(caption, kind, key="0") == expected


def test_rules_leave_alone_what_they_cannot_perturb(rule_negator):
    out = rule_negator.negate([("a", "a photo"), ("b", "Sunset."), ("c", "the view")])
    assert [o.status for o in out] == ["no_perturbation"] * 3 and all(not o.negatives for o in out)
    assert rule_negator.perturb("A man holding an umbrella.", "swap_att") is None  # one noun has no partner


_BROKEN = re.compile(r"\b(?:a|an|the)\s+(?:a|an|the)\b", re.IGNORECASE)
_ARTICLE = re.compile(r"\b(a|an)\s+([a-z]+)", re.IGNORECASE)


def test_rules_perturb_nine_in_ten_real_captions_fluently(rule_negator):
    k = 4
    negator = rules.RuleNegator(num_negatives=k, nlp=rule_negator.nlp)
    outcomes = negator.negate([(str(i), c) for i, c in enumerate(REAL)])
    assert sum(o.status == "ok" for o in outcomes) >= 0.9 * len(REAL)
    types = collections.Counter()
    for caption, out in zip(REAL, outcomes):
        kinds = [n["type"] for n in out.negatives]
        assert len(kinds) == len(set(kinds)) <= k and set(kinds) <= set(rules.TYPES)
        types.update(kinds)
        for n in out.negatives:
            text = n["text"]
            assert rules.normalized(text) != rules.normalized(caption), (caption, n)
            assert not _BROKEN.search(text) or _BROKEN.search(caption), (caption, n)
            assert abs(len(text.split()) - len(caption.split())) <= 3
            new = set(_ARTICLE.findall(text)) - set(_ARTICLE.findall(caption))
            for article, word in new:  # every "a"/"an" an edit touched agrees with its word
                assert article.lower() == ("an" if rules._vowel_sound(word) else "a"), (caption, text)
    assert set(types) == set(rules.TYPES)  # every type occurs on real captions
    # the same key gives the same negatives, whatever the batch
    again = negator.negate([(str(i), c) for i, c in list(enumerate(REAL))[::-1][:10]])
    assert [o.negatives for o in again] == [o.negatives for o in outcomes[::-1][:10]]


# A checker of what a text-only reader would reject in a negative, written apart from the backend's rules: it aligns
# the caption's tokens with the negative's and parses the negative anew. Such a negative teaches nothing about images.
_HYPHENS = ("-", "\u2013", "\u2014", "/")
_NOUN_TAGS = ("NN", "NNS", "NNP", "NNPS")
_ONE = {"a", "an", "one", "1", "each", "every", "another"}  # a singular count noun only
_PLURAL = {"these", "those", "many", "several", "both", *lexicon.NUMBERS, *lexicon.DIGITS}
_RELATIVE = {"that", "which", "who"}
_CLAUSES = {"advcl", "relcl", "ccomp", "xcomp", "acl", "parataxis"}


def _written_together(doc, i):
    """Tokens i and i + 1 are one written word: "3|-|year", "old|-|fashioned", "t|-|shirt", "ca|n't"."""
    a, b = doc[i], doc[i + 1]
    return not a.whitespace_ and (a.text in _HYPHENS or b.text in _HYPHENS
                                  or a.text[-1].isalnum() and b.text[0].isalnum())


def _joined_on(doc, i, side):
    j = i if side > 0 else i - 1
    return 0 <= j < len(doc) - 1 and _written_together(doc, j)


def _in_word(doc, i):
    return _joined_on(doc, i, 1) or _joined_on(doc, i, -1)


def _participle(t):
    """An -ing word after a noun is a verb ("a man riding a horse"), whatever the small model tags it."""
    return t.lower_.endswith("ing") and t.lower_ not in rules.NOUN_FORMS and t.i > 0 and t.nbor(-1).tag_ in _NOUN_TAGS


def _units(doc):
    """i where tokens i and i + 1 belong to one word or one compound noun: a `compound` dependent through its head,
    or two nouns in a row ("fire hydrant", which the small model parses as ROOT + amod). A lone colour or material
    word is an attribute, not a part ("a brick wall" -> "a stone wall" is a fair negative)."""
    pairs = {i for i in range(len(doc) - 1) if _written_together(doc, i)}
    for t in doc:
        if t.lower_ in lexicon.COLOURS + lexicon.MATERIALS and not list(t.children) or _participle(t):
            continue
        if t.dep_ == "compound" and t.head.i > t.i and not _participle(t.head):
            pairs.update(range(t.i, t.head.i))
        elif t.i + 1 < len(doc) and t.tag_ in _NOUN_TAGS and t.nbor().tag_ in _NOUN_TAGS and not _participle(t.nbor()):
            pairs.add(t.i)
    return pairs


def _changes(caption_doc, negative_doc):
    """(caption tokens, negative tokens) of each place where the two differ, aligned word by word."""
    a, b = [t.lower_ for t in caption_doc], [t.lower_ for t in negative_doc]
    return [(range(i1, i2), range(j1, j2)) for op, i1, i2, j1, j2
            in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes() if op != "equal"]


def compound_edits(caption_doc, negative_doc):
    """The caption's tokens inside a hyphenated word or compound noun that the negative changed or split apart."""
    pairs = _units(caption_doc)
    inside = pairs | {i + 1 for i in pairs}
    found = []
    for old, _ in _changes(caption_doc, negative_doc):
        found += [f"{caption_doc[i].lower_} changed" for i in old if i in inside]
        if not old and old.start - 1 in pairs:
            found.append(f"insertion in {caption_doc[old.start - 1].lower_} {caption_doc[old.start].lower_}")
    return found


def _number(t):
    """"sg", "pl", "mass" or None (unknown, or "sheep" whose form does not say): from the word where the lexicon
    knows it (the small model tags "The broccoli is" NNS), else from the tag."""
    w = t.lower_
    if w in lexicon.MASS_NOUNS:
        return "mass"
    if w in lexicon.PLURAL_ONLY:
        return "pl"
    if w in rules.NOUN_FORMS:
        kind, i = rules.NOUN_FORMS[w]
        singular, plural = lexicon.NOUN_KINDS[kind][i]
        return None if singular == plural else "sg" if w == singular else "pl"
    return None if _participle(t) else {"NN": "sg", "NNS": "pl", "NNP": "sg", "NNPS": "pl"}.get(t.tag_)


def _determined_noun(d):
    """The noun a determiner or numeral goes with, found by position, which the small model gets right more often
    than the arc ("A tall giraffe cutting leaves" hangs "A" on "leaves"): past adjectives and hyphenated words to the
    first noun, then to the last of the nouns in a row ("a stop sign"); None where something else comes first."""
    doc, i = d.doc, d.i + 1
    while i < len(doc) and not (doc[i].tag_ in _NOUN_TAGS and not _joined_on(doc, i, 1)):  # "a t-shirt": its last part
        if doc[i].tag_ not in ("JJ", "JJR", "JJS", "CD", "RB", "VBN", "VBG", "HYPH", ",") and not _in_word(doc, i):
            return None
        i += 1
    if i == len(doc):
        return None
    while i + 1 < len(doc) and doc[i + 1].tag_ in _NOUN_TAGS and doc[i].whitespace_ and not _participle(doc[i + 1]) \
            and doc[i + 1].dep_ not in _CLAUSES:  # "while a cat watches", "watches" tagged NNS but parsed a clause
        i += 1
    return doc[i]


def _finite(verb):
    """"sg"/"pl" where the verb or its auxiliary shows number ("is", "sits" / "are", "sit"), else None."""
    for v in [verb] + [c for c in verb.children if c.dep_ in ("aux", "auxpass")]:
        if v.tag_ == "VBZ" or v.lower_ == "was":
            return "sg"
        if v.tag_ == "VBP" or v.lower_ == "were":
            return "pl"
    return None


def _subject(nouns, conjuncts=True):
    """The number of a verb's subject nouns, and their words: "a dog and a cat" are plural, and so are two subjects
    of one verb (how the small model parses "a herd of sheep and a bottle is")."""
    nouns = nouns + [c for n in nouns for c in n.children if conjuncts and c.dep_ == "conj" and c.tag_ in _NOUN_TAGS]
    n = "pl" if len(nouns) > 1 else _number(nouns[0])
    return "sg" if n == "mass" else n, [t.i for t in nouns]


def agreement_errors(doc):
    """Determiners and numerals that disagree with their noun in number or countability ("a dogs", "two dog", "a
    rice", "these dog"), and subjects that disagree with their finite verb, after "there" and "that" too: (what,
    the tokens that disagree)."""
    errors = []
    for d in doc:
        word = d.lower_
        if d.dep_ not in ("det", "nummod") or word not in _ONE | _PLURAL | {"this", "that"} or _in_word(doc, d.i):
            continue
        noun = _determined_noun(d)
        n = _number(noun) if noun is not None else None
        wrong = word in _ONE and n != "sg" or word in ("this", "that") and n == "pl" or word in _PLURAL and n != "pl"
        if n and wrong:
            errors.append((f"{word} {noun.text}", [d.i, noun.i]))
    for t in doc:
        if t.pos_ not in ("VERB", "AUX"):
            continue
        pairs = []  # (subject, verb, what)
        subjects = [c for c in t.children if c.dep_ in ("nsubj", "nsubjpass") and c.tag_ in _NOUN_TAGS]
        if any(c.dep_ == "expl" for c in t.children):  # "there is a dog and a cat": the first one agrees
            pairs += [(_subject([c], conjuncts=False), t, f"there {t.text} {c.text}") for c in t.children
                      if c.dep_ in ("attr", "nsubj") and c.tag_ in _NOUN_TAGS]
        elif subjects:
            pairs.append((_subject(subjects), t, f"{subjects[0].text} {t.text}"))
        if t.dep_ == "relcl" and t.head.tag_ in _NOUN_TAGS and t.head.dep_ != "conj" \
                and any(c.dep_.startswith("nsubj") and c.lower_ in _RELATIVE for c in t.children):
            pairs.append((_subject([t.head]), t, f"{t.head.text} ... {t.text}"))
        for (number, words), verb, what in pairs:
            finite = _finite(verb)
            if number and finite and number != finite:
                errors.append((what, words + [verb.i] + [c.i for c in verb.children if c.dep_.startswith("aux")]))
    return errors


def offences(caption_doc, negative_doc):
    """Why the negative is not English where the caption is: compound edits, and agreement errors that involve a
    word the edit changed or added (a parse that reads "teddy bear" as noun and verb is no error of the negator's)
    and that the caption does not have itself."""
    before = {what for what, _ in agreement_errors(caption_doc)}
    edited = {j for _, new in _changes(caption_doc, negative_doc) for j in new}
    return compound_edits(caption_doc, negative_doc) + [f"agreement: {what}" for what, words
                                                        in agreement_errors(negative_doc)
                                                        if edited.intersection(words) and what not in before]


# (caption, negative, what the checker finds): its rules on negatives made by hand, good and bad.
CHECKER_TABLE = [
    ("a 3-year-old girl wearing a pink dress", "a 3-dress-old girl wearing a pink year", ["year changed"]),
    ("a 3-year-old girl wearing a pink dress", "a 3-year-young girl wearing a pink dress", ["old changed"]),
    ("a 3-year-old girl wearing a pink dress", "a 3-year-old boy wearing a pink dress", []),
    ("an old-fashioned car", "a new-fashioned car", ["old changed"]),
    ("A man wearing a t-shirt.", "A man wearing a t-dress.", ["shirt changed"]),
    ("A red stop sign", "A red stop scissors", ["sign changed", "agreement: a scissors"]),
    ("A red stop sign", "A red sign stop", ["sign changed"]),
    ("A red stop sign", "A red stop small sign", ["insertion in stop sign"]),
    ("A red stop sign", "A blue stop sign", []),
    ("A red fire hydrant on a sidewalk.", "A red sidewalk hydrant on a fire.", ["fire changed"]),  # parsed ROOT+amod
    ("A kitchen with a stainless steel refrigerator.", "A kitchen with a stainless paper refrigerator.",
     ["steel changed"]),
    ("A glass vase filled with yellow flowers.", "A metal vase filled with yellow flowers.", []),  # an attribute
    ("A glass vase filled with yellow flowers.", "A glass bowl filled with yellow flowers.", []),
    ("The broccoli is being cooked", "The pizzas is being cooked", ["agreement: pizzas cooked"]),
    ("The broccoli is being cooked", "The rice is being cooked", []),
    ("A dog sits on a bench.", "A dogs sits on a bench.", ["agreement: a dogs", "agreement: dogs sits"]),
    ("Two dogs on a bed in the snow.", "Two dog on a bed in a snow.", ["agreement: two dog", "agreement: a snow"]),
    ("There is a cat on the bed.", "There is two cats on the bed.", ["agreement: there is cats"]),
    ("There are two dogs and a cat in the yard.", "There are two cats and a dog in the yard.", []),
    ("A man who is riding a horse.", "Men who is riding a horse.", ["agreement: Men ... riding"]),
    ("These dogs are sleeping.", "These dog are sleeping.", ["agreement: these dog", "agreement: dog sleeping"]),
    ("Two sheep grazing in a field.", "Two deer grazing in a field.", []),
    ("A dog and a cat are sleeping on a bed.", "A dog and a bird are sleeping on a bed.", []),
    ("A tall giraffe eating leaves.", "A tall giraffe cutting leaves.", []),  # the small model parses it "A ... leaves"
    ("A dog sleeps while a cat watches.", "A dog sleeps while a large cat watches.", []),  # "watches" tagged NNS
    ("A herd of sheep is walking.", "A herd of sheep and a bottle is walking.", ["agreement: herd walking"]),
    ("A teddy bear sitting on a chair.", "A teddy bear lying on a chair.", []),  # parsed "teddy (subject) bear (verb)"
]


@pytest.mark.parametrize("caption,negative,found", CHECKER_TABLE)
def test_rules_negative_checker(rule_negator, caption, negative, found):
    nlp = rule_negator.nlp
    assert offences(nlp(caption), nlp(negative)) == found


def test_rules_checker_finds_nothing_in_the_real_captions(rule_negator):
    # people's captions are English: every agreement error found in one would be the checker's
    assert [c for c, doc in zip(REAL, rule_negator.nlp.pipe(REAL)) if agreement_errors(doc)] == []
    assert [w for w, _ in agreement_errors(rule_negator.nlp("The pizzas is hot and a dogs sit on two dog."))] == [
        "a dogs", "two dog", "pizzas is"]


# (caption, type, every negative of that type over 20 keys): the examples, each made on the old rules.
WHOLE_TABLE = [
    ("a 3-year-old girl wearing a pink dress", "swap_obj", {"a 3-year-old dress wearing a pink girl"}),  # 3-dress-old
    ("a 3-year-old girl wearing a pink dress", "replace_att",  # was "a 3-year-young girl"
     {f"a 3-year-old girl wearing {'an' if c == 'orange' else 'a'} {c} dress" for c in lexicon.COLOURS}),
    ("an old-fashioned car", "replace_att", set()),  # was "a new-fashioned car"
    ("a red stop sign", "swap_obj", set()),  # was "a red sign stop"
    ("a red stop sign", "replace_obj", set()),  # was "a red stop flag" / "scissors"
    ("The broccoli is being cooked", "replace_obj", {"The rice is being cooked", "The pasta is being cooked",
                                                     "The chicken is being cooked"}),  # was "The pizzas is"
    ("a big brown dog running in the snow", "swap_obj", set()),  # was "a big brown snow running in the dog"
]


@pytest.mark.parametrize("caption,kind,allowed", WHOLE_TABLE)
def test_rules_keep_compounds_whole_and_agreement(rule_negator, caption, kind, allowed):
    made = {rule_negator.perturb(caption, kind, key=str(k)) for k in range(20)} - {None}
    assert made <= allowed and bool(made) == bool(allowed), made - allowed


@pytest.mark.parametrize("caption,same", [
    ("a cat and a dog on a sofa", "a dog and a cat on a sofa"),
    ("apples, bananas and oranges on a table", "bananas, apples and oranges on a table"),
    ("A man and a woman riding horses on a beach.", "A woman and a man riding horses on a beach."),
])
def test_rules_never_swap_two_items_of_a_list_into_the_same_caption(rule_negator, caption, same):
    made = {rule_negator.perturb(caption, "swap_obj", key=str(k)) for k in range(20)}
    assert same not in made and not any(rules.normalized(m or "") == rules.normalized(caption) for m in made)


def test_rules_still_swap_list_items_whose_words_differ(rule_negator):
    made = {rule_negator.perturb("a black cat and a white dog", "swap_obj", key=str(k)) for k in range(5)}
    assert "a black dog and a white cat" in made


HARD = ["A red fire hydrant on a sidewalk.", "A man in a t-shirt holding a frisbee.",
        "A woman cutting a cake with a knife.", "A kitchen with a stainless steel refrigerator.",
        "A herd of sheep is walking down a road.", "The chicken is eating grass in a yard.",
        "Two white swans swimming in a pond."]


def test_rules_make_no_negative_a_reader_can_reject(rule_negator):
    # The K = 4 draw, and every candidate of every type with three draws of the replacement words, for the real
    # captions, the examples and captions that once gave "a stop scissors", "a stainless paper refrigerator"
    # or "a herd of sheep and a bottle is".
    captions = REAL + [c for c, _, _ in WHOLE_TABLE] + HARD
    nlp = rule_negator.nlp
    docs = list(nlp.pipe([rules.parse_text(c) for c in captions]))
    drawn = rules.RuleNegator(num_negatives=4, nlp=nlp).negate([(str(i), c) for i, c in enumerate(captions)])
    negatives = {(i, n["type"], n["text"]) for i, out in enumerate(drawn) for n in out.negatives}
    for i, (caption, doc) in enumerate(zip(captions, docs)):
        view = rules.Caption(caption, doc)
        for kind, seed in itertools.product(rules.TYPES, range(3)):
            edits = rules.candidates(kind, view, random.Random(seed))
            negatives.update((i, kind, text) for text in rules._rendered(caption, doc, edits))
    negatives = sorted(negatives)
    assert len(negatives) > 1200
    found = [(kind, captions[i], text, why) for (i, kind, text), negative_doc
             in zip(negatives, nlp.pipe([rules.parse_text(n[2]) for n in negatives]))
             if (why := offences(docs[i], negative_doc))]
    assert found == []


# (raw LLM answer, caption, cleaned, reason or None)
PARSING_TABLE = [
    ("A dog to the right of the cat.", "A dog to the left of the cat.", "A dog to the right of the cat.", None),
    ("Output: A dog to the right of the cat.", "A dog to the left of the cat.", "A dog to the right of the cat.",
     None),
    (' "A person in a blue helmet rides a motorbike on a gravel path."\n',
     "A person wearing a red helmet drives a motorbike on a dirt road.",
     "A person in a blue helmet rides a motorbike on a gravel path.", None),
    ("Sure! Here is the updated description: A black cat on a red sofa.", "A white cat on a red sofa.",
     "A black cat on a red sofa.", None),
    ("Here's the updated description:\n\nTwo cats sleeping on a bed.", "Two dogs sleeping on a bed.",
     "Two cats sleeping on a bed.", None),
    ("A man riding a horse.\nInput: A cat on a mat. Output: A dog on a mat.", "A man riding a bike.",
     "A man riding a horse.", None),
    ("Input: A man riding a bike. Output: A woman riding a bike.", "A man riding a bike.",
     "A woman riding a bike.", None),
    ("A red car next to a tree. (Changed blue to red.)", "A blue car next to a tree.",
     "A red car next to a tree.", None),
    ("**A man sitting on a bench.**", "A man standing on a bench.", "A man sitting on a bench.", None),
    ("", "A man riding a bike.", "", "empty"),
    ('""', "A man riding a bike.", "", "empty"),
    ("I'm sorry, but I can't help with that.", "A man riding a bike.", "I'm sorry, but I can't help with that.",
     "refusal"),
    ("As an AI language model, I cannot see images.", "A man riding a bike.",
     "As an AI language model, I cannot see images.", "refusal"),
    ("I changed the color of the car to make it different.", "A blue car next to a tree.",
     "I changed the color of the car to make it different.", "explanation"),
    ("a man riding a bike", "A man riding a bike.", "a man riding a bike", "echo"),
    ("A man riding a bike down a long winding mountain road past a lake with ducks and a big red barn.",
     "A man riding a bike.", None, "length"),
    ("Bike.", "A man riding a bike down the road.", "Bike.", "length"),
    ("Colorful fireworks explode above the harbour tonight.", "A man riding a bike down the road.",
     "Colorful fireworks explode above the harbour tonight.", "unrelated"),
]


@pytest.mark.parametrize("raw,caption,cleaned,reason", PARSING_TABLE)
def test_parsing_table(raw, caption, cleaned, reason):
    text = answers.clean(raw)
    if cleaned is not None:
        assert text == cleaned
    assert answers.check(text, caption) == reason


def test_prompt_is_the_papers_and_goes_through_the_chat_template(tokenizer):
    assert PAPER_PROMPT.startswith("You are given the description of an image.")
    assert "Input: A dog to the left of the cat. Output: A dog to the right of the cat." in PAPER_PROMPT
    assert PAPER_PROMPT.endswith("Now, do the same for the following captions: Input: {} Output:")
    text = chat_prompt(tokenizer, " A red car. ")
    assert text == "<s>[INST] " + PAPER_PROMPT.replace("{}", "A red car.") + " [/INST]"
    with pytest.raises(ValueError, match="exactly one"):
        negate.make_negator("vllm", prompt="no slot", engine=object())


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return tiny_lm.build(tmp_path_factory.mktemp("tiny_lm"), REAL)


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


@pytest.mark.slow
def test_transformers_backend_rejects_retries_and_counts_garbage(tiny_model, tmp_path):
    captions = REAL[:6]
    (tmp_path / "in.txt").write_text("\n".join(captions) + "\n", encoding="utf-8")
    opts = {"model": str(tiny_model), "sampling": {"max_tokens": 24}, "batch_size": 4, "max_attempts": 3}
    negator = negate.make_negator("transformers", seed=0, **opts)
    stats = negate.negate_file(str(tmp_path / "in.txt"), str(tmp_path / "out.jsonl"), str(tmp_path / "s.json"),
                               negator, batch_size=4)
    rows = io.read_jsonl(tmp_path / "out.jsonl")
    # A random model writes no caption: every answer is turned down, three times per caption, then the rules step in.
    assert [r["attempts"] for r in rows] == [3] * 6 and all(len(r["rejected"]) == 3 for r in rows)
    assert all(set(r["rejected"]) <= set(answers.REASONS) for r in rows)
    assert stats["rejected"] == dict(collections.Counter(x for r in rows for x in r["rejected"]))
    assert sum(stats["rejected"].values()) == 18 and stats["attempts"] == 18
    assert stats["fallback"] == 6 and stats["negated"] == 6 and all(r["backend"] == "rules" for r in rows)
    assert [r["caption"] for r in rows] == captions
    # the same seeds give the same answers: a rerun writes the same file
    negate.negate_file(str(tmp_path / "in.txt"), str(tmp_path / "again.jsonl"), str(tmp_path / "s2.json"),
                       negate.make_negator("transformers", seed=0, **opts), batch_size=4)
    assert (tmp_path / "again.jsonl").read_bytes() == (tmp_path / "out.jsonl").read_bytes()
    # dropped instead of replaced
    dropped = negate.make_negator("transformers", seed=0, on_failure="drop", **opts).negate([("1", captions[0])])
    assert dropped[0].status == "rejected" and dropped[0].negatives == [] and len(dropped[0].rejected) == 3


def test_vllm_adapter_at_its_boundary(tokenizer, monkeypatch):
    good, refusal = "Output: A dog to the right of the cat.", "I'm sorry, I cannot do that."
    script = {
        "A dog to the left of the cat.": [[good]],
        "A man riding a bike.": [[refusal], ["a man riding a bike"], ["A woman riding a bike."]],
        "A red car.": [[""], ["Fireworks above the harbour."], ["A red car parked on a long road "
                                                                               "beside a river and some trees."]],
    }
    fake = fake_vllm.module(tokenizer, script)
    monkeypatch.setitem(sys.modules, "vllm", fake)
    negator = negate.make_negator("vllm", model="/models/mistral", seed=7, tensor_parallel_size=2,
                                  sampling={"temperature": 0.5, "top_p": 0.9, "max_tokens": 40})
    items = [(str(i), c) for i, c in enumerate(script)]
    out = negator.negate(items)
    assert fake.inits == [{"model": "/models/mistral", "tensor_parallel_size": 2, "dtype": "auto", "seed": 7}]
    assert [o.negatives[0]["text"] for o in out[:2]] == ["A dog to the right of the cat.", "A woman riding a bike."]
    assert [o.attempts for o in out] == [1, 3, 3] and [o.backend for o in out] == ["vllm", "vllm", "rules"]
    assert out[1].rejected == ["refusal", "echo"] and out[2].rejected == ["empty", "unrelated", "length"]
    assert out[2].status == "ok" and out[2].negatives[0]["type"] in rules.TYPES  # the rules' fallback
    calls = fake.calls
    assert all(c["prompt"].startswith("<s>[INST] You are given the description") for c in calls)
    assert {(c["params"].temperature, c["params"].top_p, c["params"].max_tokens, c["params"].n) for c in calls} \
        == {(0.5, 0.9, 40, 1)}
    seeds = [c["params"].seed for c in calls if c["caption"] == "A man riding a bike."]
    assert len(set(seeds)) == 3  # each retry draws anew
    # one generate call per attempt, over every caption still pending
    assert [c["caption"] for c in calls] == list(script) + list(script)[1:] + list(script)[1:]


def test_vllm_backend_says_where_vllm_lives(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(ImportError, match="envs/vllm.yaml"):
        negate.make_negator("vllm")


def test_a_killed_run_resumes_where_it_stopped(rule_negator, tmp_path):
    (tmp_path / "in.txt").write_text("\n".join(REAL[:50]) + "\n", encoding="utf-8")
    args = str(tmp_path / "in.txt"), str(tmp_path / "out.jsonl"), str(tmp_path / "stats.json")
    killed = Counting(rule_negator, fail_after=3)
    with pytest.raises(KeyboardInterrupt):
        negate.negate_file(*args, killed, batch_size=8)
    assert not (tmp_path / "out.jsonl").exists() and not (tmp_path / "stats.json").exists()
    partial = tmp_path / ".out.jsonl.partial"
    with open(partial, "a", encoding="utf-8") as f:
        f.write('{"key": "25", "capt')  # the line being written when it died
    rerun = Counting(rule_negator)
    stats = negate.negate_file(*args, rerun, batch_size=8)
    assert rerun.seen == [str(i) for i in range(25, 51)] and stats["resumed"] == 24
    assert not partial.exists()
    negate.negate_file(args[0], str(tmp_path / "whole.jsonl"), str(tmp_path / "w.json"), rule_negator, batch_size=8)
    assert (tmp_path / "out.jsonl").read_bytes() == (tmp_path / "whole.jsonl").read_bytes()


def test_inputs_text_tables_and_shards_with_bad_captions_counted(rule_negator, tmp_path):
    (tmp_path / "in.txt").write_bytes(b"A black cat on a red sofa.\n\n   \nA dog \xff\xfe on a bed.\r\nA man riding a bike.\n")
    stats = negate.negate_file(str(tmp_path / "in.txt"), str(tmp_path / "t.jsonl"), str(tmp_path / "t.json"),
                               rule_negator)
    rows = io.read_jsonl(tmp_path / "t.jsonl")
    assert [r["key"] for r in rows] == ["1", "2", "3", "4", "5"]
    assert [r["status"] for r in rows] == ["ok", "empty_caption", "empty_caption", "not_utf8", "ok"]
    assert stats["in"] == 5 and stats["negated"] == 2 and stats["failed"] == {"empty_caption": 2, "not_utf8": 1}
    assert all(set(r) >= {"key", "caption", "negatives", "backend", "attempts", "status"} for r in rows)

    frame = pd.DataFrame({"id": ["x", "y", "z"], "caption": ["A black cat on a red sofa.", "", "Two dogs on a bed."]})
    frame.to_csv(tmp_path / "in.csv", index=False)
    frame.to_csv(tmp_path / "in.tsv", index=False, sep="\t")
    frame.to_parquet(tmp_path / "in.parquet")
    for name in ("in.csv", "in.tsv", "in.parquet"):
        s = negate.negate_file(str(tmp_path / name), str(tmp_path / f"{name}.jsonl"), str(tmp_path / "s.json"),
                               rule_negator, key_col="id")
        rows = io.read_jsonl(tmp_path / f"{name}.jsonl")
        assert [r["key"] for r in rows] == ["x", "y", "z"] and s["failed"] == {"empty_caption": 1}, name
    with pytest.raises(ValueError, match="no column 'text'.*'caption'"):
        negate.negate_file(str(tmp_path / "in.csv"), str(tmp_path / "o.jsonl"), str(tmp_path / "s.json"),
                           rule_negator, caption_col="text")

    with io.shard_writer(tmp_path / "in.tar") as sink:
        sink.write({"__key__": "b", "txt": "A man riding a bike.", "jpg": b"x"})
        sink.write({"__key__": "a", "txt": b"\xff\xfe", "jpg": b"x"})
        sink.write({"__key__": "c", "jpg": b"x"})
    s = negate.negate_file(str(tmp_path / "in.tar"), str(tmp_path / "w.jsonl"), str(tmp_path / "w.json"),
                           rule_negator)
    assert [r["key"] for r in io.read_jsonl(tmp_path / "w.jsonl")] == ["a", "b", "c"]
    assert s["failed"] == {"not_utf8": 1, "missing_caption": 1} and s["negated"] == 1


def test_command_line(tmp_path):
    (tmp_path / "caps.txt").write_text("\n".join(REAL[:5]) + "\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "tripletclip.negate", "--backend", "rules", str(tmp_path / "caps.txt"),
                          "-o", str(tmp_path / "neg.jsonl"), "-k", "2"], capture_output=True, encoding="utf-8")
    assert run.returncode == 0, run.stderr
    rows = io.read_jsonl(tmp_path / "neg.jsonl")
    assert [r["caption"] for r in rows] == REAL[:5] and all(len(r["negatives"]) == 2 for r in rows)
    assert json.loads(run.stdout.splitlines()[-1])["negated"] == 5
    assert io.read_json(tmp_path / "neg.stats.json")["negatives"] == 10
    bad = subprocess.run([sys.executable, "-m", "tripletclip.negate", str(tmp_path / "nope.csv"), "-o",
                          str(tmp_path / "x.jsonl")], capture_output=True, encoding="utf-8")
    assert bad.returncode == 2 and "nope.csv" in bad.stderr


def test_another_backend_on_the_shapes_world_names_no_heldout_combination():
    """Rules or an LLM on the world's captions may name a held-out colour-shape combination; those negatives are
    dropped and counted (here the shapes negator without its own guard stands for such a backend)."""
    from tripletclip import shapes
    from tripletclip.negate.shapes import ShapesNegator, WithoutCombos

    forbidden = shapes.heldout_combos(0, 6)
    rng = random.Random(1)
    scenes = [shapes.sample_scene(rng, "train", forbidden) for _ in range(300)]
    items = [(str(i), shapes.describe(s)) for i, s in enumerate(scenes)]
    unguarded = ShapesNegator(num_negatives=3).negate(items)
    guarded = WithoutCombos(ShapesNegator(num_negatives=3), forbidden).negate(items)
    named = [n["text"] for o in unguarded for n in o.negatives
             if shapes.parse(n["text"])[0].combos() & forbidden]
    assert named  # the unguarded negator does name them
    kept = [n["text"] for o in guarded for n in o.negatives]
    assert not [t for t in kept if shapes.parse(t)[0].combos() & forbidden]
    assert sum(o.rejected.count("heldout") for o in guarded) == len(named)
    assert len(kept) + len(named) == sum(len(o.negatives) for o in unguarded)
