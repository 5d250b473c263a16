"""Feature standardisation fitted on training data only, per modality or on one array, as a
scikit-learn transformer (the arithmetic is :mod:`polymodal.data.preprocessing`'s, which the
training engine uses without importing scikit-learn)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
from scipy.sparse import issparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from polymodal.core.contract import checked_data
from polymodal.data.dataset import MultimodalDataset
from polymodal.data.preprocessing import array_statistics, modality_statistics, standardize_modalities
from polymodal.errors import ConfigError, ShapeError

__all__ = ["Standardizer"]

class Standardizer(TransformerMixin, BaseEstimator):
    """z-score features with the statistics of a fit set,
    :math:`x \\mapsto (x - \\mu) / \\sigma` (mean and population standard deviation
    over the fit samples; a constant feature gets :math:`\\sigma = 1`, so it becomes 0).

    A scikit-learn transformer (no hyperparameters) on one of two input forms:

    - **per modality** (how polymodal's data pipeline uses it): a
      :class:`~polymodal.data.MultimodalDataset` or a mapping
      ``{modality: (n, ...) array}``. Every modality held as one array
      (vectors, images: statistics per element of the sample shape) is
      standardised; variable-length sequence modalities (lists of arrays) pass
      through. A dataset's samples marked missing (``present`` False) hold
      placeholders and are left out of the statistics. ``transform`` returns the same container with the standardised
      modalities as float32 (the dtype of model inputs); modalities without
      statistics pass through.
    - **one array** ``(n, d)``: as :class:`sklearn.preprocessing.StandardScaler`
      (float32 input stays float32).

    The form is fixed at ``fit``; transforming the other form raises
    :class:`~polymodal.errors.ShapeError`. Bad input is refused naming the
    modality: at ``transform``, a fitted modality missing or an array modality
    never fitted (:class:`~polymodal.errors.ModalityError`); NaN/inf (except in
    samples marked missing), strings, complex values, a sample shape other than
    at ``fit`` (:class:`~polymodal.errors.ShapeError`); ``fit({})``
    (:class:`~polymodal.errors.ModalityError`). The one-array form raises
    scikit-learn's refusals as :class:`~polymodal.errors.ShapeError`.

    Attributes
    ----------
    mean_, scale_ : dict or array
        Per modality, ``{modality: array of the sample shape}``; for one array, (d,) arrays.
    n_features_in_ : int
        One-array form only.

    Examples
    --------
    >>> st = Standardizer().fit({"a": np.array([[0.0, 1.0], [2.0, 1.0]])})
    >>> st.mean_["a"].tolist(), st.scale_["a"].tolist()
    ([1.0, 1.0], [1.0, 1.0])
    >>> st.transform({"a": np.array([[3.0, 5.0]])})["a"].tolist()
    [[2.0, 4.0]]
    >>> Standardizer().fit_transform(np.array([[1.0], [3.0]])).ravel().tolist()
    [-1.0, 1.0]
    """

    _expected_failed_checks: ClassVar[dict[str, str]] = {}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    @classmethod
    def from_statistics(cls, mean, scale) -> "Standardizer":
        """A fitted Standardizer with the given statistics (dicts per modality, as
        stored in checkpoints, or (d,) arrays); every scale must be > 0."""
        per_modality = isinstance(mean, Mapping)
        if per_modality != isinstance(scale, Mapping) or (per_modality and set(mean) != set(scale)):
            raise ConfigError("mean and scale must both be {modality: array} with the same modalities, "
                              "or both arrays")
        pairs = mean.keys() if per_modality else [None]
        out_mean, out_scale = {}, {}
        for m in pairs:
            mu = np.asarray(mean[m] if per_modality else mean, dtype=np.float64)
            sd = np.asarray(scale[m] if per_modality else scale, dtype=np.float64)
            what = f"modality {m!r}" if per_modality else "the statistics"
            if mu.shape != sd.shape:
                raise ShapeError(f"{what}: mean has shape {mu.shape}, scale {sd.shape}")
            if not (np.isfinite(mu).all() and np.isfinite(sd).all() and (sd > 0).all()):
                raise ConfigError(f"{what}: mean must be finite and scale finite and > 0")
            out_mean[m], out_scale[m] = mu, sd
        est = cls()
        if per_modality:
            est.mean_, est.scale_ = out_mean, out_scale
        else:
            est.mean_, est.scale_ = out_mean[None], out_scale[None]
            est.n_features_in_ = int(est.mean_.shape[-1]) if est.mean_.ndim else 1
        return est

    @staticmethod
    def _modalities(X) -> Mapping | None:
        if isinstance(X, MultimodalDataset):
            return X.modalities
        if isinstance(X, Mapping) and not issparse(X):  # a scipy dok matrix is a dict: one (sparse) array
            return X
        return None

    def fit(self, X, y=None) -> "Standardizer":
        """Statistics of ``X``: a MultimodalDataset / ``{modality: array}``, or an (n, d) array."""
        mods = self._modalities(X)
        if mods is None:
            X = checked_data(self, X, dtype=np.float64)
            self.mean_, self.scale_ = array_statistics("X", X)
            return self
        self.mean_, self.scale_ = modality_statistics(X)
        return self

    def _apply(self, X, inverse: bool, what: str):
        check_is_fitted(self, "mean_")
        mods = self._modalities(X)
        per_modality = isinstance(self.mean_, dict)
        if (mods is not None) != per_modality:
            fitted = "per modality (a MultimodalDataset or mapping)" if per_modality else "on one array"
            raise ShapeError(f"Standardizer.{what}: fitted {fitted}, got {type(X).__name__}")
        if mods is not None:
            return standardize_modalities(X, self.mean_, self.scale_, inverse=inverse)
        X = checked_data(self, X, dtype=[np.float64, np.float32], reset=False)
        x = X.astype(np.float64)
        out = x * self.scale_ + self.mean_ if inverse else (x - self.mean_) / self.scale_
        return out.astype(X.dtype, copy=False)

    def transform(self, X):
        """``(X - mean_) / scale_``, in the form ``X`` was fitted on."""
        return self._apply(X, False, "transform")

    def inverse_transform(self, X):
        """``X * scale_ + mean_``: undo :meth:`transform`."""
        return self._apply(X, True, "inverse_transform")
