"""Conv2D through im2col against a direct nested-loop convolution, and against Matrix @ on its products.

Called by bench/run.py (the "conv" rows; `python bench/run.py --conv` runs these rows alone).
The shapes are the Fashion-MNIST CNN's (demos/fashion_mnist.py, batch 32): 1x28x28 -> 8 channels
(3x3, padding 1), 2x2 max pool, 8x14x14 -> 16 channels (3x3, padding 1), pool. Two questions:
  * is im2col worth it? Conv2D forward + backward against the convolution written as loops over
    the same lists of floats (direct_forward / direct_backward below, the textbook's loops);
  * does the rearranging (im2col, regrouping, col2im) cost much beside the arithmetic? Conv2D
    against `Matrix @` alone on the products it reduces to, with operands built beforehand:
        P @ W                  (n*H_out*W_out, K) @ (K, O)
        P.T @ dZ               (K, n*H_out*W_out) @ (n*H_out*W_out, O), by blocks of Conv2D.BLOCK_ROWS
        dZ @ W.T               (n*H_out*W_out, O) @ (O, K)       (not for the first layer: no dX)
    as MFLOP/s, 2 * n*H_out*W_out * K * O flops per product.
Inputs are ReLU-like, with the share of exact zeros the real network sees (Fashion-MNIST
pixels: about half; after ReLU and pooling: about 40%); upstream gradients are dense.
"""
import random

from conv import BLOCK_ROWS, Conv2D
from im2col import channel_rows, image_columns, join_columns, patches_of
from matrix import Matrix

# (label, C, H, W, O, zero share of the input, input_grad): the Fashion-MNIST CNN's two convolutions
LAYERS = [("conv 1: 1x28x28 -> 8, 3x3, padding 1 (first layer: no dX)", 1, 28, 28, 8, 0.5, False),
          ("conv 2: 8x14x14 -> 16, 3x3, padding 1", 8, 14, 14, 16, 0.4, True)]
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


def relu_like(rng, n, size, zero_share):
    return [[0.0 if rng.random() < zero_share else rng.uniform(0.0, 1.0) for _ in range(size)] for _ in range(n)]


def conv_rows(bench):
    """The conv rows of bench/run.py's table, added to `bench` (a run.Bench)."""
    rng = random.Random(11)
    for label, C, H, W, O, zero_share, input_grad in LAYERS:
        layer = Conv2D(C, O, 3, padding=1, input_shape=(C, H, W), rng=rng)
        weight, bias = layer.weight.value.rows, layer.bias.value.rows[0]
        positions, K = H * W, C * 9

        # ---- against the direct loops: a few images, the loops are slow
        n = 2 if bench.quick else 4
        x_rows = relu_like(rng, n, C * H * W, zero_share)
        g_rows = [[rng.gauss(0.0, 1.0) for _ in range(O * positions)] for _ in range(n)]
        x, g = Matrix.from_rows(x_rows), Matrix.from_rows(g_rows)

        def framework(x=x, g=g, layer=layer, input_grad=input_grad):
            layer.forward(x, training=True)
            layer.backward(g, input_grad=input_grad)

        def direct(C=C, H=H, W=W, O=O, x_rows=x_rows, g_rows=g_rows, input_grad=input_grad):
            direct_forward(x_rows, weight, bias, C, H, W, O, 3, 1)
            direct_backward(x_rows, g_rows, weight, C, H, W, O, 3, 1, input_grad)

        # the same numbers both ways, before timing them
        expected = direct_forward(x_rows, weight, bias, C, H, W, O, 3, 1)
        gap = max(abs(a - b) for ra, rb in zip(layer.forward(x).rows, expected) for a, b in zip(ra, rb))
        medians, ratios = bench.interleave([framework, direct], 5)
        speedup = 1.0 / ratios[1]
        target = bench.check(label + " vs direct", speedup >= TARGETS["vs_direct"],
                             ">= {:.0f}x direct".format(TARGETS["vs_direct"]))
        bench.add("{}, forward + backward, {} images".format(label, n), "{:.3f} s".format(medians[0]),
                  "{:.3f} s (direct nested loops)".format(medians[1]), ratios[1],
                  "", "", "{}; im2col {:.1f}x faster; same outputs to {:.0e}".format(target, speedup, gap))

        # ---- against Matrix @ on the products, at the training batch size
        n = 8 if bench.quick else 32
        x = Matrix.from_rows(relu_like(rng, n, C * H * W, zero_share))
        g = Matrix.from_rows([[rng.gauss(0.0, 1.0) for _ in range(O * positions)] for _ in range(n)])
        geometry = layer.geometry
        columns = [image_columns(image, geometry) for image in x.rows]
        patches = Matrix.from_rows(patches_of(columns), K)
        grad_z = Matrix.from_rows(channel_rows(g.rows, O), O)
        per_block = max(1, BLOCK_ROWS // positions)
        blocks = [(Matrix.from_rows(join_columns(columns[s:s + per_block]), len(columns[s:s + per_block]) * positions),
                   grad_z[s * positions:(s + per_block) * positions]) for s in range(0, n, per_block)]
        weight_matrix, weight_t = layer.weight.value, layer.weight.value.T

        def products(patches=patches, blocks=blocks, grad_z=grad_z, weight_matrix=weight_matrix,
                     weight_t=weight_t, input_grad=input_grad):
            patches @ weight_matrix
            total = None
            for left, right in blocks:
                part = left @ right
                total = part if total is None else total + part
            if input_grad:
                grad_z @ weight_t

        def whole_batch_dw(patches_t=patches.T, grad_z=grad_z):
            patches_t @ grad_z

        def framework_batch(x=x, g=g, layer=layer, input_grad=input_grad):
            layer.forward(x, training=True)
            layer.backward(g, input_grad=input_grad)

        medians, ratios = bench.interleave([framework_batch, products], 5)
        flops = 2.0 * n * positions * K * O * (3 if input_grad else 2)
        share = 1.0 / ratios[1]  # framework MFLOP/s / products' MFLOP/s
        target = bench.check(label + " vs Matrix @", share >= TARGETS["vs_matmul"],
                             ">= {:.1f}x the products' MFLOP/s".format(TARGETS["vs_matmul"]))
        bench.add("{}, batch of {}: MFLOP/s".format(label, n), "{:.1f} MFLOP/s".format(flops / medians[0] / 1e6),
                  "{:.1f} MFLOP/s (Matrix @ on its {} products alone)".format(flops / medians[1] / 1e6,
                                                                               3 if input_grad else 2),
                  ratios[1], "", "", "{}; {:.2f}x".format(target, share))
        dw_medians, dw_ratios = bench.interleave([whole_batch_dw, lambda: [left @ right for left, right in blocks]], 3)
        bench.add("  its dW = P.T @ dZ as one product over the batch vs by blocks of {} patches".format(
                  per_block * positions), "{:.3f} s (one product)".format(dw_medians[0]),
                  "{:.3f} s (blocks, as Conv2D does)".format(dw_medians[1]), dw_ratios[1])
