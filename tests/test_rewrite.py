"""The rewrite stage (LaCLIP's caption rewrites): the shapes world's paraphraser, LaCLIP's prompt, the LLM rewriter
(a scripted engine and transformers on a tiny random model), the stage's resume and stats, LaCLIP's released files,
the job and the command line."""

import collections
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import tiny_lm
from helpers.counting import Counting
from tripletclip import io, rewrite, shapes
from tripletclip.negate import answers
from tripletclip.rewrite import job, paraphrase, prompt, release
from tripletclip.rewrite.llm import LLMRewriter

REAL = (Path(__file__).parent / "data" / "real_captions.txt").read_text(encoding="utf-8").splitlines()


def shapes_captions(n, seed=0):
    rng = random.Random(seed)
    return [shapes.describe(shapes.sample_scene(rng, "train", frozenset(), third_object_rate=0.3),
                            shapes.random_phrasing(rng)) for _ in range(n)]


def check_stats(stats, rows):
    """The stats invariants: every caption counted once, every rewrite and rejected answer counted."""
    assert stats["in"] == len(rows) == stats["rewritten"] + stats["partial"] + sum(stats["failed"].values())
    assert stats["rewritten"] == sum(r["status"] == "ok" for r in rows)
    assert stats["partial"] == sum(r["status"] == "partial" for r in rows)
    assert stats["rewrites"] == sum(len(r["rewrites"]) for r in rows)
    assert stats["attempts"] == sum(r["attempts"] for r in rows)
    assert stats["rejected"] == dict(collections.Counter(x for r in rows for x in r.get("rejected", ())))


# ---------------------------------------------------------------------------------------------------------------
# the shapes world's paraphraser


def test_inversion_and_canonical_form():
    scene, _ = shapes.parse("a small red circle left of a large blue square")
    other, _ = shapes.parse("a large blue square right of a small red circle")
    assert scene != other and paraphrase.canonical(scene) == paraphrase.canonical(other) == scene
    above, _ = shapes.parse("there is a large blue square below a small hollow red circle, plus a small green star")
    assert paraphrase.canonical(above).relation == "above" and paraphrase.inverted(paraphrase.inverted(above)) == above
    assert paraphrase.canonical(above).objects[2] == above.objects[2]  # the third object stands apart, untouched


def test_paraphraser_k_distinct_rewrites_of_the_same_scene():
    captions = shapes_captions(40)
    outcomes = rewrite.make_rewriter("shapes", num_rewrites=4, seed=0).rewrite(list(zip(map(str, range(40)),
                                                                                           captions)))
    inverted = 0
    for caption, out in zip(captions, outcomes):
        assert out.status == "ok" and len(out.rewrites) == 4 == len(set(out.rewrites)), out
        scene = shapes.parse(caption)[0]
        for text in out.rewrites:
            assert shapes.normalize(text) != shapes.normalize(caption)
            parsed = shapes.parse(text)[0]
            assert paraphrase.canonical(parsed) == paraphrase.canonical(scene), (caption, text)
            inverted += parsed != scene
    assert inverted > 20  # both sides of the relation are told
    # deterministic per (seed, key), whatever the batch; another seed draws other rewrites
    again = rewrite.make_rewriter("shapes", num_rewrites=4, seed=0).rewrite([("7", captions[7]), ("3", captions[3])])
    assert [o.rewrites for o in again] == [outcomes[7].rewrites, outcomes[3].rewrites]
    other = rewrite.make_rewriter("shapes", num_rewrites=4, seed=1).rewrite(list(zip(map(str, range(40)), captions)))
    assert sum(o.rewrites != p.rewrites for o, p in zip(other, outcomes)) > 30


def test_paraphraser_failures_and_too_few_wordings():
    out = rewrite.make_rewriter("shapes", num_rewrites=4).rewrite([("a", "A dog on a sofa."), ("b", "")])
    assert [o.status for o in out] == ["unparsable", "unparsable"] and out[0].rewrites == []
    caption = "a small red circle left of a large blue square"
    wordings = paraphrase.wordings(shapes.parse(caption)[0])
    assert len(wordings) == 2 * 5 * 3  # (scene, inversion) x frames x relation phrases
    many = rewrite.make_rewriter("shapes", num_rewrites=40).rewrite([("a", caption)])[0]
    assert many.status == "partial" and len(many.rewrites) == 29 and caption not in many.rewrites


# ---------------------------------------------------------------------------------------------------------------
# LaCLIP's prompt


@pytest.mark.parametrize("kind", prompt.KINDS)
def test_prompt_is_laclips(kind):
    caption = "a dog on a sofa\n"
    text = prompt.build(caption, kind, random.Random(3))
    lines = text.split("\n")
    assert lines[0] == "write image captions differently," and len(lines) == 9
    assert [lines[i] for i in (1, 3, 5, 7)] == [""] * 4
    assert lines[8] == "            a dog on a sofa =>" and text.endswith("a dog on a sofa =>")
    pairs = [tuple(lines[i].strip().split(" => ")) for i in (2, 4, 6)]
    if kind == "mscoco":  # two different captions of one COCO image
        assert all(any(a.strip() in [c.strip() for c in g] and b.strip() in [c.strip() for c in g] for g in
                       prompt.MSCOCO) and a != b for a, b in pairs)
    else:
        meta = {(a.strip(), b.strip()) for a, b in prompt.PAIRS[kind]}
        assert set(pairs) <= meta and len(set(pairs)) == 3
    # LaCLIP reads the first line the model writes after the caption's "=>"
    assert prompt.answer(" A brown dog sleeps on a couch.\n\n            x => y") == "A brown dog sleeps on a couch."
    assert prompt.answer(" A dog. => more") == "A dog."


def test_prompt_meta_pairs_are_laclips_and_kinds_cycle():
    assert [len(prompt.PAIRS[k]) for k in ("chatgpt", "bard", "human")] == [16, 16, 16]
    assert len(prompt.MSCOCO) == 18 and all(len(g) == 5 for g in prompt.MSCOCO)
    assert prompt.CHATGPT[0] == ("white and red cheerful combination in the bedroom for girl",
                                 "A bright and lively white-and-red color scheme in a girl's bedroom, creating a "
                                 "cheerful ambiance.")
    assert prompt.HUMAN[1] == ("happy corgi time", "Delighted corgi stands in the hallway, looking at its owner")
    assert [prompt.kind_of(j) for j in range(6)] == ["chatgpt", "bard", "mscoco", "human", "chatgpt", "bard"]
    with pytest.raises(ValueError, match="unknown rewrite prompt kind"):
        prompt.examples("gpt4", random.Random(0))


# ---------------------------------------------------------------------------------------------------------------
# the LLM rewriter


class ScriptedEngine:
    """An engine whose answers per caption come from a script, in the order it is asked; it records every call."""

    tokenizer = None

    def __init__(self, script):
        self.script = {c: list(a) for c, a in script.items()}
        self.calls = []

    def generate(self, prompts, n, seeds, add_special_tokens=None):
        self.calls.append({"prompts": prompts, "seeds": seeds, "n": n, "add_special_tokens": add_special_tokens})
        return [[self.script[p.rsplit("\n", 1)[1].strip()[:-3]].pop(0)] for p in prompts]


def test_llm_rewriter_checks_retries_and_counts():
    script = {
        "A dog on a sofa.": [" A brown dog rests on a couch.\n\n            x => y", " a dog on a sofa",
                             " A small dog naps on a sofa in a sunny room.", " "],
        "A red car.": [" I'm sorry, I cannot do that.", "", " " + " ".join(["word"] * 40), " ", "", " "],
        "Two cats.": [" Two cats curl up together on a rug.", " Two cats curl up together on a rug!",
                      " A pair of cats sleeping side by side."],
    }
    engine = ScriptedEngine(script)
    rewriter = LLMRewriter("vllm", num_rewrites=2, seed=5, max_attempts=3, engine=engine)
    out = rewriter.rewrite([(str(i), c) for i, c in enumerate(script)])
    assert out[0].rewrites == ["A brown dog rests on a couch.", "A small dog naps on a sofa in a sunny room."]
    assert out[0].status == "ok" and out[0].rejected == ["echo"] and out[0].attempts == 3
    assert out[1].status == "rejected" and out[1].rewrites == [] and out[1].attempts == 6
    assert out[1].rejected == ["refusal", "empty", "length", "empty", "empty", "empty"]
    assert out[2].status == "ok" and out[2].rejected == ["duplicate"] and out[2].attempts == 3
    assert out[2].rewrites == ["Two cats curl up together on a rug.", "A pair of cats sleeping side by side."]
    # every answer is a rewrite or a rejection
    assert all(o.attempts == len(o.rewrites) + len(o.rejected) for o in out)
    # one generate call per attempt over the rewrites still pending, LaCLIP's BOS, one answer per prompt
    assert [len(c["prompts"]) for c in engine.calls] == [6, 4, 2]
    assert all(c["n"] == 1 and c["add_special_tokens"] is True for c in engine.calls)
    first = engine.calls[0]["prompts"]
    assert [p.count(" => ") for p in first] == [3] * 6
    assert any(f"{a} => {b}" in first[0] for a, b in prompt.CHATGPT)  # rewrite 0: ChatGPT's pairs
    assert any(f"{a} => {b}" in first[1] for a, b in prompt.BARD)  # rewrite 1: Bard's
    seeds = [s for c in engine.calls for s in c["seeds"]]
    assert len(set(seeds)) == len(seeds)  # per (key, rewrite, attempt)
    again = ScriptedEngine(script)
    LLMRewriter("vllm", num_rewrites=2, seed=5, engine=again).rewrite([(str(i), c) for i, c in enumerate(script)])
    assert [c["seeds"] for c in again.calls] == [c["seeds"] for c in engine.calls]
    assert [c["prompts"] for c in again.calls] == [c["prompts"] for c in engine.calls]
    partial = LLMRewriter("vllm", num_rewrites=2, max_attempts=1, engine=ScriptedEngine(
        {"A dog.": [" A puppy sits.", ""]})).rewrite([("k", "A dog.")])[0]
    assert partial.status == "partial" and partial.rewrites == ["A puppy sits."]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    corpus = REAL + [text for pairs in prompt.PAIRS.values() for pair in pairs for text in pair] + ["=>"]
    return tiny_lm.build(tmp_path_factory.mktemp("tiny_lm"), corpus)


def test_transformers_rewriter_on_a_tiny_model(tiny_model, tmp_path):
    captions = REAL[:4]
    (tmp_path / "in.txt").write_text("\n".join(captions) + "\n", encoding="utf-8")
    opts = {"model": str(tiny_model), "sampling": {"max_tokens": 12}, "batch_size": 4, "max_attempts": 2}
    rewriter = rewrite.make_rewriter("transformers", num_rewrites=2, seed=0, **opts)
    assert rewriter.sampling.temperature == 0.9 and rewriter.sampling.top_p == 0.95  # LaCLIP's
    stats = rewrite.rewrite_file(str(tmp_path / "in.txt"), str(tmp_path / "out.jsonl"), str(tmp_path / "s.json"),
                                 rewriter, batch_size=4)
    rows = io.read_jsonl(tmp_path / "out.jsonl")
    assert [r["caption"] for r in rows] == captions and all(r["backend"] == "transformers" for r in rows)
    check_stats(stats, rows)
    for r in rows:
        assert 2 <= r["attempts"] <= 4 and r["attempts"] == len(r["rewrites"]) + len(r.get("rejected", ()))
        assert r["status"] == ("ok" if len(r["rewrites"]) == 2 else "partial" if r["rewrites"] else "rejected")
        assert set(r.get("rejected", ())) <= set(answers.REASONS)
    assert stats["attempts"] == stats["rewrites"] + sum(stats["rejected"].values()) > 0
    # the same seeds and batches give the same file
    rewrite.rewrite_file(str(tmp_path / "in.txt"), str(tmp_path / "again.jsonl"), str(tmp_path / "s2.json"),
                         rewrite.make_rewriter("transformers", num_rewrites=2, seed=0, **opts), batch_size=4)
    assert (tmp_path / "again.jsonl").read_bytes() == (tmp_path / "out.jsonl").read_bytes()


# ---------------------------------------------------------------------------------------------------------------
# the stage: resume, nothing to do, stats


def test_a_killed_run_resumes_and_a_finished_one_has_nothing_to_do(tmp_path):
    captions = shapes_captions(48) + ["not a shapes caption", ""]
    (tmp_path / "in.txt").write_text("\n".join(captions) + "\n", encoding="utf-8")
    args = str(tmp_path / "in.txt"), str(tmp_path / "out.jsonl"), str(tmp_path / "stats.json")
    settings = {"rewrite": {"backend": "shapes", "num_rewrites": 3}, "seed": 0}
    paraphraser = rewrite.make_rewriter("shapes", num_rewrites=3)
    killed = Counting(paraphraser, fail_after=3, verb="rewrite")
    with pytest.raises(KeyboardInterrupt):
        rewrite.rewrite_file(*args, killed, batch_size=8, settings=settings)
    assert killed.seen == [str(i) for i in range(1, 25)]
    assert not (tmp_path / "out.jsonl").exists() and not (tmp_path / "stats.json").exists()
    partial = tmp_path / ".out.jsonl.partial"
    with open(partial, "a", encoding="utf-8") as f:
        f.write('{"key": "25", "capt')  # the line being written when it died
    rerun = Counting(paraphraser, verb="rewrite")
    stats = rewrite.rewrite_file(*args, rerun, batch_size=8, settings=settings)
    # line 50 is empty: counted, never sent to the rewriter
    assert rerun.seen == [str(i) for i in range(25, 50)] and stats["resumed"] == 24 and not partial.exists()
    rows = io.read_jsonl(tmp_path / "out.jsonl")
    check_stats(stats, rows)
    assert stats["in"] == 50 and stats["rewritten"] == 48 and stats["partial"] == 0 and stats["rewrites"] == 144
    assert stats["failed"] == {"unparsable": 1, "empty_caption": 1} and stats["settings"] == settings
    assert [r["key"] for r in rows] == [str(i) for i in range(1, 51)]
    assert set(rows[0]) == {"key", "caption", "rewrites", "backend", "attempts", "status"}
    whole = rewrite.rewrite_file(args[0], str(tmp_path / "whole.jsonl"), str(tmp_path / "w.json"), paraphraser,
                                 batch_size=8, settings=settings)
    assert (tmp_path / "out.jsonl").read_bytes() == (tmp_path / "whole.jsonl").read_bytes()
    assert whole["resumed"] == 0
    # rerun with the same settings: nothing to do, the rewriter is never even built
    before = (tmp_path / "out.jsonl").stat().st_mtime_ns
    unused = Counting(paraphraser, fail_after=0, verb="rewrite")
    assert rewrite.rewrite_file(*args, lambda: unused, batch_size=8, settings=settings) == stats
    assert (tmp_path / "out.jsonl").stat().st_mtime_ns == before
    # other settings redo it all
    redo = Counting(rewrite.make_rewriter("shapes", num_rewrites=2), verb="rewrite")
    again = rewrite.rewrite_file(*args, redo, batch_size=8, settings={**settings, "seed": 1})
    assert len(redo.seen) == 49 and again["rewrites"] == 96


# ---------------------------------------------------------------------------------------------------------------
# LaCLIP's released files


def write_release(folder, rows, blank=()):
    """Four files in LaCLIP's layout: one rewrite per line, line i for row i of the URL list."""
    files = []
    for kind in prompt.KINDS:
        path = folder / f"cc3m_{kind}.txt"
        path.write_text("".join("\n" if (kind, i) in blank else f"{kind} rewrite of row {i}\n" for i in range(rows)),
                        encoding="utf-8")
        files.append(str(path))
    return files


def test_release_keys_map_to_rows_as_img2dataset_names_them(tmp_path):
    from img2dataset.downloader import compute_key  # the key img2dataset writes: shard id, then index in shard

    assert release.row_of(compute_key(7, 3, 2, 5), 12) == 3 * 12 + 7
    assert release.row_of(compute_key(9, 2, 1, 5), 10) == 29 and release.row_of(compute_key(0, 4, 0, 5), 1) == 4
    assert release.row_of("3", None) == 2  # a caption file's 1-based line number
    with pytest.raises(ValueError, match="no img2dataset key"):
        release.row_of("0000015", 12)

    files = write_release(tmp_path, 20, blank={("bard", 14), ("mscoco", 14), ("chatgpt", 15), ("bard", 15),
                                               ("mscoco", 15), ("human", 15)})
    release.check_release(files, 20)
    (tmp_path / "short.txt").write_text("a\nb\nc", encoding="utf-8")  # no final newline: still 3 lines
    with pytest.raises(ValueError, match="short.txt has 3 lines, but the URL list has 20 rows"):
        release.check_release([files[0], str(tmp_path / "short.txt")], 20)
    # two shards of 12 samples, as img2dataset keys them; a failed download leaves a hole in the keys
    for shard, rows in ((0, range(0, 12)), (1, range(12, 20))):
        with io.shard_writer(tmp_path / f"{shard:05d}.tar") as sink:
            for row in rows:
                if row not in (5, 13):
                    sink.write({"__key__": compute_key(row % 12, shard, 2, 5), "txt": f"caption {row}", "jpg": b"x"})
    laclip = rewrite.make_rewriter("laclip", num_rewrites=4, files=files, samples_per_shard=12)
    stats = rewrite.rewrite_shard(str(tmp_path / "00001.tar"), str(tmp_path / "r.jsonl"), str(tmp_path / "r.json"),
                                  laclip, batch_size=3)
    rows = io.read_jsonl(tmp_path / "r.jsonl")
    assert [r["key"] for r in rows] == ["0000100", "0000102", "0000103", "0000104", "0000105", "0000106", "0000107"]
    assert rows[0]["rewrites"] == [f"{kind} rewrite of row 12" for kind in prompt.KINDS]
    assert rows[0]["caption"] == "caption 12" and rows[0]["status"] == "ok" and rows[0]["backend"] == "laclip"
    assert rows[1]["rewrites"] == ["chatgpt rewrite of row 14", "human rewrite of row 14"]
    assert rows[1]["status"] == "partial" and rows[1]["rejected"] == ["empty", "empty"]
    assert rows[2]["status"] == "rejected" and rows[2]["rewrites"] == []
    assert rows[-1]["rewrites"][3] == "human rewrite of row 19"
    check_stats(stats, rows)
    assert (stats["in"], stats["rewritten"], stats["partial"], stats["failed"]) == (7, 5, 1, {"rejected": 1})
    assert stats["rewrites"] == 22 and stats["rejected"] == {"empty": 6}
    first = rewrite.make_rewriter("laclip", num_rewrites=2, files=files, samples_per_shard=12)
    assert first.rewrite([(compute_key(11, 0, 2, 5), "c")])[0].rewrites == ["chatgpt rewrite of row 11",
                                                                             "bard rewrite of row 11"]
    with pytest.raises(ValueError, match="has no line 25"):
        laclip.rewrite([(compute_key(0, 2, 2, 5), "c")])
    with pytest.raises(ValueError, match="needs rewrite.files"):
        rewrite.make_rewriter("laclip")


# ---------------------------------------------------------------------------------------------------------------
# the rule's job and the command line


def test_job_and_command_line(tmp_path):
    captions = shapes_captions(6)
    with io.shard_writer(tmp_path / "00000.tar") as sink:
        for i, caption in enumerate(captions):
            sink.write({"__key__": f"{i:07d}", "txt": caption, "jpg": b"x"})
    cfg = {"backend": "shapes", "num_rewrites": 2, "files": None, "batch_size": 4, "python": None, "llm": {}}
    spec = {"input": str(tmp_path / "00000.tar"), "rewrites": str(tmp_path / "r.jsonl"),
            "stats": str(tmp_path / "r_stats.json"), "rewrite": cfg, "seed": 0, "caption_key": "txt",
            "samples_per_shard": 10}
    stats = job.run(spec)
    assert stats["rewritten"] == 6 and stats["rewrites"] == 12 and stats["settings"]["samples_per_shard"] == 10
    with pytest.raises(FileNotFoundError, match="rewrite.python: '/no/such/python' is not an executable"):
        job.run_with("/no/such/python", spec)

    (tmp_path / "caps.txt").write_text("\n".join(captions) + "\n", encoding="utf-8")
    files = write_release(tmp_path, 6)
    for backend, extra in (("shapes", []), ("laclip", ["--files", *files])):
        out = tmp_path / f"{backend}.jsonl"
        run = subprocess.run([sys.executable, "-m", "tripletclip.rewrite", "--backend", backend,
                              str(tmp_path / "caps.txt"), "-o", str(out), "-k", "3", *extra],
                             capture_output=True, encoding="utf-8")
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout.splitlines()[-1])["rewritten"] == 6
        rows = io.read_jsonl(out)
        assert [r["caption"] for r in rows] == captions and all(len(r["rewrites"]) == 3 for r in rows)
        assert io.read_json(out.with_suffix(".stats.json"))["rewrites"] == 18
    assert rows[2]["rewrites"] == ["chatgpt rewrite of row 2", "bard rewrite of row 2", "mscoco rewrite of row 2"]
    bad = subprocess.run([sys.executable, "-m", "tripletclip.rewrite", "--backend", "laclip",
                          str(tmp_path / "caps.txt"), "-o", str(tmp_path / "x.jsonl")], capture_output=True,
                         encoding="utf-8")
    assert bad.returncode == 2 and "needs rewrite.files" in bad.stderr
