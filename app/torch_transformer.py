"""The Transformer's layers as torch.nn modules, and back: entries of torch_layout's
TO_TORCH and FROM_TORCH, added when that module is imported.

    layer                       module (model_torch.py)          tensors (shape)
    PositionEmbedding(L, D)     PositionEmbedding(L, D): x + weight[:T] at every step
                                                                 i.weight (L, D), the same table
    LayerNorm(D), RMSNorm(D)    nn.LayerNorm / nn.RMSNorm(D, eps) over each step's D values
                                                                 i.weight (D,)  i.bias (D,) (LayerNorm)
    MultiHeadSelfAttention(D, H)  nn.MultiheadAttention(D, H, bias, batch_first=True) called with
                                query = key = value = x; causal: attn_mask the upper triangle
                                                                 i.in_proj_weight (3D, D) = W_in.T
                                                                 i.in_proj_bias (3D,)
                                                                 i.out_proj.weight (D, D) = W_out.T
                                                                 i.out_proj.bias (D,)
    Residual(layers)            Residual: x + layers(x), the inner modules an nn.Sequential
                                named `layers`                   i.layers.j.<inner module j's tensors>

The attention's q, k, v blocks keep their order (PyTorch's in_proj_weight is [W_q; W_k; W_v]
stacked by rows, ours [W_q | W_k | W_v] side by side), so one transpose maps either way.
The ONNX export does not take these layers yet.
"""

import random

from attention import MultiHeadSelfAttention
from normalization import LayerNorm, RMSNorm
from transformer import PositionEmbedding, Residual

from app import torch_layout
from app.safetensors_io import Tensor
from app.torch_layout import (LayoutError, _agree, _flag, _layer, _matrix, _number, _row, transpose_flat,
                               untranspose_flat)


# ------------------------------------------------------- framework -> torch
def _position_embedding(layer, dtype):
    module = {"module": "PositionEmbedding", "context_length": layer.context_length,
              "embedding_dim": layer.embedding_dim}
    rows = layer.weight.value.rows
    return module, {"weight": Tensor(dtype, (layer.context_length, layer.embedding_dim),
                                     [v for row in rows for v in row])}


def _layer_norm(layer, dtype):
    kind = type(layer).__name__
    module = {"module": kind, "normalized_shape": layer.features, "eps": layer.eps,
              "elementwise_affine": layer.weight is not None}
    if kind == "LayerNorm":
        module["bias"] = layer.bias is not None
    tensors = {}
    if layer.weight is not None:
        tensors["weight"] = Tensor(dtype, (layer.features,), _row(layer.weight.value))
    if layer.bias is not None:
        tensors["bias"] = Tensor(dtype, (layer.features,), _row(layer.bias.value))
    return module, tensors


def _attention(layer, dtype):
    size = layer.embed_dim
    module = {"module": "MultiheadAttention", "embed_dim": size, "num_heads": layer.num_heads,
              "bias": layer.in_proj_bias is not None, "causal": layer.causal}
    tensors = {"in_proj_weight": Tensor(dtype, (3 * size, size), transpose_flat(layer.in_proj_weight.value.rows))}
    if layer.in_proj_bias is not None:
        tensors["in_proj_bias"] = Tensor(dtype, (3 * size,), _row(layer.in_proj_bias.value))
    tensors["out_proj.weight"] = Tensor(dtype, (size, size), transpose_flat(layer.out_proj_weight.value.rows))
    if layer.out_proj_bias is not None:
        tensors["out_proj.bias"] = Tensor(dtype, (size,), _row(layer.out_proj_bias.value))
    return module, tensors


def _residual(layer, dtype):
    """x + f(x): the inner layers as an nn.Sequential named `layers`, their tensors under
    "layers.<j>." (so the whole model's keys read "<i>.layers.<j>.weight")."""
    modules, tensors = [], {}
    for index, inner in enumerate(layer.layers):
        module, inner_tensors = torch_layout.layer_module(inner, f"layer {index} of {layer!r}", dtype)
        modules.append(module)
        tensors.update({f"layers.{index}.{name}": tensor for name, tensor in inner_tensors.items()})
    return {"module": "Residual", "layers": modules}, tensors


# ------------------------------------------------------- torch -> framework
def _position_from(spec, take, where):
    weight = take("weight", 2)
    length, dim = weight.shape
    _agree(spec, where, "weight", weight.shape, (("context_length", length), ("embedding_dim", dim)),
           "context_length, embedding_dim")
    layer = PositionEmbedding(length, dim, rng=random.Random(0))  # the weights replace its draws
    layer.weight.value = _matrix([weight.values[t * dim:(t + 1) * dim] for t in range(length)], where + ".weight")
    return layer


def _norm_from(spec, take, where):
    kind = spec["module"]
    affine = _flag(spec, "elementwise_affine", True, where)
    stated = spec.get("normalized_shape")
    if isinstance(stated, list) and len(stated) == 1:  # torch keeps normalized_shape as a tuple
        stated = stated[0]
    weight = take("weight", 1) if affine else None
    features = weight.shape[0] if weight is not None else stated
    if stated is not None and stated != features:
        raise LayoutError(f"{where}: the architecture says normalized_shape {spec['normalized_shape']!r}, but "
                          f"weight has shape {list(weight.shape)}")
    if features is None:
        raise LayoutError(f"{where}: {kind} without a weight needs normalized_shape in the architecture")
    eps = _number(spec.get("eps", 1e-5), where + ".eps", positive=True)
    if kind == "RMSNorm":
        layer = _layer(RMSNorm, where, features, eps, affine)
    else:
        has_bias = affine and _flag(spec, "bias", True, where)
        bias = take("bias", 1, (features,), optional="bias" not in spec) if has_bias else None
        layer = _layer(LayerNorm, where, features, eps, affine, bias is not None)
        if bias is not None:
            layer.bias.value = _matrix([bias.values], where + ".bias")
    if weight is not None:
        layer.weight.value = _matrix([weight.values], where + ".weight")
    return layer


def _attention_from(spec, take, where):
    weight = take("in_proj_weight", 2)
    width, size = weight.shape
    if width != 3 * size:
        raise LayoutError(f"{where}: in_proj_weight has shape {list(weight.shape)}, but self-attention needs "
                          f"(3 * embed_dim, embed_dim)")
    if spec.get("embed_dim", size) != size:
        raise LayoutError(f"{where}: the architecture says embed_dim {spec['embed_dim']!r}, but in_proj_weight "
                          f"has shape {list(weight.shape)}")
    if "num_heads" not in spec:
        raise LayoutError(f"{where}: MultiheadAttention needs num_heads in the architecture")
    bias = _flag(spec, "bias", True, where)
    in_bias = take("in_proj_bias", 1, (width,), optional="bias" not in spec) if bias else None
    out_weight = take("out_proj.weight", 2, (size, size))
    out_bias = take("out_proj.bias", 1, (size,), optional=in_bias is None) if bias else None
    if (in_bias is None) != (out_bias is None):
        raise LayoutError(f"{where}: in_proj_bias and out_proj.bias must both be there or both be absent")
    layer = _layer(MultiHeadSelfAttention, where, size, spec["num_heads"], causal=_flag(spec, "causal", False, where),
                   bias=in_bias is not None, rng=random.Random(0))
    layer.in_proj_weight.value = _matrix(untranspose_flat(weight.values, size, width), where + ".in_proj_weight")
    layer.out_proj_weight.value = _matrix(untranspose_flat(out_weight.values, size, size), where + ".out_proj.weight")
    if in_bias is not None:
        layer.in_proj_bias.value = _matrix([in_bias.values], where + ".in_proj_bias")
        layer.out_proj_bias.value = _matrix([out_bias.values], where + ".out_proj.bias")
    return layer


def _residual_from(spec, take, where):
    inner = spec.get("layers")
    if not isinstance(inner, list) or not inner:
        raise LayoutError(f"{where}: Residual needs \"layers\", a non-empty list of modules")
    layers = []
    for index, inner_spec in enumerate(inner):
        inner_where = f"{where}, inner module {index}"
        inner_spec = torch_layout.module_spec(inner_spec, inner_where)

        def inner_take(name, *args, index=index, **options):  # the tensors "<i>.layers.<index>.<name>"
            return take(f"layers.{index}.{name}", *args, **options)

        layers.append(torch_layout.FROM_TORCH[inner_spec["module"]][1](inner_spec, inner_take, inner_where))
    return _layer(Residual, where, layers)


torch_layout.TO_TORCH.update({
    "PositionEmbedding": _position_embedding,
    "LayerNorm": _layer_norm,
    "RMSNorm": _layer_norm,
    "MultiHeadSelfAttention": _attention,
    "Residual": _residual,
})
torch_layout.FROM_TORCH.update({
    "PositionEmbedding": (("context_length", "embedding_dim"), _position_from),
    "LayerNorm": (("normalized_shape", "eps", "elementwise_affine", "bias"), _norm_from),
    "RMSNorm": (("normalized_shape", "eps", "elementwise_affine"), _norm_from),
    "MultiheadAttention": (("embed_dim", "num_heads", "bias", "causal"), _attention_from),
    "Residual": (("layers",), _residual_from),
})
