"""The bottom layer every package may import: the name registry
(:mod:`~polymodal.core.registry`), shared output types
(:mod:`~polymodal.core.outputs`, :mod:`~polymodal.core.pytree`) and declared
part interfaces (:mod:`~polymodal.core.interfaces`), errors
(:mod:`~polymodal.core.errors`, public as :mod:`polymodal.errors`), the
activation table (:mod:`~polymodal.core.activations`), data paths
(:mod:`~polymodal.core.paths`), import paths, lazy exports, the multi-view
adapter, the not-fitted and class-label checks and the list of scikit-learn checks that feed
2-D tables (:mod:`~polymodal.core.contract`). Nothing here imports another polymodal
package; submodules load on first use.
"""

from typing import TYPE_CHECKING

from polymodal.core.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "build": ".registry", "register": ".registry", "registered": ".registry", "registered_names": ".registry",
    "resolve": ".registry", "BUILTIN_PARTS": ".registry", "KINDS": ".registry",
    "ModelOutput": ".outputs", "pytree_output": ".pytree",
    "DecisionLevelFusion": ".interfaces", "LengthsEncoder": ".interfaces", "is_decision_level": ".interfaces",
    "takes_lengths": ".interfaces",
    "is_import_path": ".import_path", "resolve_import_path": ".import_path",
    "ColumnBlocks": ".multiview", "is_view_sequence": ".multiview", "split_columns": ".multiview",
    "NotFittedError": ".fitted", "check_fitted": ".fitted", "class_labels": ".targets",
    "TABLE_INPUT_CHECKS": ".contract", "checked_array": ".contract", "checked_data": ".contract", "expected_failures": ".contract",
})

__all__ = ["ColumnBlocks", "NotFittedError", "TABLE_INPUT_CHECKS", "check_fitted", "checked_array", "checked_data", "class_labels", "expected_failures", "is_view_sequence", "split_columns",
           "BUILTIN_PARTS", "DecisionLevelFusion", "KINDS", "LengthsEncoder", "ModelOutput", "build",
           "is_decision_level", "is_import_path", "lazy_exports", "pytree_output", "register", "registered",
           "registered_names", "resolve", "resolve_import_path", "takes_lengths"]

if TYPE_CHECKING:  # static analysers (type checkers, the API docs) see the eager imports
    from polymodal.core.registry import build, register, registered, registered_names, resolve, BUILTIN_PARTS, KINDS
    from polymodal.core.outputs import ModelOutput
    from polymodal.core.pytree import pytree_output
    from polymodal.core.interfaces import DecisionLevelFusion, LengthsEncoder, is_decision_level, takes_lengths
    from polymodal.core.import_path import is_import_path, resolve_import_path
    from polymodal.core.multiview import ColumnBlocks, is_view_sequence, split_columns
    from polymodal.core.fitted import NotFittedError, check_fitted
    from polymodal.core.contract import TABLE_INPUT_CHECKS, checked_array, checked_data, expected_failures
    from polymodal.core.targets import class_labels
