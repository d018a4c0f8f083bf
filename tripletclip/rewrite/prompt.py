"""LaCLIP's rewrite prompt (Fan et al., NeurIPS 2023; github.com/LijieFan/LaCLIP, `rewrite/llama_rewrite.py` and
`rewrite/utils.py` at commit 7ddd516): a completion prompt, no chat template, that LLaMA-7B continues.

- The text, `TEMPLATE`, is theirs to the character (llama_rewrite.py:133-141): the line "write image captions
  differently,", three meta input => output pairs and the caption followed by " =>", blank lines between, and the
  12-space indentation that their triple-quoted string carries. The caption's newlines are dropped (line 145).
- Each prompt draws 3 pairs of one kind (`sample_mode`, lines 105-131): for chatgpt, bard and human, 3 of the 16
  (source, target) pairs (`random.sample(range(num_caps), 3)`, lines 106-109, 112-116, 125-129); for mscoco, 3 of the
  18 COCO images and, of each, 2 of its 5 captions as source and target (lines 118-123). Their code names this kind
  `coco` (line 117); their README calls it `mscoco`, as here. They draw with the unseeded `random`; here each draw is
  keyed (seed, sample key, rewrite index, attempt), so that a rerun sends the same prompts.
- Their released files are one per kind (README, "Pre-computed Augmented Texts"), so rewrite j of a caption uses
  kind j % 4 (`kind_of`).
- LaCLIP reads the answer as the prompt's line 8 after its " =>" (lines 159-161): the first line the model writes, up
  to any further " =>"; `answer` does the same with the continuation alone.
- They cut a prompt longer than max_seq_len - 5 tokens (lines 146-153); here the engine's context decides.

The meta input-output pairs below are copied verbatim, all of them, from LaCLIP's rewrite/utils.py (Copyright (c) 2023,
Lijie Fan; BSD 2-Clause License).
"""

from __future__ import annotations

import random

TEMPLATE = """write image captions differently,

            {} => {}

            {} => {}

            {} => {}

            {} =>"""
KINDS = ("chatgpt", "bard", "mscoco", "human")
EXAMPLES_PER_PROMPT = 3


def kind_of(index: int) -> str:
    """The kind of meta pairs of a caption's rewrite `index`: LaCLIP's four, in turn."""
    return KINDS[index % len(KINDS)]


def examples(kind: str, rng: random.Random) -> list[tuple[str, str]]:
    """Three (input, output) meta pairs of `kind`, drawn as llama_rewrite.py:103-129 draws them."""
    if kind == "mscoco":
        groups = [MSCOCO[i] for i in rng.sample(range(len(MSCOCO)), EXAMPLES_PER_PROMPT)]
        return [tuple(group[i] for i in rng.sample(range(len(group)), 2)) for group in groups]
    if kind not in PAIRS:
        raise ValueError(f"unknown rewrite prompt kind {kind!r}; expected one of {', '.join(KINDS)}")
    return [PAIRS[kind][i] for i in rng.sample(range(len(PAIRS[kind])), EXAMPLES_PER_PROMPT)]


def build(caption: str, kind: str, rng: random.Random) -> str:
    """The prompt that asks for one rewrite of `caption` with three meta pairs of `kind`."""
    pairs = examples(kind, rng)
    return TEMPLATE.format(*(text for pair in pairs for text in pair), caption.replace("\n", ""))


def answer(continuation: str) -> str:
    """The rewrite in what the model wrote after the prompt: its first line, up to any further "=>"
    (llama_rewrite.py:160-161)."""
    return continuation.split("\n")[0].split("=>")[0].strip()


CHATGPT = (  # rewrite/utils.py:24-60
    ('white and red cheerful combination in the bedroom for girl',
     "A bright and lively white-and-red color scheme in a girl's bedroom, creating a cheerful ambiance."),
    ('vintage photograph of a young boy feeding pigeons .',
     'A charming vintage photograph capturing a young boy feeding a flock of pigeons in a bustling city square.'),
    ('businessman with smartphone sitting on ledge by the sea',
     'Serene coastal view as a businessman sits on a ledge by the sea, using his smartphone.'),
    ('a tourist taking a photograph of river looking west towards suspension bridge and office',
     'Tourist snaps photo of suspension bridge and office building across the river.'),
    ('glass of foods and food product on a sunny day',
     'An assortment of food items and products displayed in a glass container, illuminated by bright sunshine.'),
    ('turtles and large fish in the pond',
     'A tranquil pond where large fish and turtles coexist peacefully, creating a harmonious natural habitat.'),
    ('the frescoes inside the dome',
     'The elaborate and intricate paintings or artworks adorning the inner surface of the dome, typically '
     'found in religious buildings.'),
    ('fight over a loose ball',
     'Intense competition as players struggle to gain control of a loose ball during the game.'),
    ('love this winter picture by person .',
     'Mesmerizing winter landscape by person: serene snowy scenery with gentle snowflakes, skillfully framed '
     'with perfect contrast and depth.'),
    ('one of several paths through the woods .',
     'A narrow forest path, one among many weaving through the lush trees, underbrush, and dappled sunlight.'),
    ('ripe strawberries falling through the water .',
     'Juicy ripe strawberries plummeting through a stream of water, splashing and creating ripples in the liquid.'),
    ('a city reflected on a red sunglasses .',
     'The cityscape reflected on a pair of red sunglasses, creating a distorted but fascinating view of the '
     'urban environment.'),
    ('man driving a car through the mountains',
     'A man confidently navigating a winding mountain road with breathtaking views.'),
    ('maritime museum from the historical dock .',
     'A museum dedicated to seafaring history, located on a historic dock where visitors can view a collection '
     'of artifacts and vessels.'),
    ('tree hollow and green leaves of a tree top in summer',
     'Amidst lush green leaves on the top of a tree, a hollow creates a natural shelter, typical of summer foliage.'),
    ('musician of musical group performs on stage on the first day of festival',
     'On the opening day of the festival, a musician from a musical group performs energetically on stage to a '
     'lively crowd.'),
)
BARD = (  # rewrite/utils.py:63-98
    ('man driving a car through the mountains',
     'A man drives his car through the mountains, the road winding its way through the towering peaks.'),
    ('a bicycle hanging above the entrance to a store',
     'A bicycle suspended from a chain above the entrance to a bike shop advertises their services.'),
    ('government agency released underwater footage of the unique movements of starfish',
     'New footage released by government agency shows starfish swimming in unique ways, shedding light on '
     'their underwater behavior.'),
    ('unique red chair among other white chairs at the stadium',
     'Red chair stands out among white seats at stadium, a beacon of color.'),
    ('person looks comfortable as he connects with a free - kick during the session and is in line to return '
     'against hull on saturday',
     'The player strikes a free-kick with confidence during training, looking sharp and ready for his return '
     'to the team against Hull on Saturday.'),
    ('animal in front of a white background',
     'An animal stands out against the stark white background, its feathers on full display.'),
    ('a mother and daughter lying on a lawn',
     'A mother and daughter embrace in the grass, enjoying the warmth of the sun and the sound of birdsong.'),
    ('sign is seen outside the home',
     'A for sale sign stands in the front yard, a reminder that change is always on the horizon.'),
    ('portrait of person against an abstract background stock photo',
     "person's face stands out against a swirling, abstract background, their expression one of mystery and "
     'intrigue.'),
    ('state flag waving on an isolated white background .',
     'The state flag waves proudly against a stark white background. The colors of the flag are vibrant and '
     'the design is intricate, representing the history and culture of the state'),
    ('actor wears a gorgeous blush pink coloured gown at festival .',
     'Actor stuns in blush pink gown at festival, her beauty a match for the flowers in bloom.'),
    ('person answering the phones again at the office .',
     'A friendly voice answers the phone, eager to help the caller with their needs.'),
    ('little boy sitting on the grass with drone and remote controller',
     "A young boy's eyes light up as he launches his drone into the sky, his imagination taking flight with it."),
    ('golfer competes during day held',
     'Golfer focuses on the ball as she competes in a tournament on a beautiful day.'),
    ('golden fish in a bowl',
     'A golden fish swims lazily in a bowl, its scales shimmering in the sunlight. The fish is a beautiful '
     'shade of orange, with black spots on its fins and tail.'),
    ('businessman with smartphone sitting on ledge by the sea',
     'A businessman relaxes on a seaside ledge, checking his phone and enjoying the view.'),
)
HUMAN = (  # rewrite/utils.py:101-137
    ('Honey buttermilk biscuits on a cooling rack being drizzled with honey',
     'A warm stack of freshly baked honey buttermilk biscuits, sit on a cooling rack as they are drizzled with '
     'golden honey'),
    ('happy corgi time',
     'Delighted corgi stands in the hallway, looking at its owner'),
    ('<PERSON> dog looking at dirt from the ground',
     "<Person>'s dog, lying on the ground, looks at the dirt"),
    ('navy vintage pants - lime green bag - ivory Maison Simons t-shirt - Zara clogs',
     'A young beautiful lady wearing navy vintage pants and ivory Maison Simons t-shirt, is holding a lime '
     'green bag.'),
    ('Ooak Barbie City Shine',
     'A custom-made Barbie doll with a city-inspired look shines brightly'),
    ('Real Wedding on a NYC Rooftop',
     'a couple is kissing each other during their rooftop wedding in NYC'),
    ('the proud of my beloved italian bracco after leg amputation due to a tumor.',
     'my italian bracco lied down proudly under the sunshile, despite of leg amputation due to a tumor.'),
    ('Pineapple Wearing Headphones Art Print by Philip Haynes',
     'An art from Philip Haynes depicts a pineapple that wears headphones'),
    ('Ominous thunderclouds behind the Capitol Building',
     'Thunderclouds loom over the Capitol Building, casting a dark shadow'),
    ('Steampunk woman with gun',
     'A fierce and stylish steampunk woman holds a toy revolver in her hands'),
    ('a new watch with some old friends',
     'The watch sits besides a cartoon picture, evoking memories of cherished times shared with long-time friends'),
    ('Particularly important to Africa is the East African Highland Banana (EAHB), a staple food for 80 '
     'million people. Uganda alone has about 120 varieties of this type of banana.',
     'An African man holds a bunch of bananas, which is particularly important to Africa'),
    ('Electric Blue Guitar There Goes My Hero, Rock The Vote, <PERSON>, <PERSON>, Music Photo, Red Eyes, Photo '
     'Quotes, Electric Blue, Music Lyrics',
     '<PERSON> is playing an electric blue guitar, eyes bloodshot from the stage lights'),
    ('Advanced Bicycle Skills Video - Valuable Video for Safe Cycl',
     'A Cyclist is demonstrating advanced bicycle skills in a video that will help people stay safe.'),
    ('grilled turkey pesto sandwich',
     'A grilled turkey pesto sandwich with melted cheese and fresh arugula is served on a plate.'),
    ('Actress <PERSON> during the launch of international fashion brand Forever 21 store at a mall in Mumbai '
     'on Saturday, October 12th, 2013.',
     'The young beautiful actress attended the launch of fashion brand Forever 21 at a mall.'),
)
MSCOCO = (  # rewrite/utils.py:1-20: five captions of one COCO image per group
    ('A herd of goats walking down a road way.',
     'Three lambs stand next to each other and look different directions. ',
     'The animals standing in the clearing are 3 varieties of sheep.',
     'Three small sheep are standing on a road.',
     'Some animals are standing on a dirt path'),
    ('A boy is preparing to toss a frisbie while another boy is sitting in the background in a park.',
     'Several people are out in the woods on a path playing a game.',
     'A man in a park playing a throwing game.',
     'A group of people that are hanging out together.',
     'A boy gets ready to throw a frisbee'),
    ('A pizza sitting on top of a metal pan.',
     'The large pepperoni pizza is covered with chives.',
     'A pizza that is sitting on a tray.',
     'A large pizza with toppings sitting on a tray.',
     'a pizza with fresh basil tomato sauce and cheese baked'),
    ('A woman sits on top of a motorcycle in a parade.',
     'Woman wearing starts on helmet and shorts rides motorcycle',
     'A woman wearing attire that matches her motorcycle is driving on. ',
     'A person that is on top of a motorcycle.',
     'Woman on a motorcycle rides in a parade'),
    ('the people are sampling wine at a wine tasting.',
     'Group of people tasting wine next to some barrels.',
     'People are gathered around a man tasting wine.',
     'A man pouring wine from casks for patrons',
     'People gather around a table while sampling wine.'),
    ('A herd of sheep walking down a street in front of a bus.',
     'There are three animals walking down the road.',
     'a van is stuck behind a few traveling goats',
     'a van that has some kind of animal out front of it',
     'A herd of animals walking down the road behind a truck.'),
    ('A sandwich with meat and cheese sits on a plate with a small salad.',
     'A sandwich with cheese and a bowl with a salad.',
     'Two plates with sandwiches on them next to a bowl of vegetables.',
     'A long sandwich and a salad is on a plate.',
     'a sandwich and a bowl of vegetables on a plate '),
    ('A NASA airplane carrying a space shuttle on its back.',
     'A large plan with a smaller plan on top of it. ',
     'A NASA airplane carrying the old Space Shuttle',
     'A NASA airplane glides through the sky while carrying a shuttle.',
     'This jet is carrying a space shuttle on it'),
    ('A one way sign under a blue street sign. ',
     'a view from below of a one way sign ',
     'A street sign stating that the road is one way beneath a blue sky. ',
     'A "One Way" street sign pointing to the right. ',
     'A one way road sign mounted above a street sign.'),
    ('A bowl of food containing broccoli and tomatoes. ',
     'A large salad is displayed in a silver metal bowl.',
     'A bowl of food with tomatoes, sliced apples, and other greens',
     'A silver bowl filled with various produce discards.',
     'The salad in the bowl contains many fresh fruits and vegetables.  '),
    ('a cake made to look like it has candy decorations on it ',
     'A photograph of a highly decorated cake on a table.',
     'A cake decorated with lollipops and a piece of pie.',
     'A piece of cake with  lolypops, pie and caterpillar designs.',
     'A layered cake with sweet treats and a caterpillar as decorations.'),
    ('A young man riding a skateboard on a cement walkway.',
     'a guy riding a skateboard by a car ',
     'A young man on a skateboard near a car',
     'an image of a boy on a skateboard doing tricks',
     'A young man is riding on his skateboard.'),
    ('A small brown dog sitting on display behind a window.',
     'A small fuzzy dog stares longingly out a window.',
     'The dog is  brown shaggy with a red collar. ',
     'A dog sits alone and stares out of a window.',
     'A furry and cute dog sitting in a window looking outside.'),
    ('A herd of sheep standing on a lush green hillside.',
     'Several animals standing on the side of a hill.',
     'A number of sheep eat on a steep grassy hill.',
     'a couple of sheep are standing in some grass',
     'The side of a small hill of grass with several sheep grazing in the grass and houses in the background '
     'on the upper hill.'),
    ('The tennis player on the blue court has his racquet raised.',
     'A man swinging a tennis racket at a pro tennis match.',
     'A tennis player wearing a NIKE shirt swings his racket',
     'Man posing in front of the camera holding up a tennis racket.',
     'A man wearing a white shirt playing tennis.'),
    ('A surfer riding a wave in a tempestuous ocean',
     'Man in body suit surfing on a large wave.',
     'A surfer is sideways on a wave of water on a surfboard.',
     'The surfer is riding sideways along a wave. ',
     'a surfer wearing a wet suit is surfing on a white board'),
    ('A woman with a sweater over her eyes.',
     'A girl who is blindfolded is trying to bite a donut on a string held up by another person.',
     'a woman covering her eyes playing a game',
     "Man holding donut on stick and string above woman's covered head.",
     'a person is trying to bite a doughnut blindfolded'),
    ('A man is petting the face if a tame horse',
     "A man petting a horse's face while a woman stands behind next to another horse.",
     'Black and white image of a woman and a man petting a horse.',
     'A man is petting a horse and a woman is standing next to him.',
     'A black and white photo of a man petting a horse'),
)

PAIRS = {"chatgpt": CHATGPT, "bard": BARD, "human": HUMAN}
