"""The trainer and its data: equal data order for any number of processes and workers, the released TripletData
format, K negatives, exact resume, and a 2-process (gloo) run equal to one process on the same global batch."""

import os
import random
import shutil
import subprocess
import sys
from io import BytesIO
from pathlib import Path

import open_clip
import pandas as pd
import pytest
import torch

from tripletclip import data, io, launch, losses, models, shapes, text_tower, train

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
HELPER = Path(__file__).parent / "helpers" / "gather_loss.py"


def write_triplets(path: Path, start: int, count: int, fmt: str = "pipeline", negatives: int = 1) -> None:
    """`count` shapes-world triplets; `negatives` > 1 writes several negative captions, one per line."""
    heldout = shapes.heldout_combos(0, 0)
    keys = data.FORMATS[fmt]
    with io.shard_writer(path) as sink:
        for i in range(start, start + count):
            rng = random.Random(i)
            scene = shapes.sample_scene(rng, "train", heldout)
            kinds = shapes.applicable_types(scene, shapes.NEGATIVE_TYPES)[:negatives]
            negs = [shapes.negative(scene, kind, rng) for kind in kinds]
            sink.write({"__key__": f"{i:06d}",
                        keys[0]: io.encode_jpeg(shapes.render(scene, 64, seed=i)),
                        keys[1]: shapes.describe(scene).encode(),
                        keys[2]: io.encode_jpeg(shapes.render(negs[0], 64, seed=-i - 1)),
                        keys[3]: "\n".join(shapes.describe(n) for n in negs).encode()})


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("triplets")
    paths = [root / f"{i:05d}.tar" for i in range(3)]
    for i, path in enumerate(paths):
        write_triplets(path, 40 * i, 40)
    return [str(p) for p in paths]


def loader_stream(shards, batch_size, **kwargs):
    _, _, _, tokenizer = models.create("ViT-Tiny-P16-64")
    transform = data.BatchTransform({"size": 64, "mean": (0.5,) * 3, "std": (0.5,) * 3})
    return data.batches(shards, batch_size, tokenizer, transform, seed=3, shuffle_buffer=30, **kwargs)


def loader_batches(shards, batch_size, count, **kwargs):
    stream = loader_stream(shards, batch_size, **kwargs)
    return [next(stream) for _ in range(count)]


def same_batches(a, b):
    return len(a) == len(b) and all(p == q and all(torch.equal(x, y) for x, y in zip(u, v))
                                    for (p, u), (q, v) in zip(a, b))


def test_the_global_batch_is_the_same_for_any_number_of_ranks_and_workers(shards):
    one = loader_batches(shards, 16, 10)  # 120 samples = 7 batches: the epoch boundary is crossed
    assert [pos for pos, _ in one][6:8] == [(0, 7), (1, 1)]
    ranks = [loader_batches(shards, 8, 10, rank=r, world_size=2) for r in range(2)]
    workers = loader_batches(shards, 16, 10, workers=2)
    for i, (_, batch) in enumerate(one):
        for j, tensor in enumerate(batch[:2]):
            assert torch.equal(tensor, torch.cat([ranks[0][i][1][j], ranks[1][i][1][j]]))
            assert torch.equal(tensor, workers[i][1][j])
    assert not torch.equal(one[0][1][1], one[7][1][1])  # a new epoch is reshuffled
    # resuming at a position gives the rest of the sequence, without the skipped batches
    resumed = loader_batches(shards, 16, 3, start=one[5][0])
    for (_, a), (_, b) in zip(resumed, one[6:9]):
        assert torch.equal(a[1], b[1])


def test_later_epochs_come_from_the_cache_as_the_same_batches(shards, tmp_path):
    streamed = loader_batches(shards, 16, 14)  # two epochs of 7 batches (120 samples)
    copies = [shutil.copy(shard, tmp_path) for shard in shards]
    stream = loader_stream(copies, 16, cache_mb=64)
    cached = [next(stream) for _ in range(8)]  # the 8th comes from epoch 2, once epoch 1 has been read to its end
    for path in copies:
        os.remove(path)  # the rest of epoch 2 reads no file
    cached += [next(stream) for _ in range(6)]
    assert same_batches(streamed, cached)
    # a cache too small for everything keeps what fits and streams the rest
    assert same_batches(streamed, loader_batches(shards, 16, 14, cache_mb=0.3))


def test_the_released_tripletdata_format_reads_as_our_own(shards, tmp_path):
    ours, released = tmp_path / "ours.tar", tmp_path / "released.tar"
    write_triplets(ours, 0, 32)
    write_triplets(released, 0, 32, fmt="tripletdata")
    names = {name for sample in io.iter_shard(released) for name in sample if not name.startswith("__")}
    assert names == {"image", "neg_image", "caption", "neg_caption"}
    a, b = loader_batches([str(ours)], 16, 2), loader_batches([str(released)], 16, 2)
    for (_, x), (_, y) in zip(a, b):
        for u, v in zip(x, y):
            assert torch.equal(u, v)


def test_k_negatives_come_with_a_mask(tmp_path):
    path = tmp_path / "k.tar"
    write_triplets(path, 0, 16, negatives=2)
    (_, batch), = loader_batches([str(path)], 16, 1, num_negatives=3)
    image, text, neg_image, neg_text, mask = batch
    assert neg_text.shape[:2] == (16, 3) and mask.shape == (16, 3)
    assert mask[:, :2].all() and not mask[:, 2].any()
    assert (neg_text[:, 2] == neg_text[0, 2]).all()  # the padding is the empty caption




def test_the_loader_gives_open_clips_preprocessing_for_any_format_and_replaces_a_corrupt_image(caplog):
    net, _, preprocess, tokenizer = models.create("ViT-Tiny-P16-64")
    transform = data.BatchTransform(open_clip.get_model_preprocess_cfg(net))
    scene = shapes.sample_scene(random.Random(0), "train", shapes.heldout_combos(0, 0))
    images = [shapes.render(scene, 64, seed=0), shapes.render(scene, 96, seed=1).crop((0, 0, 96, 80)),
              shapes.render(scene, 64, seed=2)]

    def encoded(image, fmt):
        buffer = BytesIO()
        image.save(buffer, format=fmt)
        return buffer.getvalue()

    # JPEG at the model's size, PNG to resize and crop, BMP (a format only PIL reads), and a corrupt file
    files = [encoded(images[0], "JPEG"), encoded(images[1], "PNG"), encoded(images[2], "BMP"), b"not an image"]
    rows = [(f"sample {i}", f, f"caption {i}".encode(), f, b"a negative") for i, f in enumerate(files)]
    loader = data.TripletBatches([], 4, tokenizer, transform, seed=0, epoch=0)
    with caplog.at_level("WARNING"):
        image, text, neg_image, _, _ = loader.collate(rows)
    expected = torch.stack([preprocess(io.decode_image(f)) for f in files[:3]])
    assert torch.allclose(image[:3], expected, atol=1e-5) and torch.equal(image, neg_image)
    # the corrupt sample is replaced, caption included, by the batch's first, and the log says so
    assert torch.equal(image[3], image[0]) and torch.equal(text[3], text[0])
    assert torch.equal(text[:3], tokenizer(["caption 0", "caption 1", "caption 2"]))
    assert sum("undecodable" in r.message for r in caplog.records) == 2  # the image and its negative
def config(**changes):
    base = dict(model="ViT-Tiny-P16-64", steps=6, batch_size=16, lr=1e-3, weight_decay=0.1, warmup_steps=2,
                workers=0, threads=1, shuffle_buffer=30, log_every=1, eval_every=3, checkpoint_every=2)
    return train.TrainConfig.from_config({**base, **changes})


@pytest.mark.parametrize("method", ["ceclip", "tripletclip"])
def test_a_killed_run_resumes_to_the_same_weights(shards, tmp_path, method):
    cfg = config(num_negatives=1)
    whole = train.train(shards, tmp_path / "whole", method, cfg, seed=1)
    assert train.train(shards, tmp_path / "split", method, cfg, seed=1, stop_after=3) is None
    assert (tmp_path / "split" / train.RESUME_NAME).exists() and not (tmp_path / "split/checkpoint.pt").exists()
    resumed = train.train(shards, tmp_path / "split", method, cfg, seed=1)  # resumes from step 2's checkpoint
    a = models.load_checkpoint(tmp_path / "whole/checkpoint.pt")
    b = models.load_checkpoint(tmp_path / "split/checkpoint.pt")
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    assert a["loss"].keys() == b["loss"].keys()
    for name in a["loss"]:
        assert torch.equal(a["loss"][name], b["loss"][name])
    assert resumed["final_loss"] == whole["final_loss"]
    log_whole, log_split = pd.read_csv(tmp_path / "whole/log.csv"), pd.read_csv(tmp_path / "split/log.csv")
    assert log_whole["step"].tolist() == log_split["step"].tolist() == list(range(1, 7))
    assert log_whole["loss"].tolist() == log_split["loss"].tolist()
    assert not (tmp_path / "split" / train.RESUME_NAME).exists()
    assert list((tmp_path / "split/tensorboard").glob("events.out.tfevents.*"))
    if method == "ceclip":
        assert "tau" in a["loss"]  # the adaptive margin is part of the checkpoint


def test_the_training_forward_gives_open_clips_loss_and_gradients(shards):
    """train.Step runs text_tower.Features: captions cut to the batch's longest one, fused causal attention."""
    (_, (image, text, neg_image, neg_text, neg_mask)), = loader_batches(shards, 16, 1)
    net, *_ = models.create("ViT-Tiny-P16-64")
    assert (text != 0).sum(1).max() < text.shape[1]  # the cut happens
    loss_fn = losses.make_loss("tripletclip")
    grads = []
    for forward in (net, text_tower.Features(net)):
        net.zero_grad()
        img, txt, scale = forward(torch.cat([image, neg_image]), torch.cat([text, neg_text[:, 0]]))[:3]
        loss = loss_fn(img[:16], txt[:16], img[16:], txt[16:, None], scale)["loss"]
        loss.backward()
        grads.append((loss.detach(), {n: p.grad.clone() for n, p in net.named_parameters()}))
    (loss_a, grad_a), (loss_b, grad_b) = grads
    assert torch.allclose(loss_a, loss_b, atol=1e-6)
    for name, g in grad_a.items():  # the same sums in another order: equal to float32 rounding of their largest term
        assert (g - grad_b[name]).abs().max() <= 1e-5 * g.abs().max() + 1e-8, name


def test_init_from_a_checkpoint_or_a_local_dir_and_the_paper_defaults(shards, tmp_path):
    defaults = train.TrainConfig()
    assert (defaults.lr, defaults.weight_decay, defaults.betas, defaults.eps) == (5e-4, 0.5, (0.9, 0.999), 1e-8)
    train.train(shards, tmp_path / "a", "clip", config(steps=2), seed=0)
    models.export_local_dir(tmp_path / "a/checkpoint.pt", tmp_path / "exported")
    trained = models.load_checkpoint(tmp_path / "a/checkpoint.pt")["model"]
    for init in (str(tmp_path / "a/checkpoint.pt"), f"local-dir:{tmp_path / 'exported'}",
                 {"model": "ViT-Tiny-P16-64", "pretrained": str(tmp_path / "a/checkpoint.pt")}):
        net, *_ = train.build_model(config(init=init), "cpu")
        assert net.training  # models.load hands models over for evaluation
        assert all(torch.equal(v, trained[k]) for k, v in net.state_dict().items())
    groups = train.param_groups(net, config(weight_decay=0.5))
    no_decay = {id(p) for g in groups if g["weight_decay"] == 0 for p in g["params"]}
    assert id(net.logit_scale) in no_decay
    assert all(p.ndim >= 2 for g in groups if g["weight_decay"] == 0.5 for p in g["params"])
    assert sum(len(g["params"]) for g in groups) == len(list(net.parameters()))


def test_fine_tuning_options_lock_a_tower_and_set_each_towers_learning_rate(shards, tmp_path):
    train.train(shards, tmp_path / "init", "clip", config(steps=2), seed=0)
    init = str(tmp_path / "init/checkpoint.pt")
    start = models.load_checkpoint(init)["model"]
    cfg = config(init=init, steps=3, lock_image=True, lr_text=2e-4)
    net, *_ = train.build_model(cfg, "cpu")
    groups = train.param_groups(net, cfg)
    rates = {train.tower(n): g["lr"] for g in groups for n, p in net.named_parameters()
             if any(p is q for q in g["params"])}
    assert rates == {"text": 2e-4, "shared": 1e-3}  # the locked image tower is in no group
    train.train(shards, tmp_path / "locked", "negclip", cfg, seed=0)
    tuned = models.load_checkpoint(tmp_path / "locked/checkpoint.pt")["model"]
    changed = {train.tower(k) for k, v in tuned.items() if not torch.equal(v, start[k])}
    assert changed == {"text", "shared"}
    with pytest.raises(ValueError, match="nothing would train"):
        train.build_model(config(lock_image=True, lock_text=True), "cpu")


def torchrun(nproc: int, *args: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
                    "--standalone", *args], check=True, env=env, cwd=REPO, timeout=300,
                   capture_output=True)


@pytest.mark.parametrize("method", sorted(losses.LOSSES))
def test_two_gloo_processes_give_the_loss_and_gradients_of_one(tmp_path, method):
    torchrun(1, str(HELPER), method, str(tmp_path / "one.pt"))
    torchrun(2, str(HELPER), method, str(tmp_path / "two.pt"))
    one, two = torch.load(tmp_path / "one.pt"), torch.load(tmp_path / "two.pt")
    assert set(one) == set(two) and "loss" in one
    for name in one:
        assert torch.allclose(one[name], two[name], atol=1e-6), name


def test_two_gloo_processes_train_like_one_on_the_same_global_batch(shards, tmp_path):
    # Adam moves a parameter by up to lr per step whatever the size of its gradient once that is well below eps. The
    # attention key biases have a gradient that is exactly 0 in exact arithmetic (softmax ignores a constant shift)
    # and float noise of ~1e-9 here, different for 1 and 2 processes; eps 1e-6 keeps that noise from being amplified,
    # so the comparison measures the gradients that exist.
    # The rule's launcher: 1 process in this one, 2 through torchrun (the SLURM path is tests/test_slurm.py's).
    results = {}
    cfg = {**train.dataclasses.asdict(config(steps=4, checkpoint_every=100, eps=1e-6)), "threads": 1}
    for nproc in (1, 2):
        out = tmp_path / f"nproc{nproc}"
        launch.run(shards, str(out), "tripletclip", cfg, 0, processes_per_node=nproc, log_path=tmp_path / "log")
        results[nproc] = (pd.read_csv(out / "log.csv"), models.load_checkpoint(out / "checkpoint.pt")["model"])
        assert io.read_json(out / "metrics.json")["world_size"] == nproc
    # the processes' output reached the log
    assert "tripletclip seed 0: 4 steps" in (tmp_path / "log").read_text(encoding="utf-8")
    (log1, w1), (log2, w2) = results[1], results[2]
    # log.csv keeps 5 decimals: two losses 2e-6 apart may print one unit (1e-5) apart, hence the half unit of slack
    assert log1["loss"].tolist() == pytest.approx(log2["loss"].tolist(), abs=1.5e-5)
    for name, tensor in w1.items():
        assert torch.allclose(tensor, w2[name], atol=1e-5), name


def test_several_nodes_need_a_slurm_allocation(tmp_path):
    with pytest.raises(ValueError, match="2 nodes needs a SLURM allocation"):
        launch.launch_command(tmp_path / "spec.json", 2, 2, 1, {"PATH": os.environ["PATH"]})


def test_training_defaults_are_set_once_in_the_schema():
    """TrainConfig's default for every key the schema defaults is the schema's (issue 29: schema, TrainConfig and
    config.yaml gave three values for checkpoint_every)."""
    import dataclasses

    fields = {f.name for f in dataclasses.fields(train.TrainConfig)}
    defaults = train.TrainConfig()
    shared = [key for key in train.DEFAULTS if key in fields]
    assert {"checkpoint_every", "eval_every", "workers", "shuffle_buffer", "betas"} <= set(shared)
    for key in shared:
        value = getattr(defaults, key)
        assert (list(value) if isinstance(value, tuple) else value) == train.DEFAULTS[key], key
