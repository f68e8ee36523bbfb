"""Fashion-MNIST training speed: the demo's MLP and CNN, samples/s, beside PyTorch and NumPy.

    python bench/fashion_speed.py            # this interpreter's rows (PyTorch and NumPy when importable)
    python bench/run.py --fashion            # the same rows, through bench/run.py's table

The networks are demos/fashion_mnist.py's, trained as it trains them (Network.fit, Adam lr 0.001,
cross-entropy on softmax, the pixels kept as bytes and turned into floats in [0, 1] batch by batch):
    mlp   784 -> 256 -> 128 -> 100 -> 10, ReLU, batch 64
    cnn   Conv2D(1 -> 8, 3x3, pad 1) ReLU MaxPool 2 -> Conv2D(8 -> 16, 3x3, pad 1) ReLU MaxPool 2
          -> Dense(784 -> 64) ReLU -> Dense(64 -> 10), batch 32
on the first images of the slice committed in data/fashion-mnist/. A sample is one image through
forward, backward and the Adam step; samples/s = images of one epoch / CPU seconds of the epoch.

The bars, when importable (never required):
  * PyTorch, torch.set_num_threads(1): the same layers (nn.Conv2d, nn.MaxPool2d, nn.Linear,
    nn.CrossEntropyLoss, torch.optim.Adam), in float64 as the framework computes, and in float32,
    PyTorch's default;
  * NumPy (BLAS held to one thread): the same nets' forward and backward written by hand below,
    float64, the convolution as im2col (a strided view of the padded images) and one product.
They read the same images already as float arrays (for them converting a batch is negligible).
Ratios are bar samples/s / framework samples/s: how many times faster the compiled code trains.
"""
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for _path in (HERE, ROOT):
    if _path not in sys.path:
        sys.path.insert(0, _path)

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # one core against one core (before NumPy or torch loads BLAS)

import harness  # noqa: E402
from demos import fashion_mnist  # noqa: E402
from layers import seed as seed_layers  # noqa: E402
from losses import CrossEntropy  # noqa: E402
from optimizers import Adam  # noqa: E402

SLICE = os.path.join(ROOT, "data", "fashion-mnist")
PYPY = sys.implementation.name == "pypy"
# (model, batch size, images per timed epoch: CPython, PyPy); PyPy's JIT needs longer runs to settle
MODELS = [("mlp", 64, 512, 3000), ("cnn", 32, 128, 768)]


def load_slice(n):
    data = fashion_mnist.load_part(SLICE, fashion_mnist.SLICE_PREFIX, "train")
    return data.subset(range(n))


def framework_trainer(model, batch_size, data):
    """A callable that trains the demo's network one epoch over `data`, as the demo does."""
    seed_layers(0)
    hidden = fashion_mnist.DEFAULTS[model]["hidden"]
    network = fashion_mnist.MODELS[model](random.Random(0), hidden)
    loss, optimizer = CrossEntropy(), Adam(network.parameters(), lr=0.001)
    rng = random.Random(0)

    def epoch():
        network.fit(data, data.targets, loss, optimizer, epochs=1, batch_size=batch_size, rng=rng)
    return epoch


def float_images(data):
    """(pixels in [0, 1] as nested lists of shape `shape` per image, labels) for the bars."""
    rows = [[v / 255.0 for v in data.image(i)] for i in range(len(data))]
    return rows, list(data.labels)


# ---------------------------------------------------------------- PyTorch

def torch_network(torch, model):
    """The demo's network as a torch.nn.Sequential (PyTorch's default initialization)."""
    nn = torch.nn
    if model == "mlp":
        layers, width = [], 784
        for units in fashion_mnist.DEFAULTS["mlp"]["hidden"]:
            layers += [nn.Linear(width, units), nn.ReLU()]
            width = units
        return nn.Sequential(nn.Flatten(), *layers, nn.Linear(width, 10))
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))


def torch_trainer(model, batch_size, data, dtype_name):
    """One epoch of the same network in PyTorch, one thread; None when torch is not importable."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    dtype = getattr(torch, dtype_name)
    torch.manual_seed(0)
    network = torch_network(torch, model)
    network = network.to(dtype)
    rows, labels = float_images(data)
    images = torch.tensor(rows, dtype=dtype).reshape(len(rows), 1, 28, 28)
    targets = torch.tensor(labels, dtype=torch.long)
    optimizer = torch.optim.Adam(network.parameters(), lr=0.001)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(0)

    def epoch():
        order = torch.randperm(len(labels), generator=generator)
        for start in range(0, len(labels), batch_size):
            batch = order[start:start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(network(images[batch]), targets[batch])
            loss.backward()
            optimizer.step()
    return epoch


# ---------------------------------------------------------------- NumPy, by hand

def numpy_trainer(model, batch_size, data):
    """One epoch of the same network written by hand in NumPy (float64); None without NumPy."""
    try:
        import numpy as np
        from numpy.lib.stride_tricks import sliding_window_view
    except ImportError:
        return None
    rng = np.random.default_rng(0)
    rows, labels = float_images(data)
    images = np.array(rows).reshape(len(rows), 1, 28, 28)
    targets = np.array(labels)

    def he(fan_in, fan_out):
        return rng.normal(0.0, (2.0 / fan_in) ** 0.5, (fan_in, fan_out))

    if model == "mlp":
        widths = (784,) + tuple(fashion_mnist.DEFAULTS["mlp"]["hidden"]) + (10,)
        params = [p for a, b in zip(widths, widths[1:]) for p in (he(a, b), np.zeros(b))]
    else:  # conv weights as the framework keeps them: (C*3*3, O), row c*9 + i*3 + j
        params = [he(9, 8), np.zeros(8), he(72, 16), np.zeros(16), he(784, 64), np.zeros(64),
                  he(64, 10), np.zeros(10)]
    moments = [np.zeros_like(p) for p in params]
    squares = [np.zeros_like(p) for p in params]
    step = [0]

    def conv_forward(x, weight, bias):
        """3x3, padding 1, stride 1: x (n, C, H, W) -> (n, O, H, W), and the patches for backward."""
        n, C, H, W = x.shape
        padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        windows = sliding_window_view(padded, (3, 3), axis=(2, 3))  # (n, C, H, W, 3, 3), a view
        patches = windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * H * W, C * 9)
        out = patches @ weight + bias
        return out.reshape(n, H, W, -1).transpose(0, 3, 1, 2), patches

    def conv_backward(grad, patches, weight, shape, input_grad):
        n, C, H, W = shape
        grad_z = grad.transpose(0, 2, 3, 1).reshape(n * H * W, -1)
        d_weight, d_bias = patches.T @ grad_z, grad_z.sum(axis=0)
        if not input_grad:
            return None, d_weight, d_bias
        d_patches = (grad_z @ weight.T).reshape(n, H, W, C, 3, 3)
        d_padded = np.zeros((n, C, H + 2, W + 2))
        for i in range(3):
            for j in range(3):  # col2im: each kernel offset's entries go back to the pixels they came from
                d_padded[:, :, i:i + H, j:j + W] += d_patches[:, :, :, :, i, j].transpose(0, 3, 1, 2)
        return d_padded[:, :, 1:-1, 1:-1], d_weight, d_bias

    def pool_forward(x):
        """2x2 max pool; the gradient goes to the first maximum of each window, as PyTorch's."""
        n, C, H, W = x.shape
        windows = x.reshape(n, C, H // 2, 2, W // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, C, H // 2, W // 2, 4)
        first = windows.argmax(axis=4)
        return np.take_along_axis(windows, first[..., None], axis=4)[..., 0], first[..., None] == np.arange(4)

    def pool_backward(grad, mask):
        n, C, H, W = grad.shape
        windows = mask * grad[..., None]  # (n, C, H, W, 4)
        return windows.reshape(n, C, H, W, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, C, 2 * H, 2 * W)

    def softmax_cross_entropy_grad(logits, y):
        shifted = logits - logits.max(axis=1, keepdims=True)
        probabilities = np.exp(shifted)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        probabilities[np.arange(len(y)), y] -= 1.0
        return probabilities / len(y)

    def mlp_grads(x, y):
        x = x.reshape(len(x), -1)
        activations = [x]
        for index in range(0, len(params) - 2, 2):
            activations.append(np.maximum(activations[-1] @ params[index] + params[index + 1], 0.0))
        grad = softmax_cross_entropy_grad(activations[-1] @ params[-2] + params[-1], y)
        grads = [None] * len(params)
        for index in range(len(params) - 2, -1, -2):
            inputs = activations[index // 2]
            grads[index], grads[index + 1] = inputs.T @ grad, grad.sum(axis=0)
            if index:
                grad = (grad @ params[index].T) * (inputs > 0.0)
        return grads

    def cnn_grads(x, y):
        w1, b1, w2, b2, w3, b3, w4, b4 = params
        z1, patches1 = conv_forward(x, w1, b1)
        a1 = np.maximum(z1, 0.0)
        p1, mask1 = pool_forward(a1)
        z2, patches2 = conv_forward(p1, w2, b2)
        a2 = np.maximum(z2, 0.0)
        p2, mask2 = pool_forward(a2)
        flat = p2.reshape(len(x), -1)
        h = np.maximum(flat @ w3 + b3, 0.0)
        grad = softmax_cross_entropy_grad(h @ w4 + b4, y)
        dw4, db4 = h.T @ grad, grad.sum(axis=0)
        grad = (grad @ w4.T) * (h > 0.0)
        dw3, db3 = flat.T @ grad, grad.sum(axis=0)
        grad = pool_backward((grad @ w3.T).reshape(p2.shape), mask2) * (z2 > 0.0)
        grad, dw2, db2 = conv_backward(grad, patches2, w2, p1.shape, True)
        grad = pool_backward(grad, mask1) * (z1 > 0.0)
        _, dw1, db1 = conv_backward(grad, patches1, w1, x.shape, False)
        return [dw1, db1, dw2, db2, dw3, db3, dw4, db4]

    gradients = mlp_grads if model == "mlp" else cnn_grads

    def adam(grads, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        step[0] += 1
        t = step[0]
        for p, g, m, v in zip(params, grads, moments, squares):
            m *= beta1
            m += (1.0 - beta1) * g
            v *= beta2
            v += (1.0 - beta2) * g * g
            p -= lr * (m / (1.0 - beta1 ** t)) / (np.sqrt(v / (1.0 - beta2 ** t)) + eps)

    def epoch():
        order = rng.permutation(len(targets))
        for start in range(0, len(targets), batch_size):
            batch = order[start:start + batch_size]
            adam(gradients(images[batch], targets[batch]))
    epoch.params, epoch.gradients, epoch.images, epoch.targets = params, gradients, images, targets  # for checks
    return epoch


def check_bars():
    """Largest difference between the NumPy bar's gradients and PyTorch's (float64, same weights, one
    batch), per parameter: the bars do the same arithmetic. None when either is missing."""
    try:
        import numpy as np
        import torch
    except ImportError:
        return None
    data, differences = load_slice(32), {}
    for model in ("mlp", "cnn"):
        trainer = numpy_trainer(model, 32, data)
        mine = trainer.gradients(trainer.images, trainer.targets)
        network = torch_network(torch, model).to(torch.float64)
        linear = [m for m in network if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
        with torch.no_grad():
            for module, weight, bias in zip(linear, trainer.params[::2], trainer.params[1::2]):
                module.weight.copy_(torch.tensor(weight.T).reshape(module.weight.shape))
                module.bias.copy_(torch.tensor(bias))
        images = torch.tensor(trainer.images).reshape(len(trainer.targets), 1, 28, 28)
        torch.nn.CrossEntropyLoss()(network(images), torch.tensor(trainer.targets)).backward()
        theirs = [t for m in linear for t in (m.weight.grad.reshape(m.weight.shape[0], -1).T, m.bias.grad)]
        differences[model] = max(float(np.abs(a - b.numpy()).max()) for a, b in zip(mine, theirs))
    return differences


# ---------------------------------------------------------------- the rows

def interpreter():
    name = "PyPy" if PYPY else "CPython"
    return "{} {}".format(name, sys.version.split()[0])


def fashion_rows(bench, models=None):
    """Rows of samples/s for the demo's MLP and CNN on this interpreter, added to `bench` (a run.Bench)."""
    for model, batch_size, n_cpython, n_pypy in MODELS:
        if models and model not in models:
            continue
        n = n_pypy if PYPY else n_cpython
        if bench.quick:
            n //= 4
        data = load_slice(n)
        contenders = [("framework", framework_trainer(model, batch_size, data))]
        for label, make in (("PyTorch float64", lambda: torch_trainer(model, batch_size, data, "float64")),
                            ("PyTorch float32", lambda: torch_trainer(model, batch_size, data, "float32")),
                            ("NumPy float64", lambda: numpy_trainer(model, batch_size, data))):
            trainer = make()
            if trainer is not None:
                contenders.append((label, trainer))
        # the contenders alternating; a bar's epoch is short, so it runs several epochs per timed run
        medians, ratios = bench.interleave([fn for _, fn in contenders], 5, seconds=0.5)
        rates = [n / seconds for seconds in medians]
        shape = {"mlp": "784-256-128-100-10, batch 64", "cnn": "2 conv + 2 pool + 784-64-10, batch 32"}[model]
        label = "Fashion-MNIST {} training ({}), {} images, {}".format(model.upper(), shape, n, interpreter())
        bars = ["{} {:,.0f} samples/s ({:,.0f}x)".format(name, rate, ratio)
                for (name, _), rate, ratio in zip(contenders[1:], rates[1:], ratios[1:])]
        bench.add(label, "{:,.1f} samples/s".format(rates[0]), "; ".join(bars) or "PyTorch, NumPy not importable")


def load_average():
    try:
        return "{:.1f}".format(os.getloadavg()[0])
    except (AttributeError, OSError):
        return "unknown"


def main(argv=None):
    import argparse
    import run
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the images, fewer repeats")
    parser.add_argument("--model", choices=["mlp", "cnn"], action="append", help="only this model (repeatable)")
    parser.add_argument("--output", metavar="PATH",
                        help="also write the table as this interpreter's section of PATH (bench/RESULTS.md)")
    args = parser.parse_args(argv)
    bench = run.Bench(args.quick, wall=False)
    started, load = time.perf_counter(), load_average()
    fashion_rows(bench, args.model)
    differences = check_bars()
    lines = ["## Fashion-MNIST training speed (issue 11), {}".format(interpreter()), "",
             "`{} bench/fashion_speed.py{}` on {}, load average {} at the start; medians of CPU seconds of "
             "one epoch, the contenders alternating (bench/fashion_speed.py). In brackets: how many times more "
             "samples/s the bar trains than the framework.".format(
                 "pypy3" if PYPY else "python", " --quick" if args.quick else "", harness.machine_description(), load),
             "",
             harness.markdown_table(["benchmark", "framework", "bars (bar samples/s, and / framework samples/s)"],
                                    [row[:3] for row in bench.rows], "{:.2f}")]
    if differences:
        lines += ["", "The NumPy bar's gradients equal PyTorch's (float64, same weights, one batch) to: "
                  + ", ".join("{} {:.0e}".format(model, value) for model, value in differences.items()) + "."]
    text = "\n".join(lines) + "\n"
    print(text)
    print("whole run: {:.0f} s".format(time.perf_counter() - started))
    if args.output:
        harness.write_section(args.output, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
