"""Karpathy-split caption JSON, the caption vocabulary and the Tux Paint stamp loader."""

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from polymodal.data.captions import (
    TUXPAINT_STAMPS, find_tuxpaint_stamps, load_karpathy_captions, load_tuxpaint_stamps, read_image,
)
from polymodal.data.vocab import SPECIAL_TOKENS, Vocabulary
from polymodal.errors import DatasetError

FIX = Path(__file__).parents[1] / "fixtures" / "captioning"
FLICKR = FIX / "dataset_flickr8k_tiny.json"
COCO = FIX / "dataset_coco_tiny.json"


# ----------------------------------------------------------------------------- Karpathy JSON
def test_flickr8k_format():
    d = load_karpathy_captions(FLICKR, images_dir="/data/Flicker8k_Dataset")
    assert d.dataset == "flickr8k" and len(d.images) == 3
    assert [len(d.split(s)) for s in ("train", "val", "test")] == [1, 1, 1]
    im = d.split("train")[0]
    assert im.filename == "1000268201_693b08cb0e.jpg" and im.filepath is None
    assert im.path == os.path.join("/data/Flicker8k_Dataset", "1000268201_693b08cb0e.jpg")
    assert im.sentences[1] == "A girl going into a wooden building ." and im.tokens[1][:3] == ["a", "girl", "going"]
    raw = json.loads(FLICKR.read_text())
    assert d.references("val") == {r["filename"]: [s["raw"] for s in r["sentences"]]
                                   for r in raw["images"] if r["split"] == "val"}


def test_coco_format_filepath_and_restval():
    d = load_karpathy_captions(COCO, images_dir="/coco")
    assert [im.split for im in d.images] == ["test", "train", "train", "val"]  # restval joins train
    assert d.images[0].path == os.path.join("/coco", "val2014", "COCO_val2014_000000391895.jpg")
    assert d.images[0].cocoid == 391895 and d.images[0].imgid == 0
    kept = load_karpathy_captions(COCO, restval="restval")
    assert [im.split for im in kept.images] == ["test", "restval", "train", "val"]
    assert kept.images[0].path is None


def _write(tmp_path, data):
    p = tmp_path / "d.json"
    p.write_text(json.dumps(data))
    return p


def test_missing_fields_are_named(tmp_path):
    data = json.loads(COCO.read_text())
    del data["images"][2]["sentences"][0]["tokens"]
    p = _write(tmp_path, data)
    with pytest.raises(DatasetError, match=rf"^{p}: images\[2\]\.sentences\[0\] is missing field 'tokens'$"):
        load_karpathy_captions(p)
    data = json.loads(FLICKR.read_text())
    del data["images"][1]["filename"]
    p = _write(tmp_path, data)
    with pytest.raises(DatasetError, match=rf"^{p}: images\[1\] is missing field 'filename'$"):
        load_karpathy_captions(p)
    p = _write(tmp_path, {"annotations": []})
    with pytest.raises(DatasetError, match=rf"^{p}: the top level is missing field 'images'$"):
        load_karpathy_captions(p)


def test_bad_values(tmp_path):
    data = json.loads(FLICKR.read_text())
    data["images"][0]["split"] = "dev"
    p = _write(tmp_path, data)
    with pytest.raises(DatasetError, match=r"images\[0\]\.split must be one of train, val, test, restval, got 'dev'"):
        load_karpathy_captions(p)
    data = json.loads(FLICKR.read_text())
    data["images"][0]["sentences"][0]["raw"] = 5
    p = _write(tmp_path, data)
    with pytest.raises(DatasetError, match=r"images\[0\]\.sentences\[0\]\.raw must be str, got int"):
        load_karpathy_captions(p)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DatasetError, match="is not valid JSON"):
        load_karpathy_captions(bad)
    with pytest.raises(DatasetError, match="cannot read caption file"):
        load_karpathy_captions(tmp_path / "nope.json")


def test_check_images_and_unreadable_image(tmp_path):
    from PIL import Image

    with pytest.raises(DatasetError, match=r"images\[0\] image file not found: .*1000268201_693b08cb0e\.jpg"):
        load_karpathy_captions(FLICKR, images_dir=tmp_path, check_images=True)
    for name in ("1000268201_693b08cb0e.jpg", "1001773457_577c3a7d70.jpg"):
        Image.new("RGB", (8, 6), (10, 20, 30)).save(tmp_path / name)
    (tmp_path / "1002674143_1b742ab4b8.jpg").write_bytes(b"this is not a jpeg")
    d = load_karpathy_captions(FLICKR, images_dir=tmp_path, check_images=True)
    img = read_image(d.images[0].path)
    assert img.shape == (6, 8, 3) and np.abs(img.astype(int) - [10, 20, 30]).max() <= 2  # JPEG rounding
    with pytest.raises(DatasetError, match=r"^cannot read image file '.*1002674143_1b742ab4b8\.jpg': "):
        read_image(d.images[2].path)
    with pytest.raises(DatasetError, match=r"^image file not found: "):
        read_image(tmp_path / "missing.png")


def test_read_image_alpha_and_square_padding(tmp_path):
    from PIL import Image

    im = Image.new("RGBA", (4, 2), (255, 0, 0, 255))
    im.putpixel((0, 0), (0, 0, 255, 0))  # fully transparent -> background
    im.save(tmp_path / "a.png")
    a = read_image(tmp_path / "a.png")
    assert a[0, 0].tolist() == [255, 255, 255] and a[1, 3].tolist() == [255, 0, 0]
    sq = read_image(tmp_path / "a.png", size=4)  # 4x2 padded to 4x4: white rows top and bottom
    assert sq.shape == (4, 4, 3) and sq[0, 2].tolist() == [255, 255, 255] and sq[2, 2].tolist() == [255, 0, 0]


# ----------------------------------------------------------------------------- vocabulary
SENTS = [["a", "dog", "runs"], ["a", "cat", "runs"], ["a", "dog"], ["the", "zebra"]]


def test_vocabulary_matches_counter():
    for k in (1, 2, 3):
        v = Vocabulary.build(SENTS, min_count=k)
        counts = Counter(t for s in SENTS for t in s)
        expected = sorted((t for t, c in counts.items() if c >= k), key=lambda t: (-counts[t], t))
        assert v.tokens == list(SPECIAL_TOKENS) + expected
    v = Vocabulary.build(SENTS, min_count=1, max_size=2)
    assert v.tokens[4:] == ["a", "dog"]


def test_vocabulary_encode_decode():
    v = Vocabulary.build(SENTS, min_count=2)
    assert (v.pad_id, v.bos_id, v.eos_id, v.unk_id) == (0, 1, 2, 3)
    ids = v.encode(["a", "zebra", "runs"])
    assert ids == [1, v.token_to_id("a"), 3, v.token_to_id("runs"), 2]
    assert v.decode(ids + [0, 0]) == ["a", "<unk>", "runs"]
    assert v.decode(ids, strip_special=False)[0] == "<bos>"
    batch, lengths = v.encode_batch([["a"], ["a", "dog", "runs"]])
    assert lengths.tolist() == [3, 5] and batch.shape == (2, 5) and batch[0, 3:].tolist() == [0, 0]
    assert "dog" in v and "zebra" not in v
    with pytest.raises(DatasetError, match="tokens must be a list of str, got a str"):
        v.encode("a dog")


def test_vocabulary_save_load(tmp_path):
    v = Vocabulary.build(SENTS, min_count=1)
    v.save(tmp_path / "v.json")
    w = Vocabulary.load(tmp_path / "v.json")
    assert w.tokens == v.tokens and w.min_count == 1
    (tmp_path / "x.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(DatasetError, match="is not a polymodal vocabulary: expected format 'polymodal.vocabulary'"):
        Vocabulary.load(tmp_path / "x.json")
    data = json.loads((tmp_path / "v.json").read_text())
    data["tokens"].append("a")
    (tmp_path / "d.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError, match="'a' appears more than once"):
        Vocabulary.load(tmp_path / "d.json")
    with pytest.raises(DatasetError, match="must not repeat the special tokens"):
        Vocabulary(["<unk>"])


# ----------------------------------------------------------------------------- Tux Paint
def _stamp_tree(root: Path) -> None:
    from PIL import Image

    (root / "animals" / "birds").mkdir(parents=True)
    (root / "food").mkdir()
    Image.new("RGBA", (6, 6), (0, 128, 0, 255)).save(root / "animals" / "birds" / "owl.png")
    (root / "animals" / "birds" / "owl.txt").write_text("An owl.\nfr.utf8=Un hibou.\n", encoding="utf-8")
    (root / "animals" / "birds" / "owl.ogg").write_bytes(b"OggS")
    Image.new("RGBA", (4, 8), (200, 0, 0, 255)).save(root / "food" / "apple.png")
    (root / "food" / "apple.txt").write_text("A red apple\n", encoding="utf-8")
    (root / "food" / "pear.svg").write_text("<svg/>")
    (root / "food" / "pear.txt").write_text("A pear.\n")           # SVG only: skipped
    Image.new("RGBA", (4, 4)).save(root / "food" / "nocaption.png")  # no .txt: skipped
    Image.new("RGBA", (4, 4)).save(root / "food" / "blank.png")
    (root / "food" / "blank.txt").write_text("\nde.utf8=Leer\n")      # empty caption: skipped


def test_tuxpaint_parser_on_fixture_layout(tmp_path):
    _stamp_tree(tmp_path)
    stamps = find_tuxpaint_stamps(tmp_path)
    assert [s.name for s in stamps] == ["animals/birds/owl", "food/apple"]
    assert [s.caption for s in stamps] == ["An owl.", "A red apple"]
    assert stamps[0].category == "animals/birds" and stamps[0].sound_path.endswith("owl.ogg")
    assert stamps[1].sound_path is None
    d = load_tuxpaint_stamps(tmp_path, image_size=8, fractions=(0.5, 0.0, 0.5))
    assert d.images.shape == (2, 8, 8, 3) and d.images.dtype == np.uint8
    assert d.images[0, 4, 4].tolist() == [0, 128, 0]
    assert d.images[1, 4, 0].tolist() == [255, 255, 255] and d.images[1, 4, 4].tolist() == [200, 0, 0]
    assert sorted(d.split.tolist()) == ["test", "train"]
    assert d.references() == {"animals/birds/owl": ["An owl."], "food/apple": ["A red apple"]}


def test_tuxpaint_split_is_seeded_and_disjoint(tmp_path):
    from PIL import Image

    for i in range(20):
        Image.new("RGB", (2, 2)).save(tmp_path / f"s{i:02d}.png")
        (tmp_path / f"s{i:02d}.txt").write_text(f"stamp {i}\n")
    a = load_tuxpaint_stamps(tmp_path, image_size=2, seed=3)
    b = load_tuxpaint_stamps(tmp_path, image_size=2, seed=3)
    c = load_tuxpaint_stamps(tmp_path, image_size=2, seed=4)
    assert a.split.tolist() == b.split.tolist() and a.split.tolist() != c.split.tolist()
    assert [len(a.subset(s)) for s in ("train", "val", "test")] == [16, 2, 2]
    perm = np.random.default_rng(3).permutation(20)
    assert sorted(a.subset("test").ids) == sorted(f"s{i:02d}" for i in perm[18:])


def test_tuxpaint_errors(tmp_path):
    with pytest.raises(DatasetError, match=r"Tux Paint stamps not found at .*apt-get install tuxpaint-stamps-default"):
        find_tuxpaint_stamps(tmp_path / "none")
    with pytest.raises(DatasetError, match="fractions must be three non-negative numbers summing to 1"):
        load_tuxpaint_stamps(tmp_path, fractions=(0.5, 0.5, 0.5))
    with pytest.raises(DatasetError, match="no captioned PNG stamps found"):
        load_tuxpaint_stamps(tmp_path)


@pytest.mark.skipif(not os.path.isdir(TUXPAINT_STAMPS), reason="tuxpaint-stamps-default not installed")
def test_tuxpaint_system_install():
    stamps = find_tuxpaint_stamps()
    assert len(stamps) > 700  # 785 captioned PNG stamps in Debian 12's package
    assert all(s.caption and s.image_path.endswith(".png") for s in stamps)
    owl = next(s for s in stamps if s.name.endswith("/frog"))
    img = read_image(owl.image_path, size=32)
    assert img.shape == (32, 32, 3) and img.std() > 0
