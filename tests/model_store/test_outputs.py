"""What every served answer obeys, whatever the raw head outputs: probabilities that sum to one, one
P(Normal) shared by both tasks, labels and alarms from one rule, and a bearing distribution that points
where its parameters say."""

import numpy as np
import pytest
import torch

from model_store.outputs import (
    N_SECTORS,
    Calibration,
    bearing_parameters,
    bearing_summary,
    decide,
    served_log_probs,
    von_mises_sector_log_probs,
)

FITTED = Calibration(detection_temperature=1.7, magnitude_temperature=0.8, azimuth_temperature=1.3,
                     bearing_map=(0.9, 0.4, 0.2, 0.1, -1.5, -0.3, 0.0, 0.2), alarm_threshold=0.8)


def _raw(head: str, n: int = 64, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    azimuth = torch.randn(n, 4 if head == "bearing" else N_SECTORS, generator=g) * 3
    return {"detection": torch.randn(n, 1, generator=g) * 4, "magnitude": torch.randn(n, 3, generator=g) * 3,
            "azimuth": azimuth}


@pytest.mark.parametrize("head", ["sectors", "bearing"])
@pytest.mark.parametrize("calibration", [Calibration(), FITTED])
def test_served_probabilities_sum_to_one_and_share_p_normal(head, calibration):
    raw = _raw(head)
    probs = {t: v.exp().double() for t, v in served_log_probs(raw, calibration, head).items()}
    assert probs["magnitude"].shape == (64, 4) and probs["azimuth"].shape == (64, N_SECTORS + 1)
    for p in probs.values():
        assert torch.allclose(p.sum(dim=1), torch.ones(64, dtype=torch.float64), atol=1e-5)
        assert (p >= 0).all()
    assert torch.allclose(probs["magnitude"][:, -1], probs["azimuth"][:, -1], atol=1e-6)
    p_event = torch.sigmoid(raw["detection"][:, 0].double() / calibration.detection_temperature)
    assert torch.allclose(1 - probs["magnitude"][:, -1], p_event, atol=1e-5)


def test_bearing_parameters_given_or_computed_give_the_same_answer():
    raw = _raw("bearing")
    given = served_log_probs(raw, FITTED, "bearing", bearing_parameters(raw, FITTED))
    computed = served_log_probs(raw, FITTED, "bearing")
    for task in given:
        assert torch.equal(given[task], computed[task])


def test_gradients_flow_after_a_first_prediction_in_inference_mode():
    """The confidence map's constants are cached: made first inside inference mode (a plain prediction),
    they must still serve a later Grad-CAM pass, whose autograd saves them."""
    calibration = Calibration(bearing_map=(0.3, 0.1, 0.2, -0.1, -2.0, 0.1, 0.0, 0.05))  # a map no other test uses
    with torch.inference_mode():
        served_log_probs(_raw("bearing"), calibration, "bearing")
    raw = {k: v.requires_grad_(True) for k, v in _raw("bearing", seed=1).items()}
    logp = served_log_probs(raw, calibration, "bearing")
    (grad,) = torch.autograd.grad(logp["azimuth"][:, 0].sum(), raw["azimuth"])
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("calibration", [Calibration(), FITTED])
def test_labels_and_alarms_follow_one_rule(calibration):
    probs = {t: v.exp().double().numpy() for t, v in served_log_probs(_raw("sectors", 256), calibration,
                                                                       "sectors").items()}
    d = decide(probs, calibration)
    normal = {t: p.shape[1] - 1 for t, p in probs.items()}
    for task, labels in d.labels.items():
        is_normal = labels == normal[task]
        assert np.array_equal(is_normal, d.precursor_probability < 0.5)  # Normal exactly when P(event) < 1/2
        events = ~is_normal
        assert np.array_equal(labels[events], probs[task][events, :-1].argmax(axis=1))
        assert not (d.alarm & is_normal).any()  # never an alarm beside a Normal label
    assert np.array_equal(d.alarm, d.precursor_probability >= calibration.alarm_threshold)


def test_an_alarm_threshold_below_one_half_is_refused():
    with pytest.raises(ValueError, match="alarm_threshold"):
        Calibration(alarm_threshold=0.3)


def test_the_sector_distribution_points_where_the_von_mises_mean_does():
    bearings = torch.tensor([0.0, 50.0, 100.0, 190.0, 300.0], dtype=torch.float64)
    theta = torch.deg2rad(bearings)
    m = 40.0 * torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)  # kappa 40: concentrated
    p = von_mises_sector_log_probs(m, torch.full((5,), -30.0, dtype=torch.float64)).exp()
    assert torch.allclose(p.sum(dim=1), torch.ones(5, dtype=torch.float64))
    expected = torch.round(bearings / (360 / N_SECTORS)).long() % N_SECTORS  # sectors centred on N, NE, ...
    assert torch.equal(p.argmax(dim=1), expected)
    uniform = von_mises_sector_log_probs(m, torch.zeros(5, dtype=torch.float64)).exp()  # outlier share 1
    assert torch.allclose(uniform, torch.full((5, N_SECTORS), 1 / N_SECTORS, dtype=torch.float64))
    bearing, spread, kappa = bearing_summary(m, torch.full((5,), -30.0, dtype=torch.float64))
    assert np.allclose(bearing, bearings.numpy())
    assert np.allclose(kappa, 40.0)  # the von Mises part's concentration |m|, without the outlier share
    wider = bearing_summary(m / 10, torch.full((5,), -30.0, dtype=torch.float64))[1]
    assert (spread < 10).all() and (wider > spread).all()
