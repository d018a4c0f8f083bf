"""The embedded "shapes" world: a small compositional world whose captions, negatives and images we make ourselves.

A scene is two objects placed by a relation ("a small red circle left of a large blue square"), sometimes with a
third that stands apart ("..., and a small green star"); an "add_obj" negative adds that third object. True scenes
must have three objects too, at some rate: if only negatives did, the object count alone would give them away. Every object has a size, a colour, a
shape and, optionally, is hollow. A caption names every attribute except "filled", which is the default: so adding
"hollow" to an object of a true caption always makes a false one (the add_att negative).

The module holds the grammar (scene -> caption, with some variety of phrasing), its parser (caption -> scene, so any
valid caption, negatives included, can be drawn), the renderer (deterministic, seeded jitter), the seven negative
types, and the train/test split: some colour-shape combinations never appear in training.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random
import re
from typing import Iterable, Sequence

from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle", "diamond", "star", "hexagon")
COLOURS = {
    "red": (214, 39, 40),
    "green": (44, 160, 44),
    "blue": (31, 90, 220),
    "yellow": (240, 200, 20),
    "purple": (148, 60, 189),
    "orange": (255, 127, 14),
    "gray": (127, 127, 127),
}
SIZES = ("small", "large")
RELATIONS = ("left", "right", "above", "below")
NEGATIVE_TYPES = ("swap_att", "swap_obj", "replace_att", "replace_obj", "replace_rel", "add_obj", "add_att")

# Phrasings of each relation; the first is canonical.
RELATION_PHRASES = {
    "left": ("left of", "to the left of", "on the left of"),
    "right": ("right of", "to the right of", "on the right of"),
    "above": ("above", "over", "on top of"),
    "below": ("below", "under", "beneath"),
}
# Sentence frames for the two related objects; {a} and {b} are object phrases, {rel} a relation phrase.
FRAMES = (
    "{a} {rel} {b}",
    "{a} is {rel} {b}",
    "there is {a} {rel} {b}",
    "a picture of {a} {rel} {b}",
    "{a} placed {rel} {b}",
)
# How a third, free-standing object is appended.
JOINERS = (", and ", ", plus ")

_RADIUS = {"small": 0.085, "large": 0.15}  # in units of the image side
_BACKGROUND = (240, 240, 236)
_SUPERSAMPLE = 4  # drawn larger then downsampled: antialiased edges without a dependency


class CaptionError(ValueError):
    """A caption that is not a sentence of the shapes grammar."""


@dataclasses.dataclass(frozen=True)
class Obj:
    size: str
    colour: str
    shape: str
    hollow: bool = False

    def phrase(self) -> str:
        words = [self.size] + (["hollow"] if self.hollow else []) + [self.colour, self.shape]
        return ("an " if words[0][0] in "aeiou" else "a ") + " ".join(words)


@dataclasses.dataclass(frozen=True)
class Scene:
    """objects[0] stands in `relation` to objects[1]; objects[2], if any, stands apart."""

    objects: tuple[Obj, ...]
    relation: str

    def combos(self) -> set[tuple[str, str]]:
        return {(o.colour, o.shape) for o in self.objects}


@dataclasses.dataclass(frozen=True)
class Phrasing:
    """How a scene was worded; a negative keeps its positive's wording so only the meaning changes."""

    frame: int = 0
    relation: int = 0
    joiner: int = 0


def describe(scene: Scene, phrasing: Phrasing = Phrasing()) -> str:
    a, b = scene.objects[0], scene.objects[1]
    text = FRAMES[phrasing.frame].format(
        a=a.phrase(), b=b.phrase(), rel=RELATION_PHRASES[scene.relation][phrasing.relation]
    )
    if len(scene.objects) > 2:
        text += JOINERS[phrasing.joiner] + scene.objects[2].phrase()
    return text


def _alternation(words: Iterable[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_OBJ = r"an? ({size}) (hollow )?({colour}) ({shape})".format(
    size=_alternation(SIZES), colour=_alternation(COLOURS), shape=_alternation(SHAPES)
)
_REL_LOOKUP = {phrase: (rel, i) for rel, phrases in RELATION_PHRASES.items() for i, phrase in enumerate(phrases)}
_REL = "(" + _alternation(_REL_LOOKUP) + ")"
_JOIN = "(" + "|".join(re.escape(j) for j in JOINERS) + ")"


def _frame_regex(frame: str) -> re.Pattern:
    body = re.escape(frame).replace(r"\{a\}", _OBJ).replace(r"\{b\}", _OBJ).replace(r"\{rel\}", _REL)
    return re.compile("^" + body + "(?:" + _JOIN + _OBJ + ")?$")


_FRAME_RES = [_frame_regex(f) for f in FRAMES]


def normalize(caption: str) -> str:
    return re.sub(r"\s+", " ", caption.strip().lower()).rstrip(".").strip()


def parse(caption: str) -> tuple[Scene, Phrasing]:
    """Caption -> (scene, phrasing). Case, spacing and a final full stop are ignored. Raises CaptionError."""
    text = normalize(caption)
    for frame, regex in enumerate(_FRAME_RES):
        m = regex.match(text)
        if not m:
            continue
        g = m.groups()
        a = Obj(g[0], g[2], g[3], bool(g[1]))
        relation, rel_phrase = _REL_LOOKUP[g[4]]
        b = Obj(g[5], g[7], g[8], bool(g[6]))
        objects = (a, b)
        joiner = 0
        if g[9] is not None:
            joiner = JOINERS.index(g[9])
            objects += (Obj(g[10], g[12], g[13], bool(g[11])),)
        return Scene(objects, relation), Phrasing(frame, rel_phrase, joiner)
    raise CaptionError(f"not a caption of the shapes world: {caption!r}")


# ---------------------------------------------------------------------------------------------------------------
# Splits and sampling


def heldout_combos(seed: int, count: int) -> frozenset[tuple[str, str]]:
    """`count` colour-shape combinations kept out of training, at most one per colour and per shape, so that every
    colour and every shape is still seen in training (only the combination is new at test time)."""
    colours, shapes = list(COLOURS), list(SHAPES)
    if count > min(len(colours), len(shapes)):
        raise ValueError(f"at most {min(len(colours), len(shapes))} held-out combinations, got {count}")
    rng = random.Random(f"heldout:{seed}")
    rng.shuffle(colours)
    rng.shuffle(shapes)
    return frozenset(zip(colours[:count], shapes[:count]))


def typical_colours(seed: int, heldout: frozenset) -> dict[str, str]:
    """Each shape's usual colour in training, a distinct colour per shape and never a held-out combination."""
    colours = list(COLOURS)
    rng = random.Random(f"typical:{seed}")
    while True:
        rng.shuffle(colours)
        typical = dict(zip(SHAPES, colours))
        if not any((colour, shape) in heldout for shape, colour in typical.items()):
            return typical


def random_object(rng: random.Random, allowed=lambda colour, shape: True, hollow_rate: float = 0.2,
                  typical: dict[str, str] | None = None, colour_bias: float = 0.0) -> Obj:
    """With `colour_bias`, that share of draws takes the shape's `typical` colour instead of a uniform one."""
    while True:
        colour, shape = rng.choice(list(COLOURS)), rng.choice(SHAPES)
        # Drawn only when biased, so that an unbiased world is the same world as before the option existed.
        if colour_bias and rng.random() < colour_bias:
            colour = typical[shape]
        if allowed(colour, shape):
            return Obj(rng.choice(SIZES), colour, shape, rng.random() < hollow_rate)


def sample_scene(rng: random.Random, split: str, heldout: frozenset, hollow_rate: float = 0.2,
                 third_object_rate: float = 0.0, typical: dict[str, str] | None = None,
                 colour_bias: float = 0.0) -> Scene:
    """A scene of two related objects and, with probability `third_object_rate`, a free-standing third.
    "train": no held-out combination, and a `colour_bias` share of objects in their shape's `typical` colour;
    "test": one of the related pair is held out, colours uniform."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if split == "test":
        colour_bias = 0.0
    seen = lambda c, s: (c, s) not in heldout  # noqa: E731
    biased = dict(hollow_rate=hollow_rate, typical=typical, colour_bias=colour_bias)
    while True:
        if split == "train":
            objs = [random_object(rng, seen, **biased) for _ in range(2)]
        else:
            objs = [random_object(rng, lambda c, s: (c, s) in heldout, hollow_rate), random_object(rng, hollow_rate=hollow_rate)]
            rng.shuffle(objs)
        if (objs[0].colour, objs[0].shape) != (objs[1].colour, objs[1].shape):
            break
    if rng.random() < third_object_rate:
        objs.append(random_object(rng, seen if split == "train" else lambda c, s: True, **biased))
    return Scene(tuple(objs), rng.choice(RELATIONS))


def random_phrasing(rng: random.Random) -> Phrasing:
    return Phrasing(rng.randrange(len(FRAMES)), rng.randrange(3), rng.randrange(len(JOINERS)))


def keyed_rng(*parts) -> random.Random:
    """A generator seeded by a stable digest of `parts` (Python's hash() is salted per process)."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


# ---------------------------------------------------------------------------------------------------------------
# Negatives


def _replace(scene: Scene, i: int, **changes) -> Scene:
    objects = list(scene.objects)
    objects[i] = dataclasses.replace(objects[i], **changes)
    return Scene(tuple(objects), scene.relation)


def _candidates(scene: Scene, kind: str) -> list[Scene]:
    """Every negative of one type; each differs in meaning from `scene`."""
    a, b = scene.objects[0], scene.objects[1]
    out: list[Scene] = []
    if kind == "swap_att":
        for attr in ("size", "colour", "hollow"):
            if getattr(a, attr) != getattr(b, attr):
                out.append(_replace(_replace(scene, 0, **{attr: getattr(b, attr)}), 1, **{attr: getattr(a, attr)}))
    elif kind == "swap_obj":
        if a.shape != b.shape:
            out.append(_replace(_replace(scene, 0, shape=b.shape), 1, shape=a.shape))
    elif kind == "replace_att":
        for i, o in enumerate(scene.objects[:2]):
            out += [_replace(scene, i, colour=c) for c in COLOURS if c != o.colour]
            out.append(_replace(scene, i, size=SIZES[1 - SIZES.index(o.size)]))
    elif kind == "replace_obj":
        for i, o in enumerate(scene.objects[:2]):
            out += [_replace(scene, i, shape=s) for s in SHAPES if s != o.shape]
    elif kind == "replace_rel":
        out += [Scene(scene.objects, r) for r in RELATIONS if r != scene.relation]
    elif kind == "add_obj":
        if len(scene.objects) == 2:
            out += [
                Scene(scene.objects + (Obj(size, colour, shape),), scene.relation)
                for size in SIZES for colour in COLOURS for shape in SHAPES
            ]
    elif kind == "add_att":
        out += [_replace(scene, i, hollow=True) for i, o in enumerate(scene.objects) if not o.hollow]
    else:
        raise ValueError(f"unknown negative type {kind!r}; expected one of {NEGATIVE_TYPES}")
    # A swap can produce a scene that is the same picture (objects identical but for position are not: keep those).
    return [s for s in out if s != scene]


def negative(scene: Scene, kind: str, rng: random.Random, forbidden: frozenset = frozenset()) -> Scene | None:
    """A random negative of type `kind` that uses no `forbidden` colour-shape combination, or None if none exists."""
    options = [s for s in _candidates(scene, kind) if not (s.combos() & forbidden)]
    return rng.choice(options) if options else None


def applicable_types(scene: Scene, kinds: Sequence[str], forbidden: frozenset = frozenset()) -> list[str]:
    return [k for k in kinds if any(not (s.combos() & forbidden) for s in _candidates(scene, k))]


# ---------------------------------------------------------------------------------------------------------------
# Rendering


def _layout(scene: Scene, rng: random.Random) -> list[tuple[float, float, float]]:
    """(cx, cy, radius) of each object in unit coordinates, with seeded jitter."""
    def jitter(v, amount):
        return v + rng.uniform(-amount, amount)

    if len(scene.objects) == 1:  # a lone object (zero-shot classification's images) sits in the middle
        return [(jitter(0.5, 0.08), jitter(0.5, 0.08), _RADIUS[scene.objects[0].size] * rng.uniform(0.9, 1.1))]
    first, second = (0.28, 0.72) if scene.relation in ("left", "above") else (0.72, 0.28)
    across = jitter(0.5, 0.06)
    if scene.relation in ("left", "right"):
        centres = [(jitter(first, 0.04), across), (jitter(second, 0.04), jitter(across, 0.03))]
    else:
        centres = [(across, jitter(first, 0.04)), (jitter(across, 0.03), jitter(second, 0.04))]
    if len(scene.objects) > 2:  # the free-standing object takes the empty side of the pair
        side = rng.choice((0.15, 0.85))
        centres.append((jitter(0.5, 0.03), side) if scene.relation in ("left", "right") else (side, jitter(0.5, 0.03)))
    return [(cx, cy, _RADIUS[o.size] * rng.uniform(0.9, 1.1)) for (cx, cy), o in zip(centres, scene.objects)]


def _outline(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    def polygon(n, start, radii):
        return [
            (cx + radii[k % len(radii)] * math.cos(start + 2 * math.pi * k / n),
             cy + radii[k % len(radii)] * math.sin(start + 2 * math.pi * k / n))
            for k in range(n)
        ]

    if shape == "square":
        h = r * 0.86
        return [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
    if shape == "triangle":
        return polygon(3, -math.pi / 2, [r * 1.1])
    if shape == "diamond":
        return polygon(4, -math.pi / 2, [r * 1.1])
    if shape == "star":
        return polygon(10, -math.pi / 2, [r * 1.15, r * 0.5])
    if shape == "hexagon":
        return polygon(6, 0, [r])
    raise ValueError(f"unknown shape {shape!r}")


def render(scene: Scene, size: int = 64, seed: int | str = 0) -> Image.Image:
    """Draw `scene` as an RGB image of side `size`; the same scene and seed always give the same pixels."""
    rng = keyed_rng("render", seed)
    big = size * _SUPERSAMPLE
    image = Image.new("RGB", (big, big), _BACKGROUND)
    draw = ImageDraw.Draw(image)
    for obj, (cx, cy, r) in zip(scene.objects, _layout(scene, rng)):
        cx, cy, r = cx * big, cy * big, r * big
        colour = COLOURS[obj.colour]
        fill, width = (None, max(2, round(r * 0.28))) if obj.hollow else (colour, 0)
        if obj.shape == "circle":
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill, outline=colour, width=width)
        else:
            draw.polygon(_outline(obj.shape, cx, cy, r), fill=fill, outline=colour, width=width)
    return image.resize((size, size), Image.Resampling.LANCZOS)
