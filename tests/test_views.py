"""What an arm reads beside the triplet shards (tripletclip.data.View): LaCLIP's caption variants drawn uniformly by
(seed, epoch, key), the same after a resume and on two processes; another negative set's captions and images; the
negative pairs as positive pairs (LaCLIP+HN), each once per epoch and counted."""

import collections
import random

import pytest
import torch
from scipy import stats

from tripletclip import data, io, models, shapes

KEYS_PER_SHARD = 40


def write_shard(path, start):
    """KEYS_PER_SHARD shapes-world triplets; the negative image is a flat colour, told apart from the rendering."""
    heldout = shapes.heldout_combos(0, 0)
    with io.shard_writer(path) as sink:
        for i in range(start, start + KEYS_PER_SHARD):
            scene = shapes.sample_scene(random.Random(i), "train", heldout)
            sink.write({"__key__": f"{i:06d}", "jpg": io.encode_jpeg(shapes.render(scene, 64, seed=i)),
                        "txt": shapes.describe(scene).encode(), "neg.jpg": flat(i), "neg.txt": f"not {i}".encode()})


def flat(i):
    from PIL import Image
    return io.encode_jpeg(Image.new("RGB", (64, 64), (i % 256, 0, 0)))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Three shards, with rewrites (key i has 1 + i % 4 of them, so 2 to 5 variants), another set's negatives
    (two per key, none for every fifth key) and its images (none for every seventh key)."""
    root = tmp_path_factory.mktemp("views")
    shards, rewrites, negatives, images = [], [], [], []
    for s in range(3):
        shard = root / f"{s:05d}.tar"
        write_shard(shard, KEYS_PER_SHARD * s)
        keys = range(KEYS_PER_SHARD * s, KEYS_PER_SHARD * (s + 1))
        io.write_jsonl(root / f"rw{s}.jsonl", [{"key": f"{i:06d}", "caption": "c", "status": "ok",
                                                "rewrites": [f"rewrite {j} of {i}" for j in range(1 + i % 4)]}
                                               for i in keys])
        io.write_jsonl(root / f"neg{s}.jsonl", [{"key": f"{i:06d}", "caption": "c", "status": "ok",
                                                 "negatives": [] if i % 5 == 0 else
                                                 [{"text": f"set neg {i}", "type": "swap_att"},
                                                  {"text": f"second neg {i}", "type": "add_obj"}]} for i in keys])
        with io.shard_writer(root / f"img{s}.tar") as sink:
            for i in keys:
                if i % 7:
                    sink.write({"__key__": f"{i:06d}", "jpg": flat(255 - i)})
        shards.append(str(shard))
        rewrites.append(str(root / f"rw{s}.jsonl"))
        negatives.append(str(root / f"neg{s}.jsonl"))
        images.append(str(root / f"img{s}.tar"))
    return {"shards": shards, "rewrites": tuple(rewrites), "negatives": tuple(negatives), "neg_images": tuple(images)}


def stream(world, batch_size, view, **kwargs):
    _, _, _, tokenizer = models.create("ViT-Tiny-P16-64")
    transform = data.BatchTransform({"size": 64, "mean": (0.5,) * 3, "std": (0.5,) * 3})
    return data.batches(world["shards"], batch_size, tokenizer, transform, seed=3, shuffle_buffer=30, view=view,
                        **kwargs)


def test_each_caption_variant_is_drawn_uniformly_by_seed_epoch_and_key(world):
    view = data.View(rewrites=world["rewrites"])
    counts = collections.defaultdict(collections.Counter)  # variants -> index drawn -> visits
    for epoch in range(40):
        loader = data.TripletBatches(world["shards"], 8, None, None, seed=3, epoch=epoch, shuffle_buffer=30,
                                     view=view)
        for row in (row for batch in loader.raw_batches() for row in batch):
            n = len(row[2])
            caption = loader.caption(row)
            index = next(j for j, v in enumerate(row[2]) if v.decode() == caption)
            assert index == data.variant(3, epoch, row[0], n) and n == 2 + int(row[0][-6:]) % 4
            counts[n][index] += 1
    for n, drawn in counts.items():
        observed = [drawn[j] for j in range(n)]
        assert sum(observed) == 40 * 30  # 30 keys of each variant count per epoch, every one visited
        # uniform: the exact multinomial's chi-square approximation at 1,200 visits, and each variant by a binomial
        assert stats.chisquare(observed).pvalue > 0.01, (n, observed)
        assert all(stats.binomtest(k, sum(observed), 1 / n).pvalue > 0.001 for k in observed)
    # the original caption is one of the variants
    assert all(counts[n][0] > 0 for n in counts)


def same(a, b):
    return len(a) == len(b) and all(p == q and all(torch.equal(x, y) for x, y in zip(u, v))
                                    for (p, u), (q, v) in zip(a, b))


def test_a_rewrite_arm_gives_the_same_batches_after_a_resume_and_on_two_processes(world):
    view = data.View(rewrites=world["rewrites"])
    one = [next(s) for s in [stream(world, 16, view)] for _ in range(16)]  # 120 samples: two epochs are crossed
    ranks = [[next(s) for s in [stream(world, 8, view, rank=r, world_size=2)] for _ in range(16)] for r in range(2)]
    for i, (position, batch) in enumerate(one):
        assert ranks[0][i][0] == ranks[1][i][0] == position
        for whole, a, b in zip(batch, ranks[0][i][1], ranks[1][i][1]):
            assert torch.equal(whole, torch.cat([a, b]))
    resumed = [next(s) for s in [stream(world, 16, view, start=one[9][0])] for _ in range(6)]
    assert same(resumed, one[10:])
    assert not same(one[:7], one[7:14])  # a new epoch draws other variants (and another order)


def test_another_negative_set_replaces_the_shards_negatives_and_images(world):
    view = data.View(negatives=world["negatives"], neg_images=world["neg_images"])
    loader = data.TripletBatches(world["shards"], 8, None, None, seed=3, epoch=0, view=view)
    rows = list(loader.triplets(world["shards"]))
    keys = [int(row[0][-6:]) for row in rows]
    assert keys == [i for i in range(120) if i % 7]  # a triplet without the set's image is not read
    for i, row in zip(keys, rows):
        assert row[3] == flat(255 - i)
        assert row[4].decode() == ("" if i % 5 == 0 else f"set neg {i}\nsecond neg {i}")
    (_, batch), = [next(stream(world, 16, data.View(negatives=world["negatives"]), num_negatives=2,
                               neg_images=False))]
    _, _, neg_image, neg_text, mask = batch
    assert neg_image.numel() == 0 and mask.shape == (16, 2)
    assert 0 < (~mask.any(1)).sum() < 16  # every fifth key has no negative: masked out, not a caption


def test_negative_pairs_join_the_stream_as_positives_once_per_epoch_and_are_counted(world):
    view = data.View(extra_pairs=True)
    loader = data.TripletBatches(world["shards"], 16, None, None, seed=3, epoch=0, shuffle_buffer=30, view=view)
    rows = [row for batch in loader.raw_batches() for row in batch]
    assert len(rows) == 240  # 120 real + 120 synthetic pairs, 15 whole batches of 16
    real = {row[0]: row for row in rows if not row[5]}
    synthetic = {row[0].removesuffix("#synthetic"): row for row in rows if row[5]}
    assert len(real) == len(synthetic) == 120 and set(real) == set(synthetic)
    for key, row in synthetic.items():
        assert row[1] == real[key][3] and row[2] == real[key][4].splitlines()[0] and row[3:5] == (b"", b"")
    # shuffled together: the synthetic pairs are not all after the real ones
    positions = [i for i, row in enumerate(rows) if row[5]]
    assert min(positions) < 60 and max(positions) > 180
    seen = {}
    batches = stream(world, 16, view, seen=seen)
    for _ in range(16):  # one epoch and one batch more
        next(batches)
    assert seen["real"] + seen["synthetic"] == 16 * 16 and seen["real_per_epoch"] == 120
    assert seen["synthetic"] == sum(row[5] for row in rows[:240]) + sum(
        row[5] for row in data.TripletBatches(world["shards"], 16, None, None, seed=3, epoch=1, shuffle_buffer=30,
                                              view=view).raw_batches().__next__())
