"""Word lists of the rule negator: what may replace what, and what may be added. Kept small and plausible: a hard
negative should describe an image that could exist, so each word is replaced only within its own kind.

Every entry is a surface form (lower case) mapped to its alternatives in the same grammatical form, so no
inflection is needed at run time.
"""

from __future__ import annotations

COLOURS = ("red", "blue", "green", "yellow", "black", "white", "brown", "orange", "pink", "purple", "gray", "grey",
           "silver")
MATERIALS = ("wooden", "metal", "plastic", "glass", "stone", "brick", "leather", "paper", "steel")

# Adjectives with an opposite (size, age, state); a colour goes to another colour, a material to another material.
OPPOSITES = {
    "small": ("large", "big"), "large": ("small",), "big": ("small", "little"), "little": ("big", "large"),
    "tall": ("short",), "short": ("tall", "long"), "long": ("short",), "huge": ("tiny",), "tiny": ("huge",),
    "young": ("old",), "new": ("old",), "empty": ("full", "crowded"), "full": ("empty",), "crowded": ("empty",),
    "open": ("closed",), "closed": ("open",), "wet": ("dry",), "dry": ("wet", "green"), "clean": ("dirty",),
    "dirty": ("clean",), "thick": ("thin",), "thin": ("thick",), "wide": ("narrow",), "narrow": ("wide",),
    "hot": ("cold",), "cold": ("hot", "warm"), "warm": ("cold",), "sunny": ("cloudy", "rainy"),
    "cloudy": ("sunny",), "dark": ("bright",), "bright": ("dark",), "happy": ("sad",), "sad": ("happy",),
    "smiling": ("crying",), "sliced": ("whole",), "whole": ("sliced",), "cooked": ("raw",), "raw": ("cooked",),
    "steep": ("flat",), "flat": ("steep",), "busy": ("empty", "quiet"), "quiet": ("busy",), "snowy": ("grassy",),
    "grassy": ("snowy", "sandy"), "sandy": ("grassy", "rocky"), "rocky": ("sandy",), "beautiful": ("ugly",),
    "modern": ("old",), "stuffed": ("real",), "fresh": ("rotten",), "heavy": ("light",), "high": ("low",),
    "low": ("high",), "first": ("last",), "last": ("first",),
}
OLD = {"person": ("young",), "thing": ("new", "modern")}  # "old" depends on what is old

NUMBERS = ("two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
DIGITS = tuple(str(n) for n in range(2, 10))

# Spatial relations: one-word swaps, and phrases matched token by token (longest first).
RELATIONS = {
    "left": ("right",), "right": ("left",), "above": ("below",), "below": ("above",), "over": ("under",),
    "under": ("on", "above"), "underneath": ("on top of",), "beneath": ("above",), "on": ("under",),
    "onto": ("off",), "off": ("onto",), "behind": ("in front of",), "inside": ("outside",),
    "outside": ("inside",), "near": ("far from",), "beside": ("far from",), "with": ("without",),
    "without": ("with",), "toward": ("away from",), "towards": ("away from",), "into": ("out of",),
    "up": ("down",), "down": ("up",), "top": ("bottom",), "bottom": ("top",), "before": ("after",),
    "after": ("before",), "against": ("away from",), "upstairs": ("downstairs",), "downstairs": ("upstairs",),
}
RELATION_PHRASES = {
    ("in", "front", "of"): ("behind",), ("on", "top", "of"): ("under", "underneath"), ("next", "to"): ("far from",),
    ("close", "to"): ("far from",), ("far", "from"): ("next to",), ("inside", "of"): ("outside of",),
    ("outside", "of"): ("inside of",), ("out", "of"): ("into",), ("away", "from"): ("toward",),
}

# Verbs: each paradigm is (base, third person, -ing, past, past participle); alternatives by base, separately for
# a verb with an object and one without ("flying a kite" is not "a plane flying").
PARADIGMS = [
    ("sit", "sits", "sitting", "sat", "sat"), ("stand", "stands", "standing", "stood", "stood"),
    ("lie", "lies", "lying", "lay", "lain"), ("lay", "lays", "laying", "laid", "laid"),
    ("kneel", "kneels", "kneeling", "knelt", "knelt"), ("walk", "walks", "walking", "walked", "walked"),
    ("run", "runs", "running", "ran", "run"), ("sleep", "sleeps", "sleeping", "slept", "slept"),
    ("hold", "holds", "holding", "held", "held"), ("carry", "carries", "carrying", "carried", "carried"),
    ("drop", "drops", "dropping", "dropped", "dropped"), ("throw", "throws", "throwing", "threw", "thrown"),
    ("catch", "catches", "catching", "caught", "caught"), ("eat", "eats", "eating", "ate", "eaten"),
    ("cut", "cuts", "cutting", "cut", "cut"), ("wear", "wears", "wearing", "wore", "worn"),
    ("ride", "rides", "riding", "rode", "ridden"), ("push", "pushes", "pushing", "pushed", "pushed"),
    ("pull", "pulls", "pulling", "pulled", "pulled"), ("lead", "leads", "leading", "led", "led"),
    ("drive", "drives", "driving", "drove", "driven"), ("wash", "washes", "washing", "washed", "washed"),
    ("read", "reads", "reading", "read", "read"), ("fold", "folds", "folding", "folded", "folded"),
    ("open", "opens", "opening", "opened", "opened"), ("close", "closes", "closing", "closed", "closed"),
    ("enter", "enters", "entering", "entered", "entered"), ("leave", "leaves", "leaving", "left", "left"),
    ("smile", "smiles", "smiling", "smiled", "smiled"), ("frown", "frowns", "frowning", "frowned", "frowned"),
    ("laugh", "laughs", "laughing", "laughed", "laughed"), ("cry", "cries", "crying", "cried", "cried"),
    ("fly", "flies", "flying", "flew", "flown"), ("play", "plays", "playing", "played", "played"),
    ("watch", "watches", "watching", "watched", "watched"), ("swing", "swings", "swinging", "swung", "swung"),
    ("kick", "kicks", "kicking", "kicked", "kicked"), ("feed", "feeds", "feeding", "fed", "fed"),
    ("graze", "grazes", "grazing", "grazed", "grazed"), ("park", "parks", "parking", "parked", "parked"),
    ("jump", "jumps", "jumping", "jumped", "jumped"), ("climb", "climbs", "climbing", "climbed", "climbed"),
    ("look", "looks", "looking", "looked", "looked"), ("brush", "brushes", "brushing", "brushed", "brushed"),
    ("arrive", "arrives", "arriving", "arrived", "arrived"), ("win", "wins", "winning", "won", "won"),
    ("lose", "loses", "losing", "lost", "lost"), ("celebrate", "celebrates", "celebrating", "celebrated",
                                                   "celebrated"),
    ("buy", "buys", "buying", "bought", "bought"), ("sell", "sells", "selling", "sold", "sold"),
    ("hang", "hangs", "hanging", "hung", "hung"), ("fall", "falls", "falling", "fell", "fallen"),
    ("land", "lands", "landing", "landed", "landed"), ("take", "takes", "taking", "took", "taken"),
    ("give", "gives", "giving", "gave", "given"), ("stop", "stops", "stopping", "stopped", "stopped"),
]
TRANSITIVE = {
    "hold": ("drop", "throw"), "carry": ("drop", "push"), "drop": ("hold", "catch"), "throw": ("catch", "hold"),
    "catch": ("throw", "drop"), "eat": ("hold", "cut"), "cut": ("eat", "hold"), "wear": ("hold", "carry"),
    "ride": ("push", "pull"), "push": ("pull", "ride"), "pull": ("push",), "lead": ("ride", "feed"),
    "drive": ("wash", "push"), "wash": ("drive", "ride"), "read": ("fold", "hold"), "open": ("close",),
    "close": ("open",), "enter": ("leave",), "leave": ("enter",), "fly": ("hold", "carry"), "play": ("watch",),
    "watch": ("play",), "swing": ("hold", "drop"), "kick": ("hold", "catch"), "feed": ("ride", "wash"),
    "walk": ("feed", "wash"), "brush": ("wash",), "win": ("lose",), "lose": ("win",), "buy": ("sell",),
    "sell": ("buy",), "take": ("give",), "give": ("take",), "climb": ("jump",), "look": ("open",),
}
INTRANSITIVE = {
    "sit": ("stand", "lie"), "stand": ("sit", "lie"), "lie": ("stand", "sit"), "lay": ("stand", "sit"),
    "kneel": ("stand",), "walk": ("run", "stand"), "run": ("walk", "stand"), "sleep": ("play", "stand"),
    "graze": ("run", "sleep"), "smile": ("frown", "cry"), "frown": ("smile",), "laugh": ("cry",),
    "cry": ("laugh", "smile"), "play": ("sit", "sleep"), "jump": ("sit", "stand"), "arrive": ("leave",),
    "leave": ("arrive",), "win": ("lose",), "lose": ("win",), "fall": ("jump", "sit"), "land": ("take off",),
    "fly": ("land",), "park": ("drive",), "drive": ("stop",), "stop": ("drive",),
    "celebrate": ("cry",), "climb": ("sit",),
}

# Nouns by kind, as (singular, plural): a noun is replaced by another of its kind, with the same number.
NOUN_KINDS = {
    "animal": [("dog", "dogs"), ("cat", "cats"), ("horse", "horses"), ("cow", "cows"), ("sheep", "sheep"),
               ("bear", "bears"), ("elephant", "elephants"), ("giraffe", "giraffes"), ("zebra", "zebras"),
               ("bird", "birds"), ("duck", "ducks"), ("swan", "swans"), ("goat", "goats"), ("pig", "pigs"),
               ("puppy", "puppies"), ("kitten", "kittens"), ("deer", "deer"), ("monkey", "monkeys")],
    "person": [("man", "men"), ("woman", "women"), ("boy", "boys"), ("girl", "girls"), ("lady", "ladies"),
               ("guy", "guys"), ("child", "children"), ("kid", "kids"), ("baby", "babies"),
               ("businessman", "businessmen"), ("businesswoman", "businesswomen"), ("actor", "actors"),
               ("actress", "actresses"), ("player", "players"), ("tourist", "tourists"), ("person", "people"),
               ("skateboarder", "skateboarders"), ("surfer", "surfers"), ("skier", "skiers"),
               ("mother", "mothers"), ("father", "fathers"), ("chef", "chefs"), ("student", "students")],
    "vehicle": [("car", "cars"), ("bus", "buses"), ("truck", "trucks"), ("train", "trains"),
                ("motorcycle", "motorcycles"), ("bicycle", "bicycles"), ("bike", "bikes"), ("boat", "boats"),
                ("airplane", "airplanes"), ("plane", "planes"), ("van", "vans"), ("taxi", "taxis"),
                ("jetliner", "jetliners"), ("tractor", "tractors"), ("scooter", "scooters"),
                ("carriage", "carriages"), ("pickup", "pickups")],
    "furniture": [("chair", "chairs"), ("couch", "couches"), ("bench", "benches"), ("bed", "beds"),
                  ("table", "tables"), ("desk", "desks"), ("sofa", "sofas"), ("shelf", "shelves"),
                  ("stool", "stools")],
    "food": [("pizza", "pizzas"), ("sandwich", "sandwiches"), ("cake", "cakes"), ("apple", "apples"),
             ("banana", "bananas"), ("donut", "donuts"), ("salad", "salads"), ("soup", "soups"),
             ("burger", "burgers"), ("broccoli", "broccoli"), ("carrot", "carrots"), ("orange", "oranges"),
             ("bread", "breads"), ("rice", "rice"), ("chicken", "chicken"), ("pasta", "pasta"),
             ("fruit", "fruits"), ("cookie", "cookies"), ("steak", "steaks"), ("egg", "eggs")],
    "drink": [("coffee", "coffees"), ("tea", "teas"), ("wine", "wines"), ("beer", "beers"), ("juice", "juices"),
              ("milk", "milk"), ("water", "waters")],
    "container": [("cup", "cups"), ("mug", "mugs"), ("glass", "glasses"), ("bowl", "bowls"), ("plate", "plates"),
                  ("bottle", "bottles"), ("box", "boxes"), ("basket", "baskets"), ("vase", "vases"),
                  ("jar", "jars"), ("pan", "pans"), ("pot", "pots")],
    "gear": [("frisbee", "frisbees"), ("kite", "kites"), ("ball", "balls"), ("skateboard", "skateboards"),
             ("surfboard", "surfboards"), ("racket", "rackets"), ("bat", "bats"), ("sled", "sleds"),
             ("snowboard", "snowboards"), ("umbrella", "umbrellas"), ("bag", "bags"), ("suitcase", "suitcases"),
             ("backpack", "backpacks"), ("guitar", "guitars"), ("toy", "toys")],
    "clothing": [("hat", "hats"), ("helmet", "helmets"), ("dress", "dresses"), ("shirt", "shirts"),
                 ("jacket", "jackets"), ("tie", "ties"), ("cap", "caps"), ("coat", "coats"), ("scarf", "scarves"),
                 ("sweater", "sweaters")],
    "device": [("laptop", "laptops"), ("phone", "phones"), ("computer", "computers"),
               ("television", "televisions"), ("camera", "cameras"), ("mouse", "mice"),
               ("keyboard", "keyboards"), ("clock", "clocks"), ("remote", "remotes"), ("monitor", "monitors")],
    "household": [("book", "books"), ("newspaper", "newspapers"), ("lamp", "lamps"), ("mirror", "mirrors"),
                  ("candle", "candles"), ("pillow", "pillows"), ("blanket", "blankets"), ("towel", "towels"),
                  ("knife", "knives"), ("fork", "forks"), ("spoon", "spoons"), ("scissors", "scissors"),
                  ("sign", "signs"), ("flag", "flags"), ("balloon", "balloons"), ("painting", "paintings")],
    "appliance": [("refrigerator", "refrigerators"), ("stove", "stoves"), ("microwave", "microwaves"),
                  ("oven", "ovens"), ("sink", "sinks"), ("toilet", "toilets"), ("dishwasher", "dishwashers"),
                  ("bathtub", "bathtubs"), ("shower", "showers")],
    "plant": [("tree", "trees"), ("flower", "flowers"), ("rose", "roses"), ("plant", "plants"),
              ("bush", "bushes"), ("tulip", "tulips")],
    "structure": [("building", "buildings"), ("house", "houses"), ("church", "churches"), ("tower", "towers"),
                  ("bridge", "bridges"), ("fence", "fences"), ("wall", "walls"), ("door", "doors"),
                  ("window", "windows"), ("barn", "barns"), ("store", "stores"), ("cafe", "cafes"),
                  ("restaurant", "restaurants"), ("hotel", "hotels"), ("castle", "castles")],
    "place": [("beach", "beaches"), ("field", "fields"), ("street", "streets"), ("road", "roads"),
              ("park", "parks"), ("lake", "lakes"), ("river", "rivers"), ("forest", "forests"),
              ("mountain", "mountains"), ("hill", "hills"), ("city", "cities"), ("garden", "gardens"),
              ("desert", "deserts"), ("pond", "ponds"), ("ocean", "oceans"), ("sea", "seas"), ("zoo", "zoos"),
              ("yard", "yards"), ("farm", "farms"), ("airport", "airports"), ("court", "courts")],
    "room": [("kitchen", "kitchens"), ("bathroom", "bathrooms"), ("bedroom", "bedrooms"), ("office", "offices"),
             ("classroom", "classrooms"), ("garage", "garages")],
    "ground": [("grass", "grass"), ("snow", "snow"), ("sand", "sand"), ("dirt", "dirt"), ("mud", "mud"),
               ("floor", "floors"), ("sidewalk", "sidewalks"), ("carpet", "carpets")],
}

# Nouns whose form does not tell their number. A mass noun takes a singular verb and no "a" or numeral (a plate of
# rice, the broccoli is cooked); a plural-only noun takes a plural verb and no "a" (the scissors are); the other
# invariant nouns (sheep, deer) are singular or plural as the caption's determiner or verb says. spaCy's tagger often
# guesses these wrong ("The broccoli is" tagged NNS), so the negator reads their number from this list, not the tag.
MASS_NOUNS = frozenset(("broccoli", "rice", "chicken", "pasta", "milk", "grass", "snow", "sand", "dirt", "mud"))
PLURAL_ONLY = frozenset(("scissors",))

# What may be added where the caption names no attribute: people get no colour; things get a colour or a size.
PERSON_ADJECTIVES = ("young", "old", "tall", "smiling")
THING_ADJECTIVES = COLOURS[:11] + ("small", "large")
# Objects that may be added to almost any scene.
ADDED_OBJECTS = ("dog", "cat", "bicycle", "chair", "umbrella", "bench", "car", "ball", "backpack", "bottle", "lamp",
                 "bird", "tree", "table", "box", "kite", "clock", "flag", "basket", "hat")
# Things that can be on, under or above one another; a place or the ground cannot ("under the beach").
MOVABLE = ("animal", "person", "vehicle", "furniture", "food", "drink", "container", "gear", "clothing", "device",
           "household", "appliance", "plant")
VERTICAL = frozenset(("on", "onto", "under", "underneath", "beneath", "above", "below", "over"))

# Nouns that are parts, amounts or points of view rather than things in the picture: never swapped or replaced.
NOT_OBJECTS = frozenset((
    "top", "front", "side", "middle", "bottom", "back", "edge", "corner", "end", "center", "centre", "group",
    "bunch", "lot", "lots", "pair", "couple", "piece", "slice", "view", "picture", "photo", "image", "close",
    "closeup", "kind", "type", "part", "background", "foreground", "day", "night", "time", "way", "variety",
    "number", "set", "row", "pile", "stack", "herd", "flock", "full", "each", "other", "one", "ones", "shot",
    "illustration", "vector", "portrait", "scene", "distance", "area", "display", "sky", "air", "line",
    "order", "something", "someone", "anything", "thing", "things", "rest", "inside",
))
