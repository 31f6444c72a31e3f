import warnings

import numpy as np
import pytest

import nadaraya as nw

sklearn = pytest.importorskip("sklearn")
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from nadaraya.estimator import NadarayaWatsonClassifier, NadarayaWatsonRegressor  # noqa: E402


# A repeated row is a second observation that leave-one-out does not leave out with its twin, so the
# bandwidth chosen by "loo" for repeated rows differs from the one for integer weights; with a given
# bandwidth, weights and repeated rows agree exactly (test_sample_weight_equals_repeating_rows).
LOO_WEIGHTS = {"check_sample_weight_equivalence_on_dense_data": "leave-one-out treats repeated rows as distinct observations"}


def _expected_failures(estimator):
    return LOO_WEIGHTS if estimator.bandwidth == "loo" else {}


@parametrize_with_checks(
    [NadarayaWatsonRegressor(), NadarayaWatsonRegressor(order=1, bandwidth=0.5), NadarayaWatsonClassifier(),
     NadarayaWatsonClassifier(bandwidth=0.5)],
    expected_failed_checks=_expected_failures,
)
def test_scikit_learn_contract(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def chapter():
    return nw.make_dataset(n_train=200, seed=0)


def test_fixed_bandwidth_predictions_equal_attention_pool(chapter):
    d = chapter
    model = NadarayaWatsonRegressor(bandwidth=0.3).fit(d.x_train[:, None], d.y_train)
    np.testing.assert_allclose(model.predict(d.x_test[:, None]), nw.attention_pool(d.x_test, d.x_train, d.y_train, bandwidth=0.3), rtol=1e-12)
    assert model.bandwidth_.tolist() == [0.3]


def test_loo_bandwidth_is_a_minimum_of_the_objective(chapter):
    d = chapter
    model = NadarayaWatsonRegressor().fit(d.x_train[:, None], d.y_train)
    h = model.bandwidth_[0]
    f = lambda b: nw.bandwidth.loo_objective(d.x_train, d.y_train, b)  # noqa: E731
    assert f(h) <= min(f(h * 0.9), f(h * 1.1))
    assert f(h) <= min(f(b) for b in np.geomspace(0.01, 3, 40)) + 1e-12
    assert model.loo_mse_ == pytest.approx(f(h), rel=1e-10)


def test_local_linear_removes_boundary_bias(chapter):
    d = chapter
    X = d.x_train[:, None]
    ends = [0, -1]
    bias0 = np.abs(NadarayaWatsonRegressor(bandwidth=0.4).fit(X, d.y_train).predict(d.x_test[ends, None]) - d.y_truth[ends])
    bias1 = np.abs(NadarayaWatsonRegressor(bandwidth=0.4, order=1).fit(X, d.y_train).predict(d.x_test[ends, None]) - d.y_truth[ends])
    assert bias1[0] < bias0[0]


def test_local_linear_is_exact_on_a_line():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (60, 2))
    y = 3.0 + X @ [1.5, -0.5]
    model = NadarayaWatsonRegressor(bandwidth=0.7, order=1).fit(X, y)
    Q = rng.uniform(-2, 2, (10, 2))
    np.testing.assert_allclose(model.predict(Q), 3.0 + Q @ [1.5, -0.5], rtol=1e-9)
    np.testing.assert_allclose(model.derivative(Q), np.tile([1.5, -0.5], (10, 1)), rtol=1e-8)


def test_order0_derivative_matches_finite_differences(chapter):
    d = chapter
    model = NadarayaWatsonRegressor(bandwidth=0.3).fit(d.x_train[:, None], d.y_train)
    q = np.array([[1.0], [2.5]])
    eps = 1e-5
    fd = (model.predict(q + eps) - model.predict(q - eps)) / (2 * eps)
    np.testing.assert_allclose(model.derivative(q)[:, 0], fd, rtol=1e-5)


def test_sample_weight_equals_repeating_rows():
    rng = np.random.default_rng(1)
    X, y = rng.uniform(0, 5, (40, 1)), rng.normal(size=40)
    w = rng.integers(1, 4, 40)
    a = NadarayaWatsonRegressor(bandwidth=0.5).fit(X, y, sample_weight=w)
    b = NadarayaWatsonRegressor(bandwidth=0.5).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    Q = rng.uniform(0, 5, (7, 1))
    np.testing.assert_allclose(a.predict(Q), b.predict(Q), rtol=1e-12)
    a1 = NadarayaWatsonRegressor(bandwidth=0.5, order=1).fit(X, y, sample_weight=w)
    b1 = NadarayaWatsonRegressor(bandwidth=0.5, order=1).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(a1.predict(Q), b1.predict(Q), rtol=1e-10)


def test_multi_output_and_dataframe():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"a": rng.uniform(0, 5, 50), "b": rng.uniform(0, 5, 50)})
    Y = np.c_[np.sin(df.a), np.cos(df.b)]
    model = NadarayaWatsonRegressor(bandwidth=[0.5, 0.7]).fit(df, Y)
    assert list(model.feature_names_in_) == ["a", "b"]
    assert model.predict(df.iloc[:5]).shape == (5, 2)
    for j in range(2):
        single = NadarayaWatsonRegressor(bandwidth=[0.5, 0.7]).fit(df, Y[:, j])
        np.testing.assert_allclose(model.predict(df)[:, j], single.predict(df), rtol=1e-12)


def test_standard_errors_and_interval(chapter):
    d = chapter
    model = NadarayaWatsonRegressor(variance="local").fit(d.x_train[:, None], d.y_train)
    Q = d.x_test[:, None]
    pred, std = model.predict(Q, return_std=True)
    assert np.all(std > 0)
    # the formula: local residual variance times sum of squared weights
    a = model.attention_weights(Q)
    local_var = a @ (model.residuals_[:, 0] ** 2)
    np.testing.assert_allclose(std, np.sqrt(local_var * (a**2).sum(1)), rtol=1e-10)
    # the default: locfit's global residual variance times the same sum
    _, global_std = NadarayaWatsonRegressor().fit(d.x_train[:, None], d.y_train).predict(Q, return_std=True)
    np.testing.assert_allclose(global_std, np.sqrt(model.residual_variance_ * (a**2).sum(1)), rtol=1e-10)
    np.testing.assert_allclose(model.effective_neighbours(Q), 1 / (a**2).sum(1), rtol=1e-10)
    lo, hi = model.predict_interval(Q, alpha=0.1)
    np.testing.assert_allclose((hi - lo) / 2, 1.6448536269514722 * std, rtol=1e-10)
    coverage = np.mean((lo <= d.y_truth) & (d.y_truth <= hi))
    assert coverage > 0.5


def test_local_linear_standard_errors_match_explicit_weights():
    rng = np.random.default_rng(3)
    X, y = rng.uniform(0, 5, (80, 1)), rng.normal(size=80)
    model = NadarayaWatsonRegressor(bandwidth=0.6, order=1, variance="local").fit(X, y)
    Q = np.array([[0.1], [2.5]])
    _, std = model.predict(Q, return_std=True)
    for i, q in enumerate(Q[:, 0]):
        k = np.exp(-0.5 * ((X[:, 0] - q) / 0.6) ** 2)
        D = np.c_[np.ones(80), X[:, 0] - q]
        l_vec = (np.linalg.pinv(D.T @ (k[:, None] * D)) @ (D * k[:, None]).T)[0]
        a = k / k.sum()
        sigma2 = a @ model.residuals_[:, 0] ** 2
        assert std[i] == pytest.approx(np.sqrt(sigma2 * (l_vec**2).sum()), rel=1e-8)


def test_hat_diagonal_and_degrees_of_freedom(chapter):
    d = chapter
    X = d.x_train[:, None]
    for order in (0, 1):
        model = NadarayaWatsonRegressor(bandwidth=0.3, order=order).fit(X, d.y_train)
        hat = model.hat_diagonal()
        # leave-one-out identity of linear smoothers: y_i - f_{-i} = (y_i - f_i) / (1 - H_ii)
        loo = nw.bandwidth.loo_predictions(X, d.y_train[:, None], model.h_) if order == 0 else model._local_fit(model.X_, model.y_, exclude_self=True)[0]
        np.testing.assert_allclose((d.y_train - loo[:, 0]), model.residuals_[:, 0] / (1 - hat), rtol=1e-8)
        assert model.edf_ == pytest.approx(hat.sum())


def test_attention_weights_refuse_huge_matrices(chapter):
    d = chapter
    model = NadarayaWatsonRegressor(bandwidth=0.3).fit(d.x_train[:, None], d.y_train)
    m, n = d.x_test.size, d.x_train.size
    # issue 9 item 4: the shared limit and its message (size, limit, alternatives)
    with pytest.raises(ValueError, match=rf"model.attention_weights would build a {m} x {n} matrix of .* MiB, "
                                         r"above max_bytes=1,000 .*nadaraya.attention_pool never builds the matrix.*pass a larger max_bytes"):
        model.attention_weights(d.x_test[:, None], max_bytes=1000)
    w = model.attention_weights(d.x_test[:, None])
    np.testing.assert_allclose(w.sum(1), 1)


def test_attention_weights_default_limit_is_the_shared_one(chapter, monkeypatch):
    import nadaraya._limits

    d = chapter
    model = NadarayaWatsonRegressor(bandwidth=0.3).fit(d.x_train[:, None], d.y_train)
    monkeypatch.setattr(nadaraya._limits, "MAX_WEIGHTS_BYTES", 1024)
    with pytest.raises(ValueError, match="above max_bytes=1,024"):
        model.attention_weights(d.x_test[:, None])
    assert model.attention_weights(d.x_test[:, None], max_bytes=2**30).shape == (d.x_test.size, d.x_train.size)


def test_a_text_column_is_named_with_the_categorical_hint():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(7)
    df = pd.DataFrame({"x": rng.uniform(0, 5, 30), "city": rng.choice(["Oslo", "Lima"], 30)})
    y = df.x.to_numpy()
    for frame in (df, df.astype({"city": "string"}), df.astype({"city": "category"})):
        with pytest.raises(ValueError, match=r"X column 'city' holds text .*pass categorical=\['city'\]"):
            NadarayaWatsonRegressor().fit(frame, y)
    with pytest.raises(ValueError, match=r"X column 1 holds text .*pass categorical=\[1\]"):
        NadarayaWatsonClassifier().fit(df.to_numpy(), y > 2)
    model = NadarayaWatsonRegressor(bandwidth=[0.5, 0.2], categorical=["city"]).fit(df, y)
    with pytest.raises(ValueError, match="X column 'x' holds text"):
        model.predict(df.assign(x="five"))
    numeric_text = df.assign(x=df.x.astype(str))  # numbers written as text still read as numbers
    np.testing.assert_allclose(model.predict(numeric_text), model.predict(df), rtol=1e-15)


@pytest.mark.parametrize("weights, match", [(-1.0, "be finite and non-negative"), (0.0, "not be all zero")])
def test_negative_or_zero_sample_weights_are_refused(chapter, weights, match):
    X, y = chapter.x_train[:, None], chapter.y_train
    w = np.full(y.size, weights)
    if weights < 0:
        w[1:] = 1.0  # one negative weight among positive ones
    for model, target in ((NadarayaWatsonRegressor(bandwidth=0.3), y), (NadarayaWatsonClassifier(bandwidth=0.3), y > 0)):
        with pytest.raises(ValueError, match=f"sample_weight must {match}"):
            model.fit(X, target, sample_weight=w)


def test_categorical_feature_is_aitchison_aitken():
    rng = np.random.default_rng(4)
    n = 120
    x = rng.uniform(0, 5, n)
    g = rng.choice(["a", "b", "c"], n)
    y = np.sin(x) + (g == "b") * 2.0 + rng.normal(0, 0.1, n)
    X = np.c_[x, g].astype(object)
    lam = 0.2
    model = NadarayaWatsonRegressor(bandwidth=[0.5, lam], categorical=[1]).fit(X, y)
    assert model.bandwidth_[1] == pytest.approx(lam)
    q = np.array([[2.0, "b"], [2.0, "zzz"]], dtype=object)
    kx = np.exp(-0.5 * ((x - 2.0) / 0.5) ** 2)
    for row, level in zip(model.predict(q), ["b", "zzz"]):
        kc = np.where(g == level, 1 - lam, lam / 2) if level != "zzz" else np.full(n, lam / 2)
        k = kx * kc
        assert row == pytest.approx(k @ y / k.sum(), rel=1e-10)
    searched = NadarayaWatsonRegressor(categorical=[1]).fit(X, y)
    assert 0 < searched.bandwidth_[1] < 2 / 3


def test_categorical_by_name_in_a_dataframe():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"x": rng.uniform(0, 5, 60), "g": rng.choice(["u", "v"], 60)})
    y = df.x.to_numpy() + (df.g == "v") * 3
    model = NadarayaWatsonRegressor(categorical=["g"]).fit(df, y)
    assert model.predict(df.iloc[:3]).shape == (3,)
    with pytest.raises(ValueError, match="categorical column 'h' is not among the columns"):
        NadarayaWatsonRegressor(categorical=["h"]).fit(df, y)
    with pytest.raises(ValueError, match="categorical features need kernel='gaussian'"):
        NadarayaWatsonRegressor(kernel="epanechnikov", categorical=["g"]).fit(df, y)


def test_classifier_probabilities_are_weighted_class_frequencies():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(90, 2))
    y = np.where(X[:, 0] > 0, "pos", "neg")
    clf = NadarayaWatsonClassifier(bandwidth=0.8).fit(X, y)
    Q = rng.normal(size=(5, 2))
    proba = clf.predict_proba(Q)
    np.testing.assert_allclose(proba.sum(1), 1)
    onehot = (y[:, None] == clf.classes_[None, :]).astype(float)
    np.testing.assert_allclose(proba, nw.attention_pool(Q, X, onehot, bandwidth=0.8), rtol=1e-12)
    loo = NadarayaWatsonClassifier().fit(X, y)
    assert loo.score(X, y) > 0.8
    h = loo.bandwidth_
    assert np.isinf(h[1])  # y depends on X[:, 0] only: the global search smooths X[:, 1] out (issue 12)
    h = np.where(np.isinf(h), 1e12, h)
    f = lambda b: nw.bandwidth.loo_objective(X, onehot, b, objective="logloss")  # noqa: E731
    assert f(h) <= min(f(h * 0.8), f(h * 1.25)) + 1e-9


def test_compact_kernel_without_support_warns_and_gives_nan():
    X, y = np.array([[0.0], [1.0], [2.0]]), np.array([0.0, 1.0, 2.0])
    model = NadarayaWatsonRegressor(kernel="epanechnikov", bandwidth=0.5).fit(X, y)
    with pytest.warns(nw.EmptySupportWarning, match="1 of 2 queries have no training point"):
        pred = model.predict([[10.0], [1.1]])
    assert np.isnan(pred[0]) and pred[1] == pytest.approx(1.0)


def test_save_and_load_round_trip(tmp_path, chapter):
    d = chapter
    for model in (NadarayaWatsonRegressor(order=1).fit(d.x_train[:, None], d.y_train),
                  NadarayaWatsonRegressor(bandwidth=[0.5, 0.3], categorical=[1]).fit(np.c_[d.x_train, d.x_train > 2].astype(object), d.y_train)):
        path = tmp_path / "m.npz"
        model.save(path)
        again = NadarayaWatsonRegressor.load(path)
        Q = model.X_[:5, : model.n_continuous_] if model.categorical is None else np.c_[d.x_test[:5], d.x_test[:5] > 2].astype(object)
        np.testing.assert_array_equal(again.predict(Q), model.predict(Q))
        np.testing.assert_array_equal(again.predict(Q, return_std=True)[1], model.predict(Q, return_std=True)[1])
        assert again.get_params() == model.get_params()
    clf = NadarayaWatsonClassifier(bandwidth=0.5).fit(d.x_train[:, None], d.x_train > 2.5)
    clf.save(tmp_path / "c.npz")
    np.testing.assert_array_equal(NadarayaWatsonClassifier.load(tmp_path / "c.npz").predict(d.x_test[:, None]), clf.predict(d.x_test[:, None]))


def test_bad_model_files_give_clear_errors(tmp_path, chapter):
    d = chapter
    path = tmp_path / "m.npz"
    NadarayaWatsonRegressor(bandwidth=0.3).fit(d.x_train[:, None], d.y_train).save(path)
    data = path.read_bytes()
    (tmp_path / "trunc.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable nadaraya model file"):
        NadarayaWatsonRegressor.load(tmp_path / "trunc.npz")
    np.savez(tmp_path / "foreign.npz", a=np.arange(3))
    with pytest.raises(ValueError, match="not a nadaraya model file"):
        NadarayaWatsonRegressor.load(tmp_path / "foreign.npz")
    np.savez(tmp_path / "pickled.npz", __metadata__=np.array([{"format": "nadaraya-model"}], dtype=object))
    with pytest.raises(ValueError, match="not a readable nadaraya model file"):
        NadarayaWatsonRegressor.load(tmp_path / "pickled.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="not a readable"):
        NadarayaWatsonRegressor.load(tmp_path / "text.npz")
    with pytest.raises(ValueError, match="holds a 'NadarayaWatsonRegressor', not a NadarayaWatsonClassifier"):
        NadarayaWatsonClassifier.load(path)
    with pytest.raises(ValueError, match="does not exist"):
        NadarayaWatsonRegressor.load(tmp_path / "missing.npz")


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(bandwidth=-1.0), "bandwidth must be positive"),
        (dict(bandwidth="wide"), "bandwidth must be a positive number, one per feature, or one of loo"),
        (dict(kernel="gauss"), "kernel must be one of"),
        (dict(order=4), "order must be 0"),
        (dict(bandwidth=[1.0, 2.0, 3.0]), "bandwidth has 3 values but X has 1 features"),
    ],
)
def test_bad_parameters(params, match, chapter):
    with pytest.raises(ValueError, match=match):
        NadarayaWatsonRegressor(**params).fit(chapter.x_train[:, None], chapter.y_train)


def test_predict_checks_the_number_of_features(chapter):
    model = NadarayaWatsonRegressor(bandwidth=0.3).fit(chapter.x_train[:, None], chapter.y_train)
    with pytest.raises(ValueError, match="X has 2 features, but NadarayaWatsonRegressor is expecting 1"):
        model.predict(np.zeros((3, 2)))


def test_pipeline_and_grid_search(chapter):
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(StandardScaler(), NadarayaWatsonRegressor())
    from sklearn.model_selection import KFold

    grid = GridSearchCV(pipe, {"nadarayawatsonregressor__order": [0, 1], "nadarayawatsonregressor__kernel": ["gaussian", "epanechnikov"]},
                        cv=KFold(3, shuffle=True, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nw.EmptySupportWarning)
        grid.fit(chapter.x_train[:, None], chapter.y_train)
    assert grid.best_score_ > 0.5
