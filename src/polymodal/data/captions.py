"""Captioned-image data: Karpathy-split caption JSON (COCO, Flickr8k/30k) and Tux Paint stamps."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Hashable
from typing import Any

import numpy as np

from polymodal.jsonio import read_json
from polymodal.errors import DatasetError

__all__ = [
    "CaptionedImages", "KarpathyCaptions", "KarpathyImage", "TUXPAINT_STAMPS", "TuxPaintStamp",
    "find_tuxpaint_stamps", "load_captions_json", "load_karpathy_captions", "load_tuxpaint_stamps",
    "read_image",
]

#: Where Debian's ``tuxpaint-stamps-default`` installs the stamps (GPL-2: load, never redistribute).
TUXPAINT_STAMPS = "/usr/share/tuxpaint/stamps"
KARPATHY_SPLITS = ("train", "val", "test", "restval")


# ----------------------------------------------------------------------------- images
def read_image(path: str | os.PathLike, size: int | None = None, background: int = 255) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3); transparency is composited on ``background``.

    With ``size`` the image is padded to a square with the background colour
    (keeping its aspect ratio) and resized to (size, size, 3).

    Raises
    ------
    DatasetError
        Naming the file when it is missing or not a readable image.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            rgba = im.convert("RGBA")
    except FileNotFoundError:
        raise DatasetError(f"image file not found: {os.fspath(path)!r}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise DatasetError(f"cannot read image file {os.fspath(path)!r}: {e}") from None
    canvas = Image.new("RGBA", rgba.size, (background, background, background, 255))
    rgb = Image.alpha_composite(canvas, rgba).convert("RGB")
    if size is not None:
        side = max(rgb.size)
        square = Image.new("RGB", (side, side), (background,) * 3)
        square.paste(rgb, ((side - rgb.size[0]) // 2, (side - rgb.size[1]) // 2))
        rgb = square.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8)


# ----------------------------------------------------------------------------- Karpathy JSON
@dataclass
class KarpathyImage:
    """One image record of a Karpathy-split caption file."""

    filename: str
    split: str
    sentences: list[str]
    tokens: list[list[str]]
    filepath: str | None = None
    imgid: int | None = None
    cocoid: int | None = None
    path: str | None = None


@dataclass
class KarpathyCaptions:
    """The images of a ``dataset_*.json`` file with their captions and split."""

    images: list[KarpathyImage]
    dataset: str | None = None

    def split(self, name: str) -> list[KarpathyImage]:
        """The images of split ``name`` (train, val, test, or restval when kept separate)."""
        return [im for im in self.images if im.split == name]

    def references(self, name: str) -> dict[str, list[str]]:
        """``{filename: raw captions}`` of a split, the references :func:`score_captions` takes."""
        return {im.filename: list(im.sentences) for im in self.split(name)}


def _field(rec: Any, key: str, where: str, path: str, kinds: tuple[type, ...]) -> Any:
    if not isinstance(rec, dict):
        raise DatasetError(f"{path}: {where} must be a JSON object, got {type(rec).__name__}")
    if key not in rec:
        raise DatasetError(f"{path}: {where} is missing field {key!r}")
    value = rec[key]
    if not isinstance(value, kinds):
        raise DatasetError(f"{path}: {where}.{key} must be {' or '.join(k.__name__ for k in kinds)}, "
                           f"got {type(value).__name__}")
    return value


def load_karpathy_captions(json_path: str | os.PathLike, images_dir: str | os.PathLike | None = None,
                           restval: str = "train", check_images: bool = False) -> KarpathyCaptions:
    """Load a Karpathy-split caption file (``dataset_coco.json``, ``dataset_flickr8k.json``, ...).

    The format of Karpathy & Fei-Fei, "Deep Visual-Semantic Alignments for
    Generating Image Descriptions" (CVPR 2015): ``{"images": [{"filename",
    "filepath" (COCO only), "split", "sentences": [{"raw", "tokens"}], "imgid",
    "cocoid"}], "dataset"}``.

    Parameters
    ----------
    json_path : path
        The ``dataset_*.json`` file.
    images_dir : path, optional
        The images folder; each image's ``path`` is ``images_dir/filepath/filename``
        (``images_dir/filename`` without ``filepath``); a path that leaves
        ``images_dir`` (``../``, an absolute path, a symlink out) is refused.
    restval : {"train", "restval"}
        COCO's ``restval`` images join ``train`` (the usual 113,287-image training
        set) or stay a split of their own.
    check_images : bool
        Check that every image file exists (needs ``images_dir``).

    Raises
    ------
    DatasetError
        Unreadable JSON, a missing or mistyped field (named with its image and
        sentence index), an unknown split, a missing image file.
    """
    path = os.fspath(json_path)
    if restval not in ("train", "restval"):
        raise DatasetError(f"restval must be 'train' or 'restval', got {restval!r}")
    data = read_json(path, "caption file")
    records = _field(data, "images", "the top level", path, (list,))
    images = []
    for i, rec in enumerate(records):
        where = f"images[{i}]"
        filename = _field(rec, "filename", where, path, (str,))
        split = _field(rec, "split", where, path, (str,))
        if split not in KARPATHY_SPLITS:
            raise DatasetError(f"{path}: {where}.split must be one of {', '.join(KARPATHY_SPLITS)}, got {split!r}")
        if split == "restval":
            split = restval
        sentences = _field(rec, "sentences", where, path, (list,))
        if not sentences:
            raise DatasetError(f"{path}: {where}.sentences is empty: expected at least one caption")
        raws, toks = [], []
        for j, s in enumerate(sentences):
            raws.append(_field(s, "raw", f"{where}.sentences[{j}]", path, (str,)))
            tk = _field(s, "tokens", f"{where}.sentences[{j}]", path, (list,))
            if not all(isinstance(t, str) for t in tk):
                raise DatasetError(f"{path}: {where}.sentences[{j}].tokens must be a list of str")
            toks.append(list(tk))
        filepath = rec.get("filepath")
        if filepath is not None and not isinstance(filepath, str):
            raise DatasetError(f"{path}: {where}.filepath must be str, got {type(filepath).__name__}")
        full = None
        if images_dir is not None:
            full = os.path.join(os.fspath(images_dir), *(p for p in (filepath, filename) if p))
            root = os.path.realpath(images_dir)
            if os.path.commonpath([root, os.path.realpath(full)]) != root:
                raise DatasetError(f"{path}: {where} names an image outside images_dir {os.fspath(images_dir)!r}: "
                                   f"{os.path.join(*(p for p in (filepath, filename) if p))!r}")
            if check_images and not os.path.isfile(full):
                raise DatasetError(f"{path}: {where} image file not found: {full!r}")
        images.append(KarpathyImage(filename=filename, split=split, sentences=raws, tokens=toks,
                                    filepath=filepath, imgid=rec.get("imgid"), cocoid=rec.get("cocoid"),
                                    path=full))
    if check_images and images_dir is None:
        raise DatasetError("check_images=True needs images_dir")
    return KarpathyCaptions(images=images, dataset=data.get("dataset"))


# ----------------------------------------------------------------------------- Tux Paint
@dataclass
class TuxPaintStamp:
    """One Tux Paint stamp: its image, English caption (first line of its ``.txt``), optional sound."""

    name: str          # path below the stamps folder, without extension: "animals/birds/owl"
    image_path: str
    caption: str
    sound_path: str | None = None

    @property
    def category(self) -> str:
        """The stamp's folder below the stamps root ("animals/birds")."""
        return self.name.rsplit("/", 1)[0] if "/" in self.name else ""


@dataclass
class CaptionedImages:
    """Images (N, S, S, 3) uint8 with their reference captions and a train/val/test split."""

    ids: list[str]
    images: np.ndarray
    captions: list[list[str]]
    split: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, name: str) -> "CaptionedImages":
        """The samples of split ``name``."""
        idx = np.nonzero(self.split == name)[0]
        if len(idx) == 0 and name not in ("train", "val", "test"):
            raise DatasetError(f"split must be one of train, val, test, got {name!r}")
        return CaptionedImages([self.ids[i] for i in idx], self.images[idx], [self.captions[i] for i in idx],
                               self.split[idx], dict(self.extra))

    def references(self) -> dict[str, list[str]]:
        """``{id: captions}``, the references :func:`polymodal.metrics.score_captions` takes."""
        return {k: list(c) for k, c in zip(self.ids, self.captions)}


def _read_caption(txt: Path) -> str:
    try:
        with open(txt, encoding="utf-8") as f:
            first = f.readline()
    except UnicodeDecodeError as e:
        raise DatasetError(f"stamp caption file {str(txt)!r} is not UTF-8: {e.reason}") from None
    return first.strip()


def find_tuxpaint_stamps(root: str | os.PathLike = TUXPAINT_STAMPS,
                         formats: tuple[str, ...] = ("png",)) -> list[TuxPaintStamp]:
    """Find the stamps under ``root``: an image (``formats``) with a ``.txt`` of the same name.

    The caption is the ``.txt`` file's first line (English; later lines hold
    translations as ``lang.utf8=...``). Stamps whose caption is empty are skipped.
    Sorted by name, so the order does not depend on the file system.

    Raises
    ------
    DatasetError
        When ``root`` does not exist (with the command that installs the stamps).
    """
    base = Path(root)
    if not base.is_dir():
        raise DatasetError(f"Tux Paint stamps not found at {str(base)!r}: install them with "
                           "`apt-get install tuxpaint-stamps-default` (GPL-2 data, not shipped with polymodal)")
    stamps = []
    for txt in sorted(base.rglob("*.txt")):
        image = next((txt.with_suffix("." + ext) for ext in formats if txt.with_suffix("." + ext).is_file()), None)
        if image is None:
            continue
        caption = _read_caption(txt)
        if not caption:
            continue
        sound = txt.with_suffix(".ogg")
        stamps.append(TuxPaintStamp(name=txt.relative_to(base).with_suffix("").as_posix(),
                                    image_path=str(image), caption=caption,
                                    sound_path=str(sound) if sound.is_file() else None))
    return stamps


def load_tuxpaint_stamps(root: str | os.PathLike = TUXPAINT_STAMPS, image_size: int = 64, seed: int = 0,
                         fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> CaptionedImages:
    """Tux Paint's captioned stamps (Debian ``tuxpaint-stamps-default``) as a captioning dataset.

    PNG stamps are composited on white, padded to a square and resized to
    ``image_size``; each has one English reference caption. The train/val/test
    split is a fixed permutation of the stamps sorted by name, drawn with ``seed``.

    Parameters
    ----------
    root : path
        The stamps folder (default the Debian install location).
    image_size : int
        Output side S: images are (N, S, S, 3) uint8.
    seed : int
        Seed of the split permutation.
    fractions : (train, val, test)
        Split sizes; they must sum to 1.
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-9 or min(fractions) < 0:
        raise DatasetError(f"fractions must be three non-negative numbers summing to 1, got {fractions!r}")
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 1:
        raise DatasetError(f"image_size must be an int >= 1 (pixels per side), got {image_size!r}")
    stamps = find_tuxpaint_stamps(root)
    if not stamps:
        raise DatasetError(f"no captioned PNG stamps found under {os.fspath(root)!r}")
    n = len(stamps)
    images = np.stack([read_image(s.image_path, image_size) for s in stamps])
    perm = np.random.default_rng(seed).permutation(n)
    n_train = int(round(fractions[0] * n))
    n_val = int(round(fractions[1] * n))
    split = np.empty(n, dtype=object)
    split[perm[:n_train]] = "train"
    split[perm[n_train:n_train + n_val]] = "val"
    split[perm[n_train + n_val:]] = "test"
    return CaptionedImages(ids=[s.name for s in stamps], images=images, captions=[[s.caption] for s in stamps],
                           split=split.astype(str), extra={"stamps": stamps})


# ----------------------------------------------------------------------------- caption files

def _checked_captions(out: dict[str, Any], path: str, many: bool) -> dict[str, Any]:
    """Every value a caption (str), or with ``many`` a non-empty list of them; else a DatasetError naming the id."""
    for key, value in out.items():
        captions = value if many and isinstance(value, list) else [value] if not many else None
        if not captions or not all(isinstance(c, str) for c in captions):
            want = "a non-empty list of caption strings" if many else "one caption string"
            raise DatasetError(f"{path}: id {key!r} must map to {want}, got {value!r:.80}")
    return out


def load_captions_json(path: str, many: bool) -> dict[Hashable, Any]:
    """Read captions from JSON: ``{id: caption}`` (candidates), ``{id: [captions]}``
    (references), or COCO style ``[{"image_id", "caption"}, ...]`` / ``{"annotations": [...]}``.
    Ids are returned as strings so the two files' ids compare equal."""
    data = read_json(path, "caption file")
    if isinstance(data, dict) and "annotations" in data:
        data = data["annotations"]
    if isinstance(data, list):
        out: dict[Hashable, Any] = {}
        for i, item in enumerate(data):
            if not isinstance(item, dict) or "image_id" not in item or "caption" not in item:
                raise DatasetError(f"{path}: item {i} must be an object with 'image_id' and 'caption', got {item!r}")
            key = str(item["image_id"])
            if many:
                out.setdefault(key, []).append(item["caption"])
            elif key in out:
                raise DatasetError(f"{path}: image_id {key} has more than one candidate caption")
            else:
                out[key] = item["caption"]
        return _checked_captions(out, path, many)
    if isinstance(data, dict):
        return _checked_captions({str(k): v for k, v in data.items()}, path, many)
    raise DatasetError(f"{path}: expected a JSON object or list of captions, got {type(data).__name__}")
