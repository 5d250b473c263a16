"""ColumnBlocks: multi-view estimators inside scikit-learn's model selection.

References: a hand-written fold loop over the views (cross_val_score must equal
it exactly) and GridSearchCV's choice (must be the arg-max of those hand-computed
held-out scores).
"""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from polymodal.core.multiview import ColumnBlocks, is_view_sequence, split_columns
from polymodal.data import load_mfeat
from polymodal.errors import ShapeError
from polymodal.representation import CCA, GCCA, KCCA, MCCA

VIEWS = ("fou", "kar", "zer")


@pytest.fixture(scope="module")
def mfeat():
    ds = load_mfeat(VIEWS)
    idx = np.random.default_rng(0).choice(len(ds.target), size=240, replace=False)
    return [np.asarray(ds.modalities[v])[idx] for v in VIEWS]


def _hand_scores(est, views, cv):
    X = np.hstack(views)
    out = []
    for tr, te in cv.split(X):
        m = clone(est).fit([v[tr] for v in views])
        out.append(m.score([v[te] for v in views]))
    return np.array(out)


CASES = [
    (CCA(n_components=3), 2, "reg", [1e-3, 0.3, 0.95]),
    (MCCA(n_components=3), 3, "reg", [1e-3, 0.3, 0.95]),
    (GCCA(n_components=3), 3, "reg", [1e-3, 0.3, 0.95]),
    (KCCA(n_components=2, gamma=1e-3), 2, "reg", [1e-3, 0.1, 0.9]),
]


@pytest.mark.parametrize("est, m, param, grid", CASES, ids=lambda c: type(c).__name__ if hasattr(c, "fit") else None)
def test_grid_search_and_cross_val_on_mfeat(mfeat, est, m, param, grid):
    views = mfeat[:m]
    X = np.hstack(views)
    cv = KFold(3, shuffle=True, random_state=0)
    model = ColumnBlocks(est, blocks=[v.shape[1] for v in views])
    np.testing.assert_allclose(cross_val_score(model, X, cv=cv), _hand_scores(est, views, cv), rtol=1e-12)
    gs = GridSearchCV(model, {f"estimator__{param}": grid}, cv=cv).fit(X)
    hand = [_hand_scores(clone(est).set_params(**{param: g}), views, cv).mean() for g in grid]
    assert gs.best_params_[f"estimator__{param}"] == grid[int(np.argmax(hand))]
    np.testing.assert_allclose(gs.best_score_, max(hand), rtol=1e-12)
    assert len(set(np.round(hand, 6))) == len(grid)  # the grid is not a tie


def test_transform_equals_views_and_pipeline(mfeat):
    views = mfeat[:3]
    X = np.hstack(views)
    widths = [v.shape[1] for v in views]
    m = MCCA(n_components=2).fit(views)
    Z = ColumnBlocks(MCCA(n_components=2), blocks=widths).fit(X).transform(X)
    np.testing.assert_allclose(Z, np.hstack(m.transform(views)), rtol=1e-12)
    pipe = make_pipeline(StandardScaler(), ColumnBlocks(MCCA(n_components=2), blocks=widths)).fit(X)
    # MCCA standardises each column itself: a scaler in front changes nothing
    np.testing.assert_allclose(np.abs(pipe.transform(X)), np.abs(Z), atol=1e-8)


def test_cca_two_view_forms_agree(mfeat):
    X, Y = mfeat[:2]
    a = CCA(n_components=2).fit(X, Y)
    b = CCA(n_components=2).fit([X, Y])
    np.testing.assert_array_equal(a.x_weights_, b.x_weights_)
    Xc, Yc = a.transform(X, Y)
    r = [np.corrcoef(Xc[:, k], Yc[:, k])[0, 1] for k in range(2)]
    assert a.score(X, Y) == pytest.approx(sum(r), rel=1e-12)
    assert b.score([X, Y]) == pytest.approx(a.canonical_correlations_.sum(), rel=1e-10)


def test_split_columns_forms_and_errors():
    X = np.arange(12.0).reshape(2, 6)
    a, b = split_columns(X, [2, 4])
    np.testing.assert_array_equal(b, X[:, 2:])
    c, d = split_columns(X, [(0, 3), (1, 6)])
    np.testing.assert_array_equal(d, X[:, 1:])
    assert [v.shape[1] for v in split_columns(X, 3)] == [2, 2, 2]
    with pytest.raises(ShapeError, match="sum to the 6 columns"):
        split_columns(X, [2, 3])
    assert is_view_sequence([X, X]) and not is_view_sequence(X) and not is_view_sequence([[1.0, 2.0]])


def test_bridge_with_absent_views_runs_through_pipeline():
    """A bridge's absent view is a whole NaN row of its block: ColumnBlocks passes NaN to the
    estimators whose tags allow it (the result equals the bridge fitted on the views directly),
    and still refuses NaN for the others, inf for all, and partial NaN rows of a bridge's block."""
    from polymodal.colearning import CorrNet, PivotBridge, pivot_views

    rng = np.random.default_rng(0)
    Z = rng.normal(size=(40, 2))
    views = pivot_views(Z[:20] @ rng.normal(size=(2, 3)), Z[:20] @ rng.normal(size=(2, 2)),
                        Z[20:] @ rng.normal(size=(2, 4)), Z[20:] @ rng.normal(size=(2, 2)))
    X = np.hstack(views)
    pipe = make_pipeline(StandardScaler(), ColumnBlocks(PivotBridge(alpha=1e-2), blocks=[3, 2, 4]))
    out = pipe.fit(X).transform(X)
    direct = PivotBridge(alpha=1e-2).fit(np.hsplit(StandardScaler().fit_transform(X), [3, 5]))
    np.testing.assert_allclose(out, np.hstack(direct.transform(np.hsplit(StandardScaler().fit_transform(X), [3, 5]))),
                               rtol=1e-12, atol=1e-12)
    assert np.isnan(out[:20, 4:]).all() and np.isfinite(out[:20, :4]).all()  # absent B rows stay absent
    search = GridSearchCV(ColumnBlocks(PivotBridge(), blocks=[3, 2, 4]), {"estimator__alpha": [1e-3, 1e-1]},
                          scoring=lambda est, X, y=None: -float(np.nansum(est.transform(X) ** 2)),
                          cv=KFold(2, shuffle=True, random_state=0))
    assert search.fit(X).best_params_["estimator__alpha"] in (1e-3, 1e-1)
    partial = X.copy()
    partial[0, 1] = np.nan  # one feature of a present view
    with pytest.raises(ShapeError, match=r"views\[0\] row 0 has NaN in some features only"):
        ColumnBlocks(PivotBridge(), blocks=[3, 2, 4]).fit(partial)
    with pytest.raises(ShapeError, match="NaN"):
        ColumnBlocks(CorrNet(max_epochs=1), blocks=[5, 4]).fit(X)
    inf = np.where(np.isnan(X), np.inf, X)
    with pytest.raises(ShapeError, match="infinity"):
        ColumnBlocks(PivotBridge(), blocks=[3, 2, 4]).fit(inf)
