"""One analyze on a small untrained nnscope CNN (no data, no training), loaded as any model is: against the
naive occlusion loop, and for images where no patch changes a pixel."""

import numpy as np
import pytest
import torch

from nnscope.model import CNN, CNNConfig
from nnscope.models.formats import Network
from nnscope.models.loaded import loaded_from_network
from nnscope.serve.analysis import analyze, describe_model
from nnscope.serve.validation import RequestError, analyze_request
from nnscope.vision.occlusion import naive_occlusion_probabilities


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return loaded_from_network(Network(CNN(CNNConfig(channels=(4, 6, 8))).eval(), "nnscope", "a small CNN", (1, 28, 28)))


def test_analyze_equals_the_naive_loop(model):
    image = np.random.default_rng(0).uniform(0, 1, (1, 28, 28)).astype(np.float32)
    body = analyze(model, image, patch=6, stride=4, fill=0.3)
    naive = naive_occlusion_probabilities(model.module, torch.as_tensor(image), 6, 4, 0.3)
    np.testing.assert_allclose(body["occlusion"]["probabilities"], naive, atol=1e-5)
    np.testing.assert_allclose(body["occlusion"]["true_class_probability"], naive[..., body["prediction"]], atol=1e-5)
    assert [len(body["feature_maps"][f"conv{i}"]) for i in (1, 2, 3)] == [4, 6, 8]


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_an_image_of_the_fill_value_alone_gives_its_own_probabilities_everywhere(model, value):
    body = analyze(model, np.full((1, 28, 28), value, np.float32), fill=value)
    np.testing.assert_allclose(body["occlusion"]["probabilities"],
                               np.broadcast_to(body["probabilities"], (21, 21, 10)), atol=1e-6)


def test_the_description_measures_each_layer(model):
    description = describe_model(model)
    assert [layer["output_shape"] for layer in description["feature_layers"]] == [[4, 28, 28], [6, 14, 14], [8, 7, 7]]
    assert [layer["output_shape"] for layer in description["layers"] if layer["name"] == "fc"] == [[10]]


def test_a_request_gets_its_defaults_and_names_a_bad_field():
    checked = analyze_request({"image": [[0.5] * 28] * 28})
    assert (checked["patch"], checked["stride"], checked["fill"]) == (8, 1, 0.0)
    assert checked["image"].shape == (1, 28, 28) and checked["image"].dtype == np.float32
    with pytest.raises(RequestError, match=r"^image: 2 at row 0, column 5; expected 28 x 28"):
        analyze_request({"image": [[0] * 5 + [2] + [0] * 22] + [[0] * 28] * 27})
    with pytest.raises(RequestError, match=r"^stride: 29; expected a whole number from 1 to 28"):
        analyze_request({"image": [[0] * 28] * 28, "stride": 29})
