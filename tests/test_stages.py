"""Every data stage on tiny inputs, with the real img2dataset and webdataset, and the stats accounting."""

import json

import pytest

from tripletclip import download, io, negate, pack, shapes, synthesize, world

HELDOUT = shapes.heldout_combos(0, 6)


@pytest.fixture(scope="module")
def downloaded(tmp_path_factory):
    root = tmp_path_factory.mktemp("stages")
    world.write_source(str(root / "images"), str(root / "urls.tsv"), 30, 64, 0, 6, 0.2)
    good = (root / "images" / "00000000.png").as_uri()
    with open(root / "urls.tsv", "a", encoding="utf-8") as f:
        f.write(f"{(root / 'missing.png').as_uri()}\ta small red circle left of a large blue square\n")
        f.write(f"{good}\ta dog sleeping on a mat\n")  # a caption the shapes negator cannot parse
    ids = download.shard_ids(32, 16)  # 30 rendered rows and the two above
    stats = download.download(str(root / "urls.tsv"), str(root / "download"), 16, 64, threads=4, expected_shards=ids)
    return root, ids, stats


def test_download_writes_shards_and_counts_the_broken_url(downloaded):
    root, ids, stats = downloaded
    assert ids == ["00000", "00001"]
    assert stats["count"] == 32 and stats["successes"] == 31 and stats["failed_to_download"] == 1
    assert io.read_json(root / "download" / "stats.json") == stats
    for shard in ids:
        for suffix in (".tar", ".parquet", "_stats.json"):
            assert (root / "download" / f"{shard}{suffix}").exists()
    assert not (root / "download" / ".staging").exists()
    samples = [s for shard in ids for s in io.iter_shard(root / "download" / f"{shard}.tar")]
    assert len(samples) == 31
    assert io.decode_image(samples[0]["jpg"]).size == (64, 64)


def test_negate_synthesize_pack_account_for_every_sample(downloaded, tmp_path):
    root, ids, _ = downloaded
    negator = negate.make_negator("shapes", seed=0, forbidden=HELDOUT)
    synthesizer = synthesize.make_synthesizer("shapes", image_size=64, seed=0)
    totals = {"negated": 0, "unparsable": 0, "synthesized": 0, "packed": 0, "in": 0}
    for shard in ids:
        n = negate.negate_shard(str(root / "download" / f"{shard}.tar"), str(tmp_path / f"{shard}.jsonl"),
                                str(tmp_path / f"{shard}_neg.json"), negator)
        assert n["in"] == n["negated"] + sum(n["failed"].values())
        assert sum(n["by_type"].values()) == n["negatives"] == n["negated"]
        s = synthesize.synthesize_shard(str(tmp_path / f"{shard}.jsonl"), str(tmp_path / f"{shard}_syn.tar"),
                                        str(tmp_path / f"{shard}_syn.json"), synthesizer)
        assert s["in"] == s["synthesized"] + sum(s["skipped"].values()) + sum(s["failed"].values())
        p = pack.pack_shard(str(root / "download" / f"{shard}.tar"), str(tmp_path / f"{shard}.jsonl"),
                            str(tmp_path / f"{shard}_syn.tar"), str(tmp_path / f"{shard}_pack.tar"),
                            str(tmp_path / f"{shard}_pack.json"), str(root / "download" / f"{shard}_stats.json"))
        assert p["in"] == p["packed"] + sum(p["dropped"].values())
        assert io.read_json(tmp_path / f"{shard}_pack.json") == p
        totals["negated"] += n["negated"]
        totals["unparsable"] += n["failed"].get("unparsable", 0)
        totals["synthesized"] += s["synthesized"]
        totals["packed"] += p["packed"]
        totals["in"] += p["in"]
    assert totals == {"negated": 30, "unparsable": 1, "synthesized": 30, "packed": 30, "in": 31}

    rows = io.read_jsonl(tmp_path / "00000.jsonl")
    packed_keys = [s["__key__"] for s in io.iter_shard(tmp_path / "00000_pack.tar")]
    assert packed_keys == sorted(packed_keys)  # whatever order img2dataset's threads finished in
    for sample in io.iter_shard(tmp_path / "00000_pack.tar"):
        assert {"jpg", "txt", "neg.jpg", "neg.txt", "json"} <= set(sample)
        meta = json.loads(sample["json"])
        assert meta["negate_backend"] == "shapes" and meta["synthesize_backend"] == "shapes"
        assert meta["neg_type"] in shapes.NEGATIVE_TYPES and meta["source"]["status"] == "success"
        positive, negative = shapes.parse(sample["txt"].decode())[0], shapes.parse(sample["neg.txt"].decode())[0]
        assert positive != negative and not (negative.combos() & HELDOUT)
        assert io.decode_image(sample["neg.jpg"]).size == (64, 64)
    assert {r["key"] for r in rows} == {s["__key__"] for s in io.iter_shard(root / "download" / "00000.tar")}

    # the same inputs give the same bytes: a rerun of a stage is a no-op for whoever reads its output
    synthesize.synthesize_shard(str(tmp_path / "00000.jsonl"), str(tmp_path / "again.tar"), str(tmp_path / "a.json"),
                                synthesizer)
    assert (tmp_path / "again.tar").read_bytes() == (tmp_path / "00000_syn.tar").read_bytes()


def test_pack_drops_bad_samples_with_a_reason(tmp_path):
    image = io.encode_jpeg(shapes.render(shapes.parse("a small red circle left of a large blue square")[0], 64, 0))
    with io.shard_writer(tmp_path / "dl.tar") as sink:
        sink.write({"__key__": "good", "jpg": image, "txt": "a small red circle left of a large blue square"})
        sink.write({"__key__": "corrupt", "jpg": b"not a jpeg", "txt": "a small red circle left of a large blue square"})
        sink.write({"__key__": "nocaption", "jpg": image})
        sink.write({"__key__": "nonegative", "jpg": image, "txt": "a small red circle left of a large blue square"})
        sink.write({"__key__": "noimage", "jpg": image, "txt": "a small red circle left of a large blue square"})
    neg = [{"text": "a small blue circle left of a large red square", "type": "swap_att"}]
    row = lambda k, status="ok": {"key": k, "caption": "c", "negatives": neg if status == "ok" else [],
                                  "backend": "shapes", "attempts": 1, "status": status}
    io.write_jsonl(tmp_path / "neg.jsonl", [row("good"), row("corrupt"), row("nocaption"),
                                            row("nonegative", "unparsable"), row("noimage")])
    with io.shard_writer(tmp_path / "syn.tar") as sink:
        for key in ("good", "corrupt", "nocaption"):
            sink.write({"__key__": key, "jpg": image, "json": {"backend": "shapes"}})
    io.write_json(tmp_path / "dl_stats.json", {"successes": 7})  # two more than the shard holds: it was truncated
    stats = pack.pack_shard(str(tmp_path / "dl.tar"), str(tmp_path / "neg.jsonl"), str(tmp_path / "syn.tar"),
                            str(tmp_path / "out.tar"), str(tmp_path / "out.json"), str(tmp_path / "dl_stats.json"))
    assert stats["packed"] == 1
    assert stats["dropped"] == {"corrupt_image": 1, "missing_caption": 1, "no_negative_caption": 1,
                                "no_negative_image": 1, "unreadable_in_download_shard": 2}
    assert stats["in"] == 7
    assert [s["__key__"] for s in io.iter_shard(tmp_path / "out.tar")] == ["good"]


def test_negator_keeps_the_wording_and_is_seeded_by_key():
    negator = negate.make_negator("shapes", seed=0)
    caption = "there is a small red circle to the left of a large blue square"
    [out] = negator.negate([("k1", caption)])
    [neg] = out.negatives
    assert neg["text"].startswith("there is a ") and neg["text"] != caption and neg["type"] in shapes.NEGATIVE_TYPES
    assert negator.negate([("k1", caption)])[0] == out
    assert len({negator.negate([(f"k{i}", caption)])[0].negatives[0]["type"] for i in range(50)}) >= 5
    assert negator.negate([("k", "a cat")])[0].status == "unparsable"
    with pytest.raises(ValueError, match="unknown negative types"):
        negate.make_negator("shapes", types=["swap_color"])


def test_shapes_negator_gives_k_negatives_of_distinct_types_the_first_as_with_k_1():
    caption = "a small red circle left of a large blue square"
    one = negate.make_negator("shapes", seed=0).negate([("k1", caption)])[0]
    four = negate.make_negator("shapes", seed=0, num_negatives=4).negate([("k1", caption)])[0]
    assert len(four.negatives) == 4 and len({n["type"] for n in four.negatives}) == 4
    assert four.negatives[0] == one.negatives[0]
    assert len({n["text"] for n in four.negatives}) == 4 and caption not in {n["text"] for n in four.negatives}


def test_k_negatives_reach_the_packed_shard_one_per_line(downloaded, tmp_path):
    root, ids, _ = downloaded
    shard = str(root / "download" / f"{ids[0]}.tar")
    negate.negate_shard(shard, str(tmp_path / "n.jsonl"), str(tmp_path / "n.json"),
                        negate.make_negator("shapes", seed=0, num_negatives=3, forbidden=HELDOUT))
    synthesize.synthesize_shard(str(tmp_path / "n.jsonl"), str(tmp_path / "s.tar"), str(tmp_path / "s.json"),
                                synthesize.make_synthesizer("shapes", image_size=64, seed=0))
    pack.pack_shard(shard, str(tmp_path / "n.jsonl"), str(tmp_path / "s.tar"), str(tmp_path / "p.tar"),
                    str(tmp_path / "p.json"))
    rows = {r["key"]: r for r in io.read_jsonl(tmp_path / "n.jsonl")}
    drawn = {s["__key__"]: s["txt"].decode() for s in io.iter_shard(tmp_path / "s.tar")}
    packed = list(io.iter_shard(tmp_path / "p.tar"))
    assert packed
    for sample in packed:
        lines = sample["neg.txt"].decode().split("\n")
        meta = json.loads(sample["json"])
        assert lines == [n["text"] for n in rows[sample["__key__"]]["negatives"]] and len(lines) == 3
        assert meta["neg_types"] == [n["type"] for n in rows[sample["__key__"]]["negatives"]]
        assert drawn[sample["__key__"]] == lines[0]  # the negative image draws the first negative


def test_synthesize_parts_of_a_killed_job_are_dropped_when_its_inputs_changed(tmp_path):
    captions = ["a small red circle left of a large blue square", "a large green triangle above a small red square"]
    rows = lambda caps: [{"key": str(i), "caption": "c", "negatives": [{"text": c, "type": "swap_att"}],
                          "backend": "shapes", "attempts": 1, "status": "ok"} for i, c in enumerate(caps)]
    io.write_jsonl(tmp_path / "neg.jsonl", rows(captions))
    synth = synthesize.make_synthesizer("shapes", image_size=64, seed=0)
    real, calls = synth.synthesize, []

    def killed(items):  # the job dies in its second batch, after the first one's image was kept
        calls.append(items)
        if len(calls) % 2 == 0:
            raise KeyboardInterrupt
        return real(items)

    synth.synthesize = killed
    args = str(tmp_path / "neg.jsonl"), str(tmp_path / "syn.tar"), str(tmp_path / "s.json")
    with pytest.raises(KeyboardInterrupt):
        synthesize.synthesize_shard(*args, synth, 1)
    synth.synthesize = real
    assert synthesize.synthesize_shard(*args, synth, 1)["generated"] == 1  # resumed: one was done
    with pytest.raises(KeyboardInterrupt):
        synth.synthesize = killed
        synthesize.synthesize_shard(*args, synth, 1)
    synth.synthesize = real
    io.write_jsonl(tmp_path / "neg.jsonl", rows(captions[::-1]))  # negate reran: other captions for the same keys
    assert synthesize.synthesize_shard(*args, synth, 1)["generated"] == 2
    drawn = [s["txt"].decode() for s in io.iter_shard(tmp_path / "syn.tar")]
    assert drawn == captions[::-1]
