"""Model construction, checkpoint round trips and refusal of damaged stores."""

import json

import pytest
import torch

from model_store import CheckpointError, InputSpec, ModelNotFoundError, ModelRegistry, create_model
from model_store.checkpoint import FORMAT_VERSION, MANIFEST_FILE, WEIGHTS_FILE

BACKBONE = "convnext_atto"  # smallest ConvNeXt; tests never use big models
PROVENANCE = {"trained_on": "untrained", "description": "test fixture"}


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return create_model(BACKBONE, head_hidden=32).eval()


def test_model_has_a_detection_head_and_heads_given_an_event(tiny_model):
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out = tiny_model(x)
        feats = tiny_model.forward_features(x)
    # detection: one logit; magnitude and azimuth: the event classes only (Normal comes from detection)
    assert out["detection"].shape == (2, 1) and out["magnitude"].shape == (2, 3) and out["azimuth"].shape == (2, 8)
    assert feats.ndim == 4 and feats.shape[0] == 2
    with torch.no_grad():
        torch.testing.assert_close(tiny_model.forward_heads(feats)["azimuth"], out["azimuth"])


def test_grad_cam_stage_splits_the_backbone_without_changing_outputs():
    torch.manual_seed(0)
    model = create_model(BACKBONE, head_hidden=16, cam_stage=2).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        whole = model(x)
        features = model.cam_features(x)
        split = model.heads_from_cam_features(features, x)
    assert features.shape[-2:] == (4, 4)  # stage 3 of 4: stride 16
    for task in whole:
        torch.testing.assert_close(whole[task], split[task])


def test_round_trip_gives_identical_logits(tmp_path, tiny_model):
    reg = ModelRegistry(tmp_path)
    spec = InputSpec(image_height=64, image_width=64)
    m = reg.save(tiny_model, "tiny", input_spec=spec, provenance=PROVENANCE, metrics={"acc": 0.5})
    assert m.ref == "tiny:1"
    loaded = reg.load("tiny")
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        a, b = tiny_model(x), loaded.model(x)
    for task in a:
        assert torch.equal(a[task], b[task])
    assert loaded.manifest.input_spec == spec
    assert loaded.manifest.metrics == {"acc": 0.5}
    assert loaded.manifest.trained_on == "untrained"
    assert loaded.manifest.labels["azimuth"][-1] == "Normal"


def test_versions_default_and_resolution(tmp_path, tiny_model):
    reg = ModelRegistry(tmp_path)
    with pytest.raises(ModelNotFoundError, match="no models"):
        reg.resolve()
    for _ in range(2):
        reg.save(tiny_model, "a", input_spec=InputSpec(), provenance=PROVENANCE)
    assert reg.versions("a") == ["1", "2"]
    assert reg.resolve().name == "2"
    assert reg.resolve("a:1").name == "1"
    reg.save(tiny_model, "b", input_spec=InputSpec(), provenance=PROVENANCE)
    with pytest.raises(ModelNotFoundError, match="several"):
        reg.resolve()
    reg.set_default("b:1")
    assert reg.resolve().parent.name == "b"
    with pytest.raises(ModelNotFoundError, match="no version '9'"):
        reg.resolve("a:9")
    assert {m.ref for m in reg.list_models()} == {"a:1", "a:2", "b:1"}


def test_existing_checkpoint_is_never_overwritten(tmp_path, tiny_model):
    reg = ModelRegistry(tmp_path)
    reg.save(tiny_model, "a", version="1", input_spec=InputSpec(), provenance=PROVENANCE)
    with pytest.raises(CheckpointError, match="never overwritten"):
        reg.save(tiny_model, "a", version="1", input_spec=InputSpec(), provenance=PROVENANCE)
    assert not [p for p in (tmp_path / "a").iterdir() if p.name.startswith(".")]


def test_tampered_weights_are_refused(tmp_path, tiny_model):
    reg = ModelRegistry(tmp_path)
    reg.save(tiny_model, "a", input_spec=InputSpec(), provenance=PROVENANCE)
    weights = tmp_path / "a" / "1" / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match its manifest"):
        reg.load("a")


def test_damaged_manifest_is_refused(tmp_path, tiny_model):
    reg = ModelRegistry(tmp_path)
    reg.save(tiny_model, "a", input_spec=InputSpec(), provenance=PROVENANCE)
    manifest = tmp_path / "a" / "1" / MANIFEST_FILE
    manifest.write_text(manifest.read_text()[:100])
    with pytest.raises(CheckpointError, match="not readable JSON"):
        reg.load("a")
    d = {"format_version": FORMAT_VERSION, "name": "a"}
    manifest.write_text(json.dumps(d))
    with pytest.raises(CheckpointError, match="incomplete"):
        reg.load("a")


def test_weights_that_do_not_fit_the_architecture_are_refused(tmp_path, tiny_model):
    reg = ModelRegistry(tmp_path)
    reg.save(tiny_model, "a", input_spec=InputSpec(), provenance=PROVENANCE)
    manifest = tmp_path / "a" / "1" / MANIFEST_FILE
    d = json.loads(manifest.read_text())
    d["architecture"]["head_hidden"] = 64
    manifest.write_text(json.dumps(d))
    with pytest.raises(CheckpointError, match="do not fit"):
        reg.load("a")


def test_provenance_must_say_what_the_model_was_trained_on(tmp_path, tiny_model):
    with pytest.raises(CheckpointError, match="trained_on"):
        ModelRegistry(tmp_path).save(tiny_model, "a", input_spec=InputSpec(), provenance={})


def test_a_cross_spectral_model_with_sector_logits_saves_and_loads(tmp_path):
    # only the bearing head carries the direction finder's settings; sector logits on cross-spectral input do not
    spec = InputSpec(representation="cross_spectral", nperseg=512, noverlap=256, fmax_hz=0.125,
                     image_height=64, image_width=64)
    model = create_model(BACKBONE, in_chans=spec.in_chans, head_hidden=32, azimuth_head="sectors").eval()
    ModelRegistry(tmp_path).save(model, "a", input_spec=spec, provenance=PROVENANCE)
    assert ModelRegistry(tmp_path).load("a").manifest.architecture.azimuth_head == "sectors"


@pytest.mark.parametrize("field, value", [
    ("induction_band_hz", [1.0]),  # not a pair
    ("smoothing_bins", [3]),  # not a pair: would fail on every window at request time
    ("direction_band_hz", [0.0501, 0.0502]),  # valid, but covers no image row
])
def test_a_malformed_cross_spectral_spec_in_a_manifest_is_a_checkpoint_error(tmp_path, field, value):
    from model_store.direction import physics_config

    spec = InputSpec(representation="cross_spectral", nperseg=512, noverlap=256, fmax_hz=0.125,
                     image_height=64, image_width=64)
    model = create_model(BACKBONE, in_chans=6, head_hidden=32, azimuth_head="bearing",
                         physics=physics_config(spec)).eval()
    reg = ModelRegistry(tmp_path)
    reg.save(model, "a", input_spec=spec, provenance=PROVENANCE)
    manifest = tmp_path / "a" / "1" / MANIFEST_FILE
    d = json.loads(manifest.read_text())
    d["input_spec"][field] = value
    manifest.write_text(json.dumps(d))
    with pytest.raises(CheckpointError):
        reg.load("a")
