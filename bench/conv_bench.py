"""Conv2D through im2col against a direct nested-loop convolution, and against Matrix @ on its products.

Called by bench/run.py (the "conv" rows; `python bench/run.py --conv` runs these rows alone).
The shapes are the Fashion-MNIST CNN's (demos/fashion_mnist.py, batch 32): 1x28x28 -> 8 channels
(3x3, padding 1), 2x2 max pool, 8x14x14 -> 16 channels (3x3, padding 1), pool. Two questions:
  * is im2col worth it? Conv2D forward + backward against the convolution written as loops over
    the same lists of floats (direct_forward / direct_backward below, the textbook's loops);
  * does the rearranging (im2col, regrouping) cost much beside the arithmetic? Conv2D against
    `Matrix @` alone on the products it reduces to, image by image, operands built beforehand:
        P @ W                  (H_out*W_out, K) @ (K, O)
        P.T @ dZ               (K, H_out*W_out) @ (H_out*W_out, O)
        dZ @ W.T               (H_out*W_out, O) @ (O, K)       (not for the first layer: no dX)
    as MFLOP/s, 2 * n*H_out*W_out * K * O flops per product, the same count for both sides.
The inputs and upstream gradients are the ones the demo's network sees: 32 images of the committed
Fashion-MNIST slice through the freshly initialized CNN (about half the pixels are zeros, and
85-90% of each convolution's dY, which comes back through a max pool and a ReLU): the targets
are checked on these. Each row is also timed with a dense random dY in place of the real one,
for information: the worst case for the layer, which skips dY's zeros.
"""
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run as a script: the framework's modules are one folder up
    sys.path.insert(0, ROOT)

from conv import Conv2D  # noqa: E402
from im2col import channel_rows, image_columns  # noqa: E402
from matrix import Matrix  # noqa: E402

TARGETS = {"vs_direct": 5.0, "vs_matmul": 0.8}


def direct_forward(images, weight, bias, C, H, W, O, k, pad):
    """Y[o, p, q] = b[o] + sum over c, i, j of weight[c*k*k + i*k + j][o] * x[c, p + i - pad, q + j - pad]."""
    H_out, W_out = H + 2 * pad - k + 1, W + 2 * pad - k + 1
    outputs = []
    for x in images:
        y = []
        for o in range(O):
            for p in range(H_out):
                for q in range(W_out):
                    total = bias[o]
                    for c in range(C):
                        for i in range(k):
                            r = p + i - pad
                            if 0 <= r < H:
                                base, row = (c * H + r) * W, (c * k + i) * k
                                for j in range(k):
                                    s = q + j - pad
                                    if 0 <= s < W:
                                        total += weight[row + j][o] * x[base + s]
                    y.append(total)
        outputs.append(y)
    return outputs


def direct_backward(images, grads, weight, C, H, W, O, k, pad, input_grad=True):
    """dW, db and (when input_grad) dX by the same loops: each term w * x sends dY * x to w, dY * w to x."""
    H_out, W_out = H + 2 * pad - k + 1, W + 2 * pad - k + 1
    d_weight = [[0.0] * O for _ in range(C * k * k)]
    d_bias = [0.0] * O
    d_images = []
    for x, g in zip(images, grads):
        dx = [0.0] * (C * H * W) if input_grad else None
        for o in range(O):
            for p in range(H_out):
                for q in range(W_out):
                    dy = g[(o * H_out + p) * W_out + q]
                    d_bias[o] += dy
                    for c in range(C):
                        for i in range(k):
                            r = p + i - pad
                            if 0 <= r < H:
                                base, row = (c * H + r) * W, (c * k + i) * k
                                for j in range(k):
                                    s = q + j - pad
                                    if 0 <= s < W:
                                        d_weight[row + j][o] += dy * x[base + s]
                                        if input_grad:
                                            dx[base + s] += dy * weight[row + j][o]
        d_images.append(dx)
    return d_images, d_weight, d_bias


def training_batch(n=32, seed=0):
    """[(layer, its input X, its upstream gradient dY, input_grad)] for the two Conv2D layers of the
    demo's CNN, from one forward and backward pass over the first n images of the committed slice."""
    from demos import fashion_mnist
    from layers import seed as seed_layers
    from losses import CrossEntropy
    seed_layers(seed)
    network = fashion_mnist.build_cnn(random.Random(seed))
    data = fashion_mnist.load_part(os.path.join(ROOT, "data", "fashion-mnist"), fashion_mnist.SLICE_PREFIX, "train")
    batch = list(range(n))
    loss = CrossEntropy()
    layers = network.training_layers(loss)
    inputs = [data.take(batch)]
    for layer in layers:
        inputs.append(layer.forward(inputs[-1], training=True))
    loss.forward(inputs[-1], data.targets.take(batch))
    grad, found = loss.backward(), []
    for index in range(len(layers) - 1, -1, -1):
        if isinstance(layers[index], Conv2D):
            found.append((layers[index], inputs[index], grad, index > 0))
        grad = layers[index].backward(grad, input_grad=index > 0)
    return found[::-1]


def zero_share(matrix):
    return sum(row.count(0.0) for row in matrix.rows) / (matrix.shape[0] * matrix.shape[1])


def conv_rows(bench):
    """The conv rows of bench/run.py's table, added to `bench` (a run.Bench)."""
    rng = random.Random(11)
    for number, (layer, x_batch, g_batch, input_grad) in enumerate(training_batch(), 1):
        geometry = layer.geometry
        C, H, W, O = geometry.channels, geometry.height, geometry.width, layer.out_channels
        weight, bias = layer.weight.value.rows, layer.bias.value.rows[0]
        positions, K = geometry.positions, geometry.patch_size
        label = "conv {}: {}x{}x{} -> {}, 3x3, padding 1{}".format(number, C, H, W, O,
                                                                 "" if input_grad else " (first layer: no dX)")
        dense_g = Matrix.from_rows([[rng.gauss(0.0, 1.0) for _ in range(O * positions)] for _ in g_batch.rows])
        for regime, g_all in (("dY as in training, {:.0%} zeros".format(zero_share(g_batch)), g_batch),
                              ("dense random dY", dense_g)):
            # ---- against the direct loops: a few images, the loops are slow
            n = 2 if bench.quick else 4
            x, g = x_batch[0:n], g_all[0:n]
            x_rows, g_rows = x.rows, g.rows

            def framework(x=x, g=g, input_grad=input_grad):
                layer.forward(x, training=True)
                layer.backward(g, input_grad=input_grad)

            def direct(x_rows=x_rows, g_rows=g_rows, input_grad=input_grad):
                direct_forward(x_rows, weight, bias, C, H, W, O, 3, 1)
                direct_backward(x_rows, g_rows, weight, C, H, W, O, 3, 1, input_grad)

            # the same numbers both ways, before timing them
            expected = direct_forward(x_rows, weight, bias, C, H, W, O, 3, 1)
            gap = max(abs(a - b) for ra, rb in zip(layer.forward(x).rows, expected) for a, b in zip(ra, rb))
            d_images, d_weight, _ = direct_backward(x_rows, g_rows, weight, C, H, W, O, 3, 1, input_grad)
            d_x = layer.backward(g, input_grad=input_grad)
            gap = max([gap] + [abs(a - b) for ra, rb in zip(layer.weight.grad.rows, d_weight) for a, b in zip(ra, rb)]
                      + ([abs(a - b) for ra, rb in zip(d_x.rows, d_images) for a, b in zip(ra, rb)] if input_grad else []))
            medians, ratios = bench.interleave([framework, direct], 5)
            speedup = 1.0 / ratios[1]
            if g_all is g_batch:  # the target is the training's; the dense dY is the worst case, for information
                target = bench.check("{} vs direct".format(label), speedup >= TARGETS["vs_direct"],
                                     ">= {:.0f}x direct".format(TARGETS["vs_direct"]))
            else:
                target = "worst case (no target)"
            bench.add("{}, forward + backward, {} images, {}".format(label, n, regime), "{:.3f} s".format(medians[0]),
                      "{:.3f} s (direct nested loops)".format(medians[1]), ratios[1],
                      "", "", "{}; im2col {:.1f}x faster; same Y, dW, dX to {:.0e}".format(target, speedup, gap))

            # ---- against Matrix @ on the products, image by image, at the training batch size
            n = 8 if bench.quick else len(x_batch)
            x, g = x_batch[0:n], g_all[0:n]
            operands = []
            for image, grad_row in zip(x.rows, g.rows):
                columns = image_columns(image, geometry)
                grad_z = Matrix.from_rows(channel_rows([grad_row], O), O)
                operands.append((Matrix.from_rows(list(zip(*columns)), K), Matrix.from_rows(columns, positions), grad_z))
            weight_matrix, weight_t = layer.weight.value, layer.weight.value.T

            def products(operands=operands, input_grad=input_grad):
                for patches, columns, grad_z in operands:
                    patches @ weight_matrix
                    columns @ grad_z
                    if input_grad:
                        grad_z @ weight_t

            def framework_batch(x=x, g=g, input_grad=input_grad):
                layer.forward(x, training=True)
                layer.backward(g, input_grad=input_grad)

            medians, ratios = bench.interleave([framework_batch, products], 5)
            flops = 2.0 * n * positions * K * O * (3 if input_grad else 2)
            share = 1.0 / ratios[1]  # framework MFLOP/s / products' MFLOP/s
            if g_all is g_batch:
                target = bench.check("{} vs Matrix @".format(label), share >= TARGETS["vs_matmul"],
                                     ">= {:.1f}x the products' MFLOP/s".format(TARGETS["vs_matmul"]))
            else:
                target = "worst case (no target)"
            bench.add("{}, batch of {}, {}: MFLOP/s".format(label, n, regime),
                      "{:.1f} MFLOP/s".format(flops / medians[0] / 1e6),
                      "{:.1f} MFLOP/s (Matrix @ on its {} products alone)".format(
                          flops / medians[1] / 1e6, 3 if input_grad else 2),
                      ratios[1], "", "", "{}; {:.2f}x".format(target, share))


def main(argv=None):
    """`python bench/conv_bench.py [--quick] [--output PATH]`: these rows alone (as bench/run.py --conv),
    optionally written as this interpreter's section of PATH (bench/RESULTS.md)."""
    import argparse
    import time
    import harness
    import run
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer images and repeats")
    parser.add_argument("--output", metavar="PATH", help="also write the table as a section of PATH")
    args = parser.parse_args(argv)
    bench = run.Bench(args.quick, wall=False)
    started = time.perf_counter()
    try:
        load = "{:.1f}".format(os.getloadavg()[0])
    except (AttributeError, OSError):
        load = "unknown"
    conv_rows(bench)
    name = "{} {}".format("PyPy" if sys.implementation.name == "pypy" else "CPython", sys.version.split()[0])
    rows = [[row[0], row[1], row[2], row[3], row[6]] for row in bench.rows]
    text = "\n".join([
        "## Conv2D through im2col (issue 11), {}".format(name), "",
        "`{} bench/conv_bench.py{}` on {}, load average {} at the start, {:.0f} s: medians of CPU seconds, the "
        "two sides alternating; a ratio is framework time / bar time (below 1.00 the framework is faster). "
        "The layers, inputs and gradients are the demo CNN's (bench/conv_bench.py).".format(
            "pypy3" if sys.implementation.name == "pypy" else "python", " --quick" if args.quick else "",
            harness.machine_description(), load, time.perf_counter() - started), "",
        harness.markdown_table(["benchmark", "framework", "bar", "framework time / bar time", "target"], rows, "{:.2f}"),
        "", "All targets hold." if not bench.failures else "Targets missed: {}.".format("; ".join(bench.failures))])
    print(text)
    if args.output:
        harness.write_section(args.output, text + "\n")
    return 0 if not bench.failures else 1


if __name__ == "__main__":
    sys.exit(main())
