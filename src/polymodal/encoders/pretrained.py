"""Pretrained encoders from Hugging Face ``transformers`` (``pip install 'polymodal[pretrained]'``).

=================  =====================================  ==========================  =====================
registry name      models                                 input per sample            output
=================  =====================================  ==========================  =====================
``hf_text``        BERT-style (BERT, RoBERTa, DistilBERT)  token ids ``(T,)``          ``(d,)`` or ``(T, d)``
``hf_vision``      ViT, CLIP vision tower                  pixels ``(3, H, W)``        ``(d,)`` or ``(P, d)``
``hf_audio``       wav2vec 2.0, HuBERT                     waveform ``(S,)`` (16 kHz)  ``(d,)`` or ``(F, d)``
``clip_text``      CLIP text tower + projection            token ids ``(T,)``          ``(e,)`` joint space
``clip_vision``    CLIP vision tower + projection          pixels ``(3, H, W)``        ``(e,)`` joint space
=================  =====================================  ==========================  =====================

Each loads by hub name (``"bert-base-uncased"``, needs the network or the
local cache) or by a local folder written with ``save_pretrained``, at an
optional ``revision``; ``freeze=True`` (default) keeps the weights fixed and
the model in eval mode (no dropout), ``freeze=False`` fine-tunes it. Each has
its own preprocessor, :meth:`~HFEncoder.preprocess` (the model's tokenizer,
image processor or feature extractor), to turn raw texts, images or
waveforms into the arrays a dataset stores, and a
:meth:`~HFEncoder.fingerprint` (name, revision, weights and preprocessing
hash) that the feature cache (:mod:`polymodal.data.feature_cache`) keys on.

:class:`CLIPDualEncoder` is CLIP's coordinated representation (Radford et al.,
"Learning Transferable Visual Models From Natural Language Supervision",
ICML 2021): ``s_ij = exp(t) * <f(image_i), g(text_j)>`` with L2-normalised
projections, trained by the symmetric InfoNCE loss.

transformers is imported only when an encoder is built, so ``import polymodal``
does not need it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from polymodal.errors import ConfigError, ShapeError
from polymodal.core.registry import register

__all__ = ["HFEncoder", "PretrainedTextEncoder", "PretrainedVisionEncoder", "PretrainedAudioEncoder",
           "CLIPTextEncoder", "CLIPVisionEncoder", "CLIPDualEncoder", "load_pretrained", "POOLINGS"]

POOLINGS = ("cls", "mean", "pooler", "tokens")
_INSTALL = "pip install 'polymodal[pretrained]'"


def _transformers():
    try:
        import transformers
    except ImportError:
        raise ConfigError(f"pretrained encoders need Hugging Face transformers: {_INSTALL}") from None
    return transformers


def _offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def load_pretrained(loader: Any, model: str, revision: str | None = None, what: str = "model", **kwargs: Any) -> Any:
    """``loader.from_pretrained(model, revision=...)`` with one clear
    :class:`ConfigError` when ``model`` is neither a local folder nor in the
    local cache (offline, no network, a wrong name)."""
    local = Path(model).expanduser()
    if local.is_dir():
        source, extra = str(local), {}
    elif model.startswith((".", "/", "~")):
        raise ConfigError(f"pretrained folder {model!r} does not exist")
    else:
        source, extra = model, {"revision": revision}
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # no load reports (a CLIP tower's "unexpected" text weights) or bars
    hf_logging.disable_progress_bar()
    try:
        return loader.from_pretrained(source, **extra, **kwargs)
    except (OSError, ValueError) as error:  # hub/network errors are OSError subclasses in huggingface_hub
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        hint = (" (the hub is offline: HF_HUB_OFFLINE is set)" if _offline() else "")
        raise ConfigError(
            f"cannot load pretrained {what} {model!r}{hint}: {first}. On a machine with a network: "
            f"`python -c \"from transformers import AutoModel, AutoTokenizer; "
            f"AutoModel.from_pretrained('{model}').save_pretrained('FOLDER')\"` (and the tokenizer / processor "
            "likewise), then name FOLDER instead, or pre-download with `hf download " + model + "`"
        ) from None
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _hash(*parts: Any) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


class HFEncoder(nn.Module):
    """Base of the pretrained encoders: loading, freezing, pooling, fingerprint.

    Parameters
    ----------
    model : str
        Hub name (``"bert-base-uncased"``) or a folder written by ``save_pretrained``.
    pooling : {"cls", "mean", "pooler", "tokens"}
        ``cls``: the first token's last hidden state; ``mean``: the mean over
        valid positions; ``pooler``: the model's pooler output (BERT's tanh
        layer on [CLS]); ``tokens``: every position ``(N, T, d)`` for sequence fusions.
    freeze : bool
        Keep the pretrained weights fixed (and dropout off); ``False`` fine-tunes them.
    revision : str, optional
        A hub branch, tag or commit; recorded in the fingerprint.
    """

    auto_model = "AutoModel"
    auto_processor = "AutoTokenizer"
    default_pooling = "cls"
    takes_lengths = False

    def __init__(self, model: str, pooling: str | None = None, freeze: bool = True,
                 revision: str | None = None) -> None:
        super().__init__()
        pooling = pooling or self.default_pooling
        if pooling not in POOLINGS:
            raise ConfigError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.name_or_path, self.revision, self.pooling, self.freeze = str(model), revision, pooling, bool(freeze)
        self.backbone = self._load()
        self.out_features = int(self._width())
        if self.freeze:
            self.backbone.requires_grad_(False)
            self.backbone.eval()
        self._processor = None

    # -- loading ------------------------------------------------------------
    def _load(self) -> nn.Module:
        tf = _transformers()
        return load_pretrained(getattr(tf, self.auto_model), self.name_or_path, self.revision)

    def _width(self) -> int:
        return self.backbone.config.hidden_size

    @property
    def processor(self) -> Any:
        """The model's own preprocessor (tokenizer / image processor / feature extractor), loaded on first use."""
        if self._processor is None:
            tf = _transformers()
            self._processor = load_pretrained(getattr(tf, self.auto_processor), self.name_or_path, self.revision,
                                              what="preprocessor")
        return self._processor

    def train(self, mode: bool = True) -> "HFEncoder":
        super().train(mode)
        if self.freeze:
            self.backbone.eval()  # a frozen backbone never uses dropout
        return self

    # -- identity for caches --------------------------------------------------
    def preprocessing_config(self) -> dict[str, Any]:
        """What the preprocessor does (its saved config), for the fingerprint."""
        try:
            proc = self.processor
        except ConfigError:
            return {}
        for method in ("to_dict",):
            if hasattr(proc, method):
                return getattr(proc, method)()
        return {k: v for k, v in getattr(proc, "init_kwargs", {}).items() if isinstance(v, (str, int, float, bool))}

    def fingerprint(self) -> dict[str, Any]:
        """``{name, revision, weights_hash, preprocessing_hash, pooling}``: what decides the features.

        ``weights_hash`` hashes every parameter (so a fine-tuned or re-saved
        model differs even under the same name); ``revision`` is the hub
        commit when the model came from the hub."""
        digest = hashlib.sha256()
        for key, tensor in sorted(self.backbone.state_dict().items()):
            digest.update(key.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        revision = self.revision or getattr(self.backbone.config, "_commit_hash", None)
        return {"encoder": type(self).__name__, "name": self.name_or_path, "revision": revision,
                "pooling": self.pooling, "weights_hash": digest.hexdigest()[:16],
                "preprocessing_hash": _hash(self.preprocessing_config())}

    # -- forward --------------------------------------------------------------
    def _pool(self, out: Any, mask: torch.Tensor | None) -> torch.Tensor:
        hidden = out.last_hidden_state
        if self.pooling == "tokens":
            return hidden
        if self.pooling == "cls":
            return hidden[:, 0]
        if self.pooling == "pooler":
            pooled = getattr(out, "pooler_output", None)
            if pooled is None:
                raise ConfigError(f"{self.name_or_path!r} has no pooler output; use pooling: cls or mean")
            return pooled
        if mask is None:
            return hidden.mean(1)
        mask = mask.to(hidden.dtype).unsqueeze(-1)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)


def _token_ids(x: torch.Tensor, name: str) -> torch.Tensor:
    if x.dim() != 2:
        raise ShapeError(f"{name} expects token ids of shape (N, T), got {tuple(x.shape)}")
    if x.is_floating_point():
        if not torch.equal(x, x.round()) or (x < 0).any():
            raise ShapeError(f"{name} got non-integer token ids (were they standardised? set data.standardize: false)")
        x = x.long()
    return x


@register("encoder", "hf_text")
class PretrainedTextEncoder(HFEncoder):
    """A pretrained BERT-style text encoder (Devlin et al., NAACL 2019) on token ids ``(N, T)``.

    Padding is the tokenizer's pad id; the attention mask is ``ids != pad_token_id``.
    :meth:`preprocess` tokenises a list of strings to ``(N, max_length)`` ids
    (store them in the dataset; set ``data.standardize: false``).
    """

    def __init__(self, model: str, pooling: str | None = None, freeze: bool = True, revision: str | None = None,
                 max_length: int | None = None) -> None:
        super().__init__(model, pooling, freeze, revision)
        limit = int(getattr(self.backbone.config, "max_position_embeddings", 512))
        self.max_length = min(128, limit) if max_length is None else int(max_length)
        if not 1 <= self.max_length <= limit:
            raise ConfigError(f"max_length must lie in [1, {limit}] (the model's positions), got {max_length}")
        self.pad_token_id = int(getattr(self.backbone.config, "pad_token_id", None) or 0)

    def preprocess(self, texts: list[str]) -> np.ndarray:
        """Token ids ``(N, max_length)`` (int64), padded and truncated."""
        batch = self.processor(list(texts), padding="max_length", truncation=True, max_length=self.max_length,
                               return_tensors="np")
        return batch["input_ids"].astype(np.int64)

    def preprocessing_config(self) -> dict[str, Any]:
        proc = self.processor
        return {"class": type(proc).__name__, "vocab_size": len(proc), "max_length": self.max_length,
                "lowercase": getattr(proc, "do_lower_case", None),
                "vocab_hash": _hash(sorted(proc.get_vocab().items()))}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ids = _token_ids(x, "hf_text")
        mask = (ids != self.pad_token_id).long()
        return self._pool(self.backbone(input_ids=ids, attention_mask=mask), mask)


@register("encoder", "hf_vision")
class PretrainedVisionEncoder(HFEncoder):
    """A pretrained vision transformer (ViT, Dosovitskiy et al., ICLR 2021; or CLIP's vision
    tower) on preprocessed pixels ``(N, 3, H, W)``; :meth:`preprocess` runs the model's
    image processor (resize, crop, normalise) on PIL images or ``(H, W, 3)`` arrays.
    A CLIP checkpoint loads its vision tower (``CLIPVisionModel``)."""

    auto_processor = "AutoImageProcessor"

    def _load(self) -> nn.Module:
        tf = _transformers()
        config = load_pretrained(tf.AutoConfig, self.name_or_path, self.revision, what="config")
        if getattr(config, "model_type", "") == "clip":
            return load_pretrained(tf.CLIPVisionModel, self.name_or_path, self.revision)
        return load_pretrained(tf.AutoModel, self.name_or_path, self.revision)

    def preprocess(self, images: list[Any]) -> np.ndarray:
        """Pixel values ``(N, 3, H, W)`` (float32) from the model's image processor."""
        return np.asarray(self.processor(images=list(images), return_tensors="np")["pixel_values"], dtype=np.float32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ShapeError(f"hf_vision expects pixels of shape (N, 3, H, W), got {tuple(x.shape)}")
        return self._pool(self.backbone(pixel_values=x), None)


@register("encoder", "hf_audio")
class PretrainedAudioEncoder(HFEncoder):
    """A pretrained speech encoder (wav2vec 2.0, Baevski et al., NeurIPS 2020; HuBERT, Hsu et
    al., TASLP 2021) on waveforms ``(N, S)`` at the model's rate (16 kHz); frame states are
    mean-pooled (``pooling="mean"``, default) or returned as ``(N, F, d)`` (``"tokens"``).
    :meth:`preprocess` runs the model's feature extractor (zero-mean unit-variance per utterance)."""

    auto_processor = "AutoFeatureExtractor"
    default_pooling = "mean"

    def preprocess(self, waveforms: list[np.ndarray], sampling_rate: int = 16000) -> np.ndarray:
        """Normalised waveforms ``(N, S)`` (float32), padded to the longest."""
        out = self.processor(list(waveforms), sampling_rate=sampling_rate, padding=True, return_tensors="np")
        return np.asarray(out["input_values"], dtype=np.float32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2:
            raise ShapeError(f"hf_audio expects waveforms of shape (N, samples), got {tuple(x.shape)}")
        return self._pool(self.backbone(input_values=x), None)


class _CLIPTower(HFEncoder):
    auto_model = "CLIPModel"
    default_pooling = "pooler"

    def __init__(self, model: str, freeze: bool = True, revision: str | None = None, normalize: bool = True) -> None:
        super().__init__(model, "pooler", freeze, revision)
        self.normalize = bool(normalize)

    def _width(self) -> int:
        return self.backbone.config.projection_dim

    def _project(self, features: Any) -> torch.Tensor:
        if not torch.is_tensor(features):  # transformers 5 returns an output object with pooler_output
            features = features.pooler_output
        return nn.functional.normalize(features, dim=-1) if self.normalize else features


@register("encoder", "clip_text")
class CLIPTextEncoder(_CLIPTower):
    """CLIP's text tower and projection: token ids ``(N, T)`` -> ``(N, e)`` in the joint space
    (L2-normalised unless ``normalize=False``); equals ``CLIPModel.get_text_features``."""

    auto_processor = "AutoTokenizer"

    def preprocess(self, texts: list[str], max_length: int = 77) -> np.ndarray:
        batch = self.processor(list(texts), padding="max_length", truncation=True, max_length=max_length,
                               return_tensors="np")
        return batch["input_ids"].astype(np.int64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ids = _token_ids(x, "clip_text")
        pad = int(getattr(self.backbone.config.text_config, "pad_token_id", None) or 0)
        return self._project(self.backbone.get_text_features(input_ids=ids, attention_mask=(ids != pad).long()))


@register("encoder", "clip_vision")
class CLIPVisionEncoder(_CLIPTower):
    """CLIP's vision tower and projection: pixels ``(N, 3, H, W)`` -> ``(N, e)`` in the joint
    space; equals ``CLIPModel.get_image_features``."""

    auto_processor = "AutoImageProcessor"

    def preprocess(self, images: list[Any]) -> np.ndarray:
        return np.asarray(self.processor(images=list(images), return_tensors="np")["pixel_values"], dtype=np.float32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ShapeError(f"clip_vision expects pixels of shape (N, 3, H, W), got {tuple(x.shape)}")
        return self._project(self.backbone.get_image_features(pixel_values=x))


class CLIPDualEncoder(nn.Module):
    """CLIP's two towers as a coordinated representation for cross-modal retrieval.

    ``forward(pixels, ids)`` returns the ``(N_images, N_texts)`` logits
    ``exp(t) * f_i^T g_j`` of L2-normalised projections (Radford et al., ICML 2021);
    :meth:`loss` is the symmetric cross-entropy over matched pairs (InfoNCE).
    Both towers share one loaded ``CLIPModel``.
    """

    def __init__(self, model: str, freeze: bool = True, revision: str | None = None) -> None:
        super().__init__()
        self.image = CLIPVisionEncoder(model, freeze=freeze, revision=revision)
        self.text = CLIPTextEncoder.__new__(CLIPTextEncoder)
        nn.Module.__init__(self.text)
        self.text.name_or_path, self.text.revision, self.text.pooling = self.image.name_or_path, revision, "pooler"
        self.text.freeze, self.text.normalize, self.text._processor = self.image.freeze, True, None
        self.text.backbone = self.image.backbone  # one CLIPModel, two towers
        self.text.out_features = self.image.out_features
        self.out_features = self.image.out_features

    @property
    def logit_scale(self) -> torch.Tensor:
        return self.image.backbone.logit_scale.exp()

    def forward(self, pixels: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        return self.logit_scale * self.image(pixels) @ self.text(ids).T

    def loss(self, pixels: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Symmetric InfoNCE over ``N`` matched (image_i, text_i) pairs."""
        logits = self(pixels, ids)
        labels = torch.arange(logits.shape[0], device=logits.device)
        return 0.5 * (nn.functional.cross_entropy(logits, labels) + nn.functional.cross_entropy(logits.T, labels))
