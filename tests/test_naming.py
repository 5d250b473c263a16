"""One naming rule for result types, checked over the whole library.

The rule (docs/multiview.md, "Names of result types"):

- ``*Result``: what a function, ``fit`` or ``evaluate`` returns;
- ``*Output``: what a torch module's ``forward`` returns;
- ``*Scores``: a bundle of metric values;
- ``*Report``: a report object (a Markdown table, files and figures).

The test walks every module of polymodal, collects the public dataclasses and
NamedTuples, and reads the return annotations of every public function and
method to see which of them a ``forward`` returns and which a function returns.
Nobody adds a type to a list: a new one is checked on the next run. It also
checks that no two public class names differ only by a trailing "s" (the old
``FragmentEmbedding`` module beside its ``FragmentEmbeddings`` output).
"""

from __future__ import annotations

import dataclasses
import inspect
import re

import pytest
from torch import nn

from package_walk import imported_modules

SUFFIXES = ("Result", "Output", "Scores", "Report")
# Endings that name what training/inference returned some other way (the names this rule replaced:
# TrainingFit, GeneratorFit, FragmentEmbeddings); a result type takes one of SUFFIXES instead.
BANNED_ENDINGS = ("Fit", "Results", "Outputs", "Reports", "Embeddings")

# Types a forward returns that are not results, with the reason (keep short: each is a decision).
NOT_OUTPUTS: dict[str, str] = {
    "PaddedSequence": "a padded batch handed between modules (like torch's PackedSequence), not a result",
}


# Records a public function or method returns that are not results: data (datasets, splits,
# batches, features), configuration, parts, inputs to build. Each is a decision with its reason;
# any other returned dataclass/NamedTuple takes one of SUFFIXES.
_DATA = "data a loader/builder returns (a dataset, split or sample), not a computed result"
NOT_RESULTS: dict[str, str] = {
    **dict.fromkeys(["AVMNISTSplits", "AffectiveSplits", "CaptionedImages", "KarpathyCaptions", "KarpathyImage",
                     "ShapeFragments", "Split", "TuxPaintStamp", "VQAShapes", "MILBags", "AlignmentProblem",
                     "PreparedSpeech", "SpeechSegment", "DatasetInfo", "Batch"], _DATA),
    "CCAStats": "sufficient statistics to merge and solve from (an accumulator, like a dataset)",
    "Corpus": "an encoded corpus, the input of the n-gram counts",
    "NGramCounts": "the counts a metric is computed from (its input, not its value)",
    "RefIndex": "an index of the references, the input of the consensus metrics",
    "SIFTFeatures": "features of images (the input of a codebook), like a dataset",
    "WordVectors": "a word-vector table (data the text encoders look up)",
    "StepPattern": "a DTW step pattern (configuration looked up by name)",
    "Task": "a training task (a part: loss + metrics)",
    "LeaderboardRow": "one row of a leaderboard table (its rows are the report's data)",
    "BenchmarkRecords": "the raw per-run records a benchmark report is rendered from",
    "DemoRun": "the demo's trained parts and data, handed to the report",
}


def _is_record(cls) -> bool:
    return dataclasses.is_dataclass(cls) or (issubclass(cls, tuple) and hasattr(cls, "_fields"))


def _names(annotation) -> set[str]:
    """Identifiers in a return annotation (a string under ``from __future__ import annotations``)."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", repr(annotation))
    return set(re.findall(r"[A-Za-z_]\w*", text))


@pytest.fixture(scope="module")
def library():
    """Public classes by name, the record types among them, and who returns each name:
    ``forward`` (torch modules' forward) and ``other`` (public functions and other methods)."""
    classes, forward, other = {}, {}, {}
    for mod in imported_modules():
        for name, obj in vars(mod).items():
            if name.startswith("_"):
                continue
            if inspect.isclass(obj) and obj.__module__.startswith("polymodal"):
                classes.setdefault(obj.__name__, obj)
                if obj.__module__ != mod.__name__:
                    continue  # a re-export: its methods are read where it is defined
                for meth_name, meth in vars(obj).items():
                    if not inspect.isfunction(meth) or "return" not in meth.__annotations__:
                        continue
                    is_forward = meth_name == "forward" and issubclass(obj, nn.Module)
                    if meth_name.startswith("_") and not is_forward:
                        continue
                    where = f"{obj.__module__}.{obj.__qualname__}.{meth_name}"
                    for ident in _names(meth.__annotations__["return"]):
                        (forward if is_forward else other).setdefault(ident, []).append(where)
            elif inspect.isfunction(obj) and obj.__module__ == mod.__name__ and "return" in obj.__annotations__:
                for ident in _names(obj.__annotations__["return"]):
                    other.setdefault(ident, []).append(f"{mod.__name__}.{name}")
    records = {n: c for n, c in classes.items() if _is_record(c)}
    return classes, records, forward, other


def test_the_walk_sees_the_known_result_types(library):
    classes, records, forward, other = library
    for name in ("DTWResult", "ModelOutput", "CaptionScores", "VQAReport", "TrainingResult", "FragmentOutput"):
        assert name in records, name
    assert "polymodal.alignment.fragments.FragmentEmbedding.forward" in forward["FragmentOutput"]
    assert "polymodal.training.estimator_loop.train_network" in other["TrainingResult"]


def test_no_result_type_has_another_ending(library):
    _, records, _, _ = library
    bad = sorted(n for n in records if n.endswith(BANNED_ENDINGS))
    assert not bad, f"result types end in one of {SUFFIXES}, not {BANNED_ENDINGS}: {bad}"


def test_what_a_forward_returns_is_an_output(library):
    _, records, forward, _ = library
    bad = {n: forward[n] for n in records if n in forward and not n.endswith("Output") and n not in NOT_OUTPUTS}
    assert not bad, f"a dataclass/NamedTuple a forward returns is named *Output: {bad}"
    assert set(NOT_OUTPUTS) <= set(forward), "a NOT_OUTPUTS entry is no longer returned by a forward"


def test_outputs_come_from_forward_and_results_from_functions(library):
    _, records, forward, other = library
    stray = sorted(n for n in records if n.endswith("Output") and n not in forward)
    assert not stray, f"*Output types no forward returns (name them *Result): {stray}"
    misplaced = {n: forward[n] for n in records if n.endswith(("Result", "Scores", "Report")) and n in forward}
    assert not misplaced, f"types a forward returns are named *Output: {misplaced}"
    unreturned = sorted(n for n in records if n.endswith(("Result", "Scores", "Report")) and n not in other)
    assert not unreturned, f"no public function or method is annotated to return these: {unreturned}"


def test_what_a_function_returns_is_named_as_a_result(library):
    """A record a public function or method returns is a *Result/*Scores/*Report (or a forward's
    *Output), unless NOT_RESULTS says why it is data (e.g. the old FragmentAlignment,
    BidirectionalRetrieval and HMMPosterior, now *Result)."""
    _, records, forward, other = library
    bad = {n: other[n][:2] for n in records
           if n in other and n not in forward and not n.endswith(SUFFIXES) and n not in NOT_RESULTS}
    assert not bad, f"records returned by public functions are named *Result/*Scores/*Report: {bad}"
    stale = sorted(n for n in NOT_RESULTS if n not in records or n not in other)
    assert not stale, f"NOT_RESULTS entries no longer returned by a public function: {stale}"
    for old in ("FragmentAlignment", "BidirectionalRetrieval", "HMMPosterior"):
        assert old not in records and old + "Result" in records, old


def test_scores_are_metric_values_and_reports_render(library):
    _, records, _, _ = library
    for name, cls in records.items():
        if name.endswith("Scores"):
            numeric = [f.name for f in dataclasses.fields(cls) if "float" in str(f.type)]
            assert len(numeric) >= 2, f"{name}: a *Scores bundles metric values (float fields); got {numeric}"
        if name.endswith("Report"):
            assert hasattr(cls, "table") or "path" in {f.name for f in dataclasses.fields(cls)}, \
                f"{name}: a *Report renders (a table() method) or points at its written files (path)"


def test_no_public_class_names_differ_only_by_a_trailing_s(library):
    classes = library[0]
    pairs = sorted((n, n + "s") for n in classes if n + "s" in classes)
    assert not pairs, f"public class names that differ only by a trailing 's': {pairs}"


# Hyperparameter names of the scikit-learn-shaped estimators (docs/multiview.md, "Names of
# hyperparameters"): scikit-learn's names, one spelling each.
ESTIMATOR_NAMES = {"seed": "random_state", "epochs": "max_epochs", "n_epochs": "max_epochs",
                   "patience": "n_iter_no_change", "learning_rate": "lr"}


def test_estimators_spell_their_hyperparameters_one_way(library):
    from sklearn.base import BaseEstimator

    classes = library[0]
    wrong = sorted(
        f"{cls.__module__}.{name}({param}=...): use {ESTIMATOR_NAMES[param]}"
        for name, cls in classes.items()
        if inspect.isclass(cls) and issubclass(cls, BaseEstimator)
        for param in inspect.signature(cls.__init__).parameters
        if param in ESTIMATOR_NAMES
    )
    assert not wrong, "estimator hyperparameters spelled another way:\n" + "\n".join(wrong)
