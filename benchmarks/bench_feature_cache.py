"""Feature cache benchmark: fusion training on cached frozen-encoder features vs
recomputing the frozen encoder every epoch.

A randomly initialised BERT-style transformer (``--layers`` x ``--hidden``,
built from a config and saved locally, so no download) encodes a token
modality (``--n`` sentences of ``--length`` tokens, label = which of two words
appears); a second vector modality is noise. Two runs of ``polymodal.fit``
with the same head, optimiser and epochs:

- *recompute*: ``model.encoders.text = hf_text`` (frozen), the encoder runs on
  every batch of every epoch;
- *cached*: ``polymodal extract`` once, then ``data.name = feature_cache`` and
  ``identity`` encoders.

Reported: training samples per second of each, their ratio, the extraction
time, and the end-to-end ratio (recompute time / (extract + cached time));
test accuracy of both (they train on the same features, so they should agree).

    OMP_NUM_THREADS=1 python benchmarks/bench_feature_cache.py --epochs 5
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _setup(root: Path, args) -> tuple[str, Path]:
    import transformers as tf

    from polymodal.core.registry import build

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(200)]
    torch.manual_seed(0)
    config = tf.BertConfig(vocab_size=len(words), hidden_size=args.hidden, num_hidden_layers=args.layers,
                           num_attention_heads=max(1, args.hidden // 32), intermediate_size=4 * args.hidden,
                           max_position_embeddings=max(64, args.length + 2))
    tf.BertModel(config).save_pretrained(root / "bert")
    tf.BertTokenizer(vocab={w: i for i, w in enumerate(words)}).save_pretrained(root / "bert")
    enc = build("encoder", {"name": "hf_text", "model": str(root / "bert"), "max_length": args.length})
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, args.n)
    texts = []
    for label in y:
        tokens = [f"w{i}" for i in rng.integers(2, 200, args.length - 3)]
        tokens.insert(int(rng.integers(0, len(tokens))), ["w0", "w1"][label])
        texts.append(" ".join(tokens))
    np.savez(root / "d.npz", text=enc.preprocess(texts), noise=rng.normal(size=(args.n, 4)).astype(np.float32),
             target=y)
    return str(root / "bert"), root / "d.npz"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--length", type=int, default=32)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    from polymodal.training import fit
    from polymodal.training.feature_cache import extract_features

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bert, data = _setup(root, args)
        common = {"output_dir": str(root / "runs"), "seed": 0,
                  "optim": {"lr": 1e-3},
                  "trainer": {"max_epochs": args.epochs, "patience": None, "progress": False}}
        text = {"name": "hf_text", "model": bert, "pooling": "mean", "max_length": args.length}
        recompute_cfg = {**common, "name": "recompute",
                         "data": {"name": "npz", "options": {"path": str(data)}, "standardize": False},
                         "model": {"encoder": {"name": "identity"}, "encoders": {"text": text},
                                   "head": {"name": "mlp", "hidden": [64]}}}
        recompute = fit(recompute_cfg)
        extract = extract_features(recompute_cfg, root / "cache", batch_size=256)
        cached = fit({**common, "name": "cached",
                      "data": {"name": "feature_cache", "options": {"path": str(root / "cache")}, "standardize": False},
                      "model": {"encoder": {"name": "identity"}, "head": {"name": "mlp", "hidden": [64]}}})
        n_train = len(recompute.datamodule.train_set)
        out = {
            "n_train": n_train, "epochs": args.epochs, "layers": args.layers, "hidden": args.hidden,
            "length": args.length, "torch_threads": torch.get_num_threads(),
            "recompute_samples_per_s": n_train * args.epochs / recompute.train_seconds,
            "cached_samples_per_s": n_train * args.epochs / cached.train_seconds,
            "extract_seconds": extract.seconds,
            "recompute_seconds": recompute.train_seconds, "cached_seconds": cached.train_seconds,
            "recompute_test_accuracy": recompute.test_metrics["accuracy"],
            "cached_test_accuracy": cached.test_metrics["accuracy"],
        }
        out["throughput_ratio"] = out["cached_samples_per_s"] / out["recompute_samples_per_s"]
        out["end_to_end_ratio"] = recompute.train_seconds / (extract.seconds + cached.train_seconds)
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
