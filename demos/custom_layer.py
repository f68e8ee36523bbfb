"""A custom layer written as its forward alone: Swish, trained from a config and from Python.

    python demos/custom_layer.py                 # both ways, on Iris (a few seconds)
    python demos/custom_layer.py --epochs 200

Swish (Ramachandran, Zoph and Le, 2017) is x * sigmoid(beta * x). Nobody writes its
backward pass here: AutogradLayer (autograd_nn.py) records forward_tensor's operations
as a graph and derives it. Two versions:

    Swish          beta = 1, no parameters: the whole layer is one line of forward
    LearnedSwish   one beta per unit, trained with the weights (a Tensor attribute is a
                   parameter); its size comes from the layer before, in build()

network.register_layer makes each class loadable from a saved model and, since each has a
config `name`, usable as an activation in a config: {"units": 16, "activation": "swish"}.
The same config runs through app.pipeline.train, exactly as `python main.py` runs one;
the Python part builds a Network by hand, fits it, saves it and loads it back.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import argparse  # noqa: E402  (after the path set-up, like every import of the framework)
import tempfile  # noqa: E402

from activations import Softmax  # noqa: E402
from app import pipeline  # noqa: E402
from app.config import validate_config  # noqa: E402
from autograd import Tensor  # noqa: E402
from autograd_nn import AutogradLayer  # noqa: E402
from layers import Dense, flat_size  # noqa: E402
from losses import CrossEntropy  # noqa: E402
from matrix import Matrix  # noqa: E402
from network import Network, register_layer  # noqa: E402
from optimizers import Adam  # noqa: E402
from utils import make_rng  # noqa: E402


class Swish(AutogradLayer):
    """Y = X * sigmoid(X), entry by entry; the backward comes from the graph."""

    name = "swish"

    def forward_tensor(self, x):
        return x * x.sigmoid()


class LearnedSwish(AutogradLayer):
    """Y = X * sigmoid(beta * X), beta (1, features) trained: beta -> 0 gives X / 2, beta -> inf ReLU."""

    name = "learned_swish"

    def __init__(self, features=None):
        self.features = None
        if features is not None:
            self._create(features)

    def _create(self, features):
        self.features = features
        self.beta = Tensor(Matrix.full(1, features, 1.0), requires_grad=True)

    def build(self, input_shape):
        if self.features is None:  # named in a config, the width comes from the layer before
            self._create(flat_size(input_shape))
        return super().build(input_shape)

    def forward_tensor(self, x):
        return x * (x * self.beta).sigmoid()

    def get_config(self):
        return {"features": self.features}

    def __repr__(self):
        return f"LearnedSwish({self.features})"


def config_for(activation, epochs, model_path):
    return validate_config({
        "seed": 0,
        "data": {"path": os.path.join(ROOT, "data", "iris.csv"), "target": "species"},
        "model": {"hidden_layers": [{"units": 16, "activation": activation}], "init": "xavier"},
        "training": {"optimizer": {"name": "adam", "lr": 0.01}, "epochs": epochs, "batch_size": 16},
        "output": {"model_path": model_path},
    })


def from_the_config(epochs, folder):
    """The config path: "activation": "swish" or "learned_swish", trained as main.py trains."""
    for activation in ("swish", "learned_swish"):
        config = config_for(activation, epochs, os.path.join(folder, f"{activation}.json"))
        network, history, scores = pipeline.train(config, verbose=False)
        print(f"config, hidden activation {activation!r}: {network.layers[1]!r}, final loss "
              f"{history['loss'][-1]:.4f}, test accuracy {scores['accuracy']:.4f}")
    betas = network.layers[1].beta.data.rows[0]
    print(f"  learned betas after training: min {min(betas):.3f}, max {max(betas):.3f} (all 1.0 at the start)")


def from_python(epochs, folder):
    """The Python API: Network, fit, summary, save and load, the custom layer among the others."""
    config = config_for("swish", epochs, "unused.json")
    data = pipeline.prepare_data(config, make_rng(0))
    X, Y = data.inputs(data.train), data.targets(data.train)
    rng = make_rng(0)
    network = Network([Dense(4, 16, init="xavier", rng=rng), LearnedSwish(16), Dense(16, 3, rng=rng), Softmax()])
    print(network.summary())
    network.fit(X, Y, CrossEntropy(), Adam(network.parameters(), lr=0.01), epochs=epochs, batch_size=16, rng=rng)
    path = os.path.join(folder, "model.json")
    network.save(path)
    loaded = Network.load(path)
    X_test = data.inputs(data.test)
    same = loaded.predict(X_test).rows == network.predict(X_test).rows
    accuracy = network.evaluate(X_test, data.targets(data.test), CrossEntropy())["accuracy"]
    print(f"Python API: test accuracy {accuracy:.4f}; saved and loaded back: "
          f"{'the same predictions' if same else 'DIFFERENT predictions'}")
    return same


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=100, help="training epochs (default 100)")
    args = parser.parse_args(argv)
    # registered here rather than where the classes are defined, so that importing this file
    # (as the tests do) changes no registry; `@register_layer` above a class works too
    register_layer(Swish)
    register_layer(LearnedSwish)
    with tempfile.TemporaryDirectory() as folder:
        from_the_config(args.epochs, folder)
        same = from_python(args.epochs, folder)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
