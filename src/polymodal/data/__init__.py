"""Data model: modality specs, datasets, batches, splits, loaders, the catalog."""

from typing import TYPE_CHECKING

from polymodal.core.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "MultimodalDataModule": ".datamodule",
    "MultimodalSplits": ".multimodal_splits",
    "av_digits_variants": ".av_digits",
    "load_av_digits": ".av_digits",
    "download_fsdd": ".fsdd",
    "fsdd_files": ".fsdd",
    "fsdd_labels": ".fsdd",
    "load_fsdd": ".fsdd",
    "mix_at_snr": ".av_digits",
    "RecordingChannel": ".channel",
    "apply_channel": ".channel",
    "codec_roundtrip": ".channel",
    "AFFECTIVE_DATASETS": ".affective",
    "AVMNISTSplits": ".avmnist",
    "AffectiveSplits": ".affective",
    "load_affective": ".affective",
    "load_avmnist": ".avmnist",
    "make_interaction_sequences": ".sequences_synthetic",
    "MoseiSynthetic": ".mosei_synthetic",
    "make_shape_fragments": ".shape_fragments",
    "ShapeFragments": ".shape_fragments",
    "read_affective_pickle": ".affective",
    "read_avmnist": ".avmnist",
    "safe_pickle": None,
    "Batch": ".batch",
    "DatasetInfo": ".catalog",
    "IndexBatchLoader": ".loader",
    "MFEAT_VIEWS": ".mfeat",
    "MODALITY_KINDS": ".spec",
    "ModalitySpec": ".spec",
    "MultimodalDataset": ".dataset",
    "Split": ".splits",
    "Standardizer": ".transforms",
    "TASKS": ".dataset",
    "collate": ".collate",
    "list_datasets": ".catalog",
    "load_dataset": ".catalog",
    "load_mfeat": ".mfeat",
    "make_loader": ".loader",
    "pad_sequences": ".collate",
    "register_dataset": ".catalog",
    "stratified_split": ".splits",
    "CaptionedImages": ".captions",
    "KarpathyCaptions": ".captions",
    "SPECIAL_TOKENS": ".vocab",
    "Vocabulary": ".vocab",
    "find_tuxpaint_stamps": ".captions",
    "load_captions_json": ".captions",
    "load_karpathy_captions": ".captions",
    "load_tuxpaint_stamps": ".captions",
})

__all__ = [
    "download_fsdd", "fsdd_files", "fsdd_labels", "load_fsdd",
    "av_digits_variants", "load_av_digits", "mix_at_snr", "RecordingChannel", "apply_channel", "codec_roundtrip",
    "AFFECTIVE_DATASETS", "AVMNISTSplits", "AffectiveSplits",
    "load_affective", "load_avmnist", "make_interaction_sequences", "MoseiSynthetic", "make_shape_fragments",
    "ShapeFragments", "read_affective_pickle", "read_avmnist", "safe_pickle", "Batch", "DatasetInfo",
    "IndexBatchLoader", "MFEAT_VIEWS", "MODALITY_KINDS", "ModalitySpec", "MultimodalDataModule", "MultimodalSplits",
    "MultimodalDataset", "Split", "Standardizer", "TASKS", "collate", "list_datasets", "load_dataset", "load_mfeat",
    "make_loader", "pad_sequences", "register_dataset", "stratified_split", "CaptionedImages", "KarpathyCaptions",
    "SPECIAL_TOKENS", "Vocabulary", "find_tuxpaint_stamps", "load_captions_json", "load_karpathy_captions",
    "load_tuxpaint_stamps",
]

if TYPE_CHECKING:  # static analysers (type checkers, the API docs) see the eager imports
    from polymodal.data.datamodule import MultimodalDataModule
    from polymodal.data.multimodal_splits import MultimodalSplits
    from polymodal.data.av_digits import av_digits_variants, load_av_digits, mix_at_snr
    from polymodal.data.fsdd import download_fsdd, fsdd_files, fsdd_labels, load_fsdd
    from polymodal.data.channel import RecordingChannel, apply_channel, codec_roundtrip
    from polymodal.data.affective import AFFECTIVE_DATASETS, AffectiveSplits, load_affective, read_affective_pickle
    from polymodal.data.avmnist import AVMNISTSplits, load_avmnist, read_avmnist
    from polymodal.data.sequences_synthetic import make_interaction_sequences
    from polymodal.data.mosei_synthetic import MoseiSynthetic
    from polymodal.data.shape_fragments import make_shape_fragments, ShapeFragments
    from polymodal.data import safe_pickle
    from polymodal.data.batch import Batch
    from polymodal.data.catalog import DatasetInfo, list_datasets, load_dataset, register_dataset
    from polymodal.data.loader import IndexBatchLoader, make_loader
    from polymodal.data.mfeat import MFEAT_VIEWS, load_mfeat
    from polymodal.data.spec import MODALITY_KINDS, ModalitySpec
    from polymodal.data.dataset import MultimodalDataset, TASKS
    from polymodal.data.splits import Split, stratified_split
    from polymodal.data.transforms import Standardizer
    from polymodal.data.collate import collate, pad_sequences
    from polymodal.data.captions import (
        CaptionedImages, KarpathyCaptions, find_tuxpaint_stamps, load_captions_json, load_karpathy_captions,
        load_tuxpaint_stamps,
    )
    from polymodal.data.vocab import SPECIAL_TOKENS, Vocabulary
