"""Every post-hoc calibrator against a reference on the same logits: a closed form for temperature
scaling, the optimality conditions of NLL for vector / matrix / Dirichlet scaling, scikit-learn
for isotonic regression and Platt scaling, netcal (float64) for histogram binning and Beta
calibration; identity behaviour on calibrated data; JSON round trips; refusals."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from textmix.core.calibrators import BUILT_IN, calibrator_from_json, calibrator_names, make_calibrator
from textmix.core.errors import ArgumentError

ALL = tuple(cls.name for cls in BUILT_IN)  # textmix's own (not those a test file registers)
BINARY_ONLY = {"platt", "beta"}


def sample(n: int, k: int, seed: int, temperature: float = 1.0):
    """Logits and labels drawn from softmax(logits / temperature): calibrated when it is 1."""
    g = torch.Generator().manual_seed(seed)
    z = 2.5 * torch.randn(n, k, generator=g, dtype=torch.float64)
    y = torch.multinomial(torch.softmax(z / temperature, 1), 1, generator=g).squeeze(1)
    return z.numpy(), y.numpy()


def test_temperature_has_the_closed_form_optimum():
    """Two classes, every logit row (0, d), a fraction q of labels on class 1: the NLL of σ(d / T) is
    minimal where σ(d / T) = q, so T = d / logit(q)."""
    d, q, n = 4.0, 0.8, 1000
    z = np.tile([0.0, d], (n, 1))
    y = (np.arange(n) < q * n).astype(int)
    fitted = make_calibrator("temperature").fit(z, y).temperature
    assert fitted == pytest.approx(d / math.log(q / (1 - q)), rel=1e-12)  # Newton's root: exact to rounding


@pytest.mark.parametrize(("k", "seed", "truth"), [(2, 20, 0.5), (10, 21, 2.0), (100, 22, 1.3)])
def test_temperature_minimizes_the_nll_written_out(k, seed, truth):
    """The fitted T against a bounded scalar search (SciPy's Brent) of the NLL written out here, in
    float64 and from float32 logits: a minimum no other T improves on."""
    from scipy.optimize import minimize_scalar

    z, y = sample(4000, k, seed=seed, temperature=truth)
    zt, yt = torch.tensor(z), torch.tensor(y)

    def nll(t):
        return float(torch.nn.functional.cross_entropy(zt / t, yt))

    brent = minimize_scalar(nll, bounds=(0.05, 20), method="bounded", options={"xatol": 1e-10}).x
    for logits in (z, z.astype(np.float32)):
        fitted = make_calibrator("temperature").fit(logits, y).temperature
        assert fitted == pytest.approx(brent, rel=1e-6 if logits.dtype == np.float64 else 1e-4)
        assert nll(fitted) <= nll(brent) + 1e-12
        assert fitted == pytest.approx(truth, rel=0.1)  # and near the temperature the labels were drawn at


def test_temperature_of_uninformative_logits_is_bounded():
    """Logits anti-related to the labels: the NLL falls all the way to uniform probabilities, so T is
    the cap, not an overflow; logits equal in every row: no T changes anything, T stays 1."""
    z, _ = sample(1000, 3, seed=23)
    fitted = make_calibrator("temperature").fit(z, z.argmin(1))
    assert fitted.temperature == fitted.max_temperature
    np.testing.assert_allclose(fitted(z), 1 / 3, atol=1e-4)
    assert make_calibrator("temperature").fit(np.ones((50, 4)), np.arange(50) % 4).temperature == 1.0


@pytest.mark.parametrize("name", ["temperature", "platt", "beta"])
def test_fitting_a_few_parameters_imports_no_compiler(name):
    """Temperature, Platt and Beta fits import no torch._dynamo (torch.optim's L-BFGS did: seconds a
    cold process); their Newton fits need no optimizer."""
    code = ("import sys, numpy as np; from textmix.core.calibrators import make_calibrator; "
            f"make_calibrator({name!r}).fit(np.array([[0.0, 2.0], [1.0, 0.0], [0.0, 1.0], [0.5, 0.2]]), [1, 0, 0, 1]); "
            "print('torch._dynamo' in sys.modules)")  # fmt: skip
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def _gradient_of_nll(name, calibrator, z, y):
    """∂(NLL + penalty)/∂θ at the fitted θ, by autograd of the formula written out here."""
    zt, yt = torch.tensor(z), torch.tensor(y)
    w = torch.tensor(calibrator.state_dict()["weight"], dtype=torch.float64, requires_grad=True)
    b = torch.tensor(calibrator.state_dict()["bias"], dtype=torch.float64, requires_grad=True)
    k = z.shape[1]
    if name == "vector":
        scaled = zt * w + b
    elif name == "matrix":
        scaled = zt @ w.T + b
    else:  # dirichlet: W log p + b, plus ODIR λ/(K(K−1))·Σ_{i≠j} W_ij² + μ/K·Σ b_j²
        scaled = torch.log_softmax(zt, 1) @ w.T + b
    loss = torch.nn.functional.cross_entropy(scaled, yt)
    if name == "dirichlet":
        off = ~torch.eye(k, dtype=torch.bool)
        loss = loss + 0.01 * (w[off] ** 2).sum() / (k * (k - 1)) + 0.01 * (b**2).sum() / k
    loss.backward()
    return torch.cat([w.grad.flatten(), b.grad])


@pytest.mark.parametrize("name", ["vector", "matrix", "dirichlet"])
def test_affine_scalings_reach_the_optimum_of_their_objective(name):
    z, y = sample(3000, 4, seed=1, temperature=2.0)
    calibrator = make_calibrator(name).fit(z, y)
    assert _gradient_of_nll(name, calibrator, z, y).abs().max() < 1e-6
    assert calibrator.n_parameters(4) == {"vector": 8, "matrix": 20, "dirichlet": 20}[name]


def test_vector_scaling_recovers_a_per_class_temperature():
    g = np.random.default_rng(2)
    z = 2.0 * g.normal(size=(40000, 3))
    scale, shift = np.array([0.5, 1.0, 2.0]), np.array([0.3, -0.2, 0.0])
    p = np.exp(z * scale + shift)
    y = np.array([g.choice(3, p=row / row.sum()) for row in p])
    state = make_calibrator("vector").fit(z, y).state_dict()
    weight, bias = np.array(state["weight"]), np.array(state["bias"])
    np.testing.assert_allclose(weight, scale, atol=0.05)
    np.testing.assert_allclose(bias - bias.mean(), shift - shift.mean(), atol=0.05)  # softmax is shift-invariant


def test_isotonic_matches_scikit_learn_one_class_at_a_time():
    from sklearn.isotonic import IsotonicRegression

    for k in (2, 3):
        z, y = sample(2000, k, seed=3, temperature=1.7)
        fit, test = slice(0, 1000), slice(1000, None)
        ours = make_calibrator("isotonic").fit(z[fit], y[fit])(z[test])
        p_fit, p_test = (torch.softmax(torch.tensor(z[s]), 1).numpy() for s in (fit, test))
        columns = [1] if k == 2 else range(k)
        # sklearn's step function with its values clipped to the add-one extremes of 1,000 examples
        steps = [IsotonicRegression(y_min=0, y_max=1).fit(p_fit[:, c], y[fit] == c) for c in columns]
        steps = [(s.X_thresholds_.copy(), np.clip(s.y_thresholds_, 1 / 1002, 1001 / 1002)) for s in steps]
        reference = np.stack([np.interp(p_test[:, c], *steps[i]) for i, c in enumerate(columns)], axis=1)
        if k == 2:
            reference = np.concatenate([1 - reference, reference], axis=1)
        else:
            reference = reference / reference.sum(1, keepdims=True)
        np.testing.assert_allclose(ours, reference, atol=1e-9)


def test_platt_matches_scikit_learns_sigmoid_calibration():
    from sklearn.calibration import _SigmoidCalibration

    z, y = sample(2000, 2, seed=4, temperature=0.6)
    s = z[:, 1] - z[:, 0]
    reference = _SigmoidCalibration().fit(s[:1000], y[:1000]).predict(s[1000:])
    ours = make_calibrator("platt").fit(z[:1000], y[:1000])(z[1000:])
    np.testing.assert_allclose(ours[:, 1], reference, atol=1e-6)


def test_beta_matches_netcal_in_float64():
    from netcal.scaling import BetaCalibration

    z, y = sample(3000, 2, seed=5, temperature=1.8)
    p = torch.softmax(torch.tensor(z), 1).numpy()
    reference = BetaCalibration(method="mle").fit(p[:1500, 1].astype(np.float64), y[:1500]).transform(p[1500:, 1])
    ours = make_calibrator("beta").fit(z[:1500], y[:1500])(z[1500:])
    np.testing.assert_allclose(ours[:, 1], reference, atol=1e-4)


def test_histogram_binning_with_equal_width_bins_matches_netcal():
    from netcal.binning import HistogramBinning

    from textmix.core.calibrators import HistogramBinning as Ours

    z, y = sample(3000, 2, seed=6, temperature=2.0)
    p = torch.softmax(torch.tensor(z), 1).numpy()
    reference = HistogramBinning(bins=10).fit(p[:1500, 1], y[:1500]).transform(p[1500:, 1])
    ours = Ours(bins=10, equal_mass=False, smoothing=0).fit(z[:1500], y[:1500])(z[1500:])  # netcal: raw frequencies
    np.testing.assert_allclose(ours[:, 1], reference, atol=1e-12)


def test_histogram_binning_with_equal_mass_bins_by_hand():
    """Twelve validation probabilities of class 1 in 3 equal-mass bins of four: their frequencies."""
    p1 = np.array([0.05, 0.1, 0.3, 0.4, 0.8, 0.9] * 2)
    y = np.array([0, 1, 0, 0, 1, 1] * 2)
    z = np.stack([np.zeros(12), np.log(p1 / (1 - p1))], axis=1)
    from textmix.core.calibrators import HistogramBinning as Ours

    queries = np.array([0.07, 0.35, 0.85])
    zq = np.stack([np.zeros(3), np.log(queries / (1 - queries))], axis=1)
    # bins of 4: {0.05, 0.05, 0.1, 0.1} → 2/4 class 1; {0.3, 0.3, 0.4, 0.4} → 0; {0.8, 0.8, 0.9, 0.9} → 1
    np.testing.assert_allclose(Ours(bins=3, smoothing=0).fit(z, y)(zq)[:, 1], [0.5, 0.0, 1.0], atol=1e-9)
    # m-estimate, m = 2, prior the bin's midpoint; edges: 0, the 1/3 and 2/3 quantiles (0.1 + 2/3 · 0.2 and
    # 0.4 + 1/3 · 0.4, numpy's linear interpolation), 1
    edges = np.array([0, 0.1 + 0.2 * 2 / 3, 0.4 + 0.4 / 3, 1])
    mid = (edges[:-1] + edges[1:]) / 2
    expected = (np.array([2, 0, 4]) + 2 * mid) / (4 + 2)
    np.testing.assert_allclose(Ours(bins=3).fit(z, y)(zq)[:, 1], expected, atol=1e-9)


@pytest.mark.parametrize("name", ["histogram", "isotonic"])
def test_binning_calibrators_on_a_small_validation_split_are_never_certain(name):
    """Fitted on 200 overconfident validation examples, the top bin is all correct; raw frequencies
    would give probability 1 there and ~27.6 nats per test error in it."""
    z, y = sample(5200, 3, seed=11, temperature=0.4)  # logits 2.5× too sharp
    calibrator = make_calibrator(name).fit(z[:200], y[:200])
    probs = calibrator(z[200:])
    assert (probs > 0).all() and (probs < 1).all(), name
    nll = -np.log(probs[np.arange(5000), y[200:]]).mean()
    raw = -np.log(np.maximum(torch.softmax(torch.tensor(z[200:]), 1).numpy()[np.arange(5000), y[200:]], 1e-12)).mean()
    assert nll < min(raw, 1.5), (name, nll, raw)


@pytest.mark.parametrize("name", ALL)
def test_calibrated_data_stays_calibrated(name):
    k = 2 if name in BINARY_ONLY else 3
    z, y = sample(20000, k, seed=7)
    calibrator = make_calibrator(name).fit(z[:10000], y[:10000])
    rows = np.arange(10000)
    raw = -np.log(torch.softmax(torch.tensor(z[10000:]), 1).numpy()[rows, y[10000:]]).mean()
    after = -np.log(calibrator(z[10000:])[rows, y[10000:]]).mean()
    assert after < raw + 0.02, (name, raw, after)  # binning methods lose a little resolution


@pytest.mark.parametrize("name", ALL)
def test_state_round_trips_through_json_to_identical_outputs_and_fits_are_deterministic(name):
    k = 2 if name in BINARY_ONLY else 3
    z, y = sample(600, k, seed=8, temperature=1.5)
    calibrator = make_calibrator(name).fit(z[:300], y[:300])
    again = calibrator_from_json(json.loads(json.dumps(calibrator.to_json())))
    assert np.array_equal(calibrator(z[300:]), again(z[300:]))
    assert make_calibrator(name).fit(z[:300], y[:300]).to_json() == calibrator.to_json()


@pytest.mark.parametrize("name", ALL)
def test_float32_bfloat16_and_float64_logits_fit_alike(name):
    k = 2 if name in BINARY_ONLY else 3
    z, y = sample(1000, k, seed=9, temperature=1.5)
    z = np.round(z, 2)  # exactly representable in float32 up to rounding of the inputs
    p64 = make_calibrator(name).fit(z, y)(z)
    p32 = make_calibrator(name).fit(z.astype(np.float32), y)(z.astype(np.float32))
    np.testing.assert_allclose(p32, p64, atol=1e-4)
    bf16 = torch.tensor(z).bfloat16()
    assert np.isfinite(make_calibrator(name).fit(bf16, y)(bf16)).all()


def test_what_cannot_be_fitted_is_refused_in_one_line():
    z, y = sample(200, 3, seed=10)
    with pytest.raises(ArgumentError, match="holds only class 0; calibrating needs examples of at least two"):
        make_calibrator("temperature").fit(z, np.zeros(200, dtype=int))
    small, labels = sample(50, 10, seed=11)
    with pytest.raises(ArgumentError, match="fits 110 parameters for K=10 classes but validation has 50 examples"):
        make_calibrator("matrix").fit(small, labels)
    with pytest.raises(ArgumentError, match="calibrator platt is for two classes; this model has 3: use temperature"):
        make_calibrator("platt").fit(z, y)
    with pytest.raises(ArgumentError, match=f"calibrator 'bogus' is unknown; known: {', '.join(calibrator_names())}$"):
        make_calibrator("bogus")
    with pytest.raises(ArgumentError, match="holds an invalid state"):
        calibrator_from_json({"name": "temperature", "state": {"temperature": -1}})


def test_few_examples_a_parameter_are_warned_about(caplog):
    z, y = sample(150, 10, seed=12)
    make_calibrator("matrix").fit(z, y)
    assert "fits 110 parameters on 150 validation examples" in caplog.text
