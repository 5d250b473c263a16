"""Data model: modality specs, datasets, batches, splits, loaders, the catalog."""

from polymodal.data import mfeat as _mfeat  # noqa: F401  (registers "mfeat")
from polymodal.data import safe_pickle
from polymodal.data.affective import AFFECTIVE_DATASETS, AffectiveSplits, load_affective, read_affective_pickle
from polymodal.data.avmnist import AVMNISTSplits, load_avmnist, read_avmnist
from polymodal.data.av_digits import av_digits_variants, load_av_digits, mix_at_snr
from polymodal.data.sequences_synthetic import make_interaction_sequences
from polymodal.data.mosei_synthetic import MoseiSynthetic
from polymodal.data.shape_fragments import ShapeFragments, make_shape_fragments
from polymodal.data.batch import Batch
from polymodal.data.captions import (
    CaptionedImages,
    KarpathyCaptions,
    find_tuxpaint_stamps,
    load_captions_json,
    load_karpathy_captions,
    load_tuxpaint_stamps,
)
from polymodal.data.catalog import DatasetInfo, list_datasets, load_dataset, register_dataset
from polymodal.data.collate import collate, pad_sequences
from polymodal.data.dataset import TASKS, MultimodalDataset
from polymodal.data.loader import IndexBatchLoader, make_loader
from polymodal.data.mfeat import MFEAT_VIEWS, load_mfeat
from polymodal.data.spec import MODALITY_KINDS, ModalitySpec
from polymodal.data.splits import Split, stratified_split
from polymodal.data.transforms import Standardizer
from polymodal.data.vocab import SPECIAL_TOKENS, Vocabulary

__all__ = [
    "av_digits_variants",
    "load_av_digits",
    "mix_at_snr",
    "AFFECTIVE_DATASETS",
    "AVMNISTSplits",
    "AffectiveSplits",
    "load_affective",
    "load_avmnist",
    "make_interaction_sequences",
    "MoseiSynthetic",
    "make_shape_fragments",
    "ShapeFragments",
    "read_affective_pickle",
    "read_avmnist",
    "safe_pickle",
    "Batch",
    "DatasetInfo",
    "IndexBatchLoader",
    "MFEAT_VIEWS",
    "MODALITY_KINDS",
    "ModalitySpec",
    "MultimodalDataModule",
    "MultimodalDataset",
    "Split",
    "Standardizer",
    "TASKS",
    "collate",
    "list_datasets",
    "load_dataset",
    "load_mfeat",
    "make_loader",
    "pad_sequences",
    "register_dataset",
    "stratified_split",
]
__all__ += ["CaptionedImages", "KarpathyCaptions", "SPECIAL_TOKENS", "Vocabulary", "find_tuxpaint_stamps",
            "load_captions_json", "load_karpathy_captions", "load_tuxpaint_stamps"]


def __getattr__(name: str):
    # MultimodalDataModule imports Lightning (about 2 s); load it on first use only.
    if name == "MultimodalDataModule":
        from polymodal.data.datamodule import MultimodalDataModule

        return MultimodalDataModule
    raise AttributeError(f"module 'polymodal.data' has no attribute {name!r}")
