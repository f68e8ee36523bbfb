"""`python main.py export` and `python main.py import`: a model to and from PyTorch and ONNX.

    export --format safetensors   the weights, under PyTorch's state_dict keys and layouts
                                  (torch_layout.py), float32 or float64, with a __metadata__
                                  that keeps everything prediction needs (below)
    export --format pytorch       the same file and model_torch.py beside it (torch_script.py)
    export --format onnx          an ONNX model of the whole prediction (onnx_export.py)
    import                        a safetensors file of an nn.Sequential -> a model file here

__metadata__ (strings only, as the format demands): "format" and "format_version" (this
framework's), "dtype", "architecture" (the JSON list of modules, so that `import` needs
nothing else for a file exported here), and each entry of the model's metadata as JSON:
"task", "feature_names", "target", "class_names", "normalization",
"target_normalization", "config".

What `predict` reports is the network's output followed by a short head (output_steps):
a softmax (or sigmoid) for a classifier whose last layer gives scores, [1 - p, p] for a
single sigmoid unit, and y * scale + shift for a regression target normalized in training.
The PyTorch script and the ONNX graph apply the same head, so all three give the same
probabilities and values.
"""

import json
import os

from app import onnx_export, pipeline, safetensors_io
from app.torch_layout import FROM_TORCH, LayoutError, from_torch, to_torch
from app.torch_script import torch_script
from network import FORMAT_NAME, FORMAT_VERSION, ModelFileError, Network
from utils import InputError, check_writable, read_json, write_atomic

FORMATS = ("safetensors", "pytorch", "onnx")
DTYPES = {"float32": "F32", "float64": "F64"}
_FILE_KEYS = ("format", "format_version", "dtype", "architecture")
# the keys of an architecture file for `import` (all but "modules" optional)
ARCH_KEYS = ("modules", "task", "feature_names", "target", "class_names", "normalization",
             "target_normalization", "delimiter")


class ExportError(InputError):
    """An export or import that cannot be done as asked; one line naming the file and the reason."""


# ---------------------------------------------------------------- metadata
def file_metadata(network, modules, dtype):
    """The __metadata__ of an exported file: {str: str} (see the module docstring)."""
    meta = {key: json.dumps(value, ensure_ascii=False, allow_nan=False) for key, value in network.metadata.items()
            if key not in _FILE_KEYS}
    meta.update({"format": FORMAT_NAME, "format_version": str(FORMAT_VERSION), "dtype": dtype,
                 "architecture": json.dumps(modules)})
    return meta


def output_steps(metadata, network):
    """The head that turns the network's output into what predict reports, as step names:
    "softmax", "sigmoid", "two_classes" (one sigmoid unit -> [1 - p, p]), "unscale" (the target's units).
    A model without metadata (built in Python and saved) gets no head: its output as it is."""
    task, last = metadata.get("task"), network.layers[-1].name
    n_outputs = network.shapes[-1][0] if network.shapes[-1] else None
    steps = []
    if task == "classification":
        if last not in ("softmax", "sigmoid"):
            steps.append("sigmoid" if n_outputs == 1 else "softmax")
        if n_outputs == 1:
            steps.append("two_classes")
    elif task == "regression" and metadata.get("target_normalization"):
        steps.append("unscale")
    return steps


# ------------------------------------------------------------------ export
def default_output(model_path, fmt):
    """model.json -> model.safetensors (safetensors, pytorch) or model.onnx."""
    stem = os.path.splitext(model_path)[0]
    return stem + (".onnx" if fmt == "onnx" else ".safetensors")


def script_path(output):
    """model.safetensors -> model_torch.py beside it."""
    return os.path.splitext(output)[0] + "_torch.py"


def export_files(network, fmt, output, dtype="float32", model_name="model.json"):
    """{path: bytes or text} of every file an export writes, all built before any is written."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    if dtype not in DTYPES:
        raise ExportError(f"unknown dtype {dtype!r}; valid: {', '.join(DTYPES)}")
    dtype = DTYPES[dtype]
    try:
        modules, state = to_torch(network, dtype)
        meta = file_metadata(network, modules, dtype)
        steps = output_steps(network.metadata, network)
        if fmt == "onnx":
            return {output: onnx_export.onnx_model(network, steps, meta, dtype)}
        files = {output: safetensors_io.encode(state, meta)}
    except (LayoutError, safetensors_io.SafetensorsError) as error:
        raise ExportError(f"{model_name}: {error}") from None
    if fmt == "pytorch":
        script = script_path(output)
        files[script] = torch_script(modules, steps, network.metadata.get("task"), os.path.basename(output),
                                     os.path.basename(model_name), os.path.basename(script), dtype)
    return files


def check_outputs(outputs, inputs):
    """Every output can be written and none is an input (which writing would destroy) or another output."""
    taken = {os.path.realpath(path): what for what, path in inputs}
    for path in outputs:
        check_writable(path)
        real = os.path.realpath(path)
        if real in taken:
            raise ExportError(f"{path} is also {taken[real]}, which would be overwritten; choose another --output")
        taken[real] = "another output"


def write_files(files):
    for path, content in files.items():
        write_atomic(path, content)


def run_export(args):
    """python main.py export --model model.json --format onnx [--output model.onnx] [--dtype float64]"""
    output = args.output or default_output(args.model, args.format)
    network = Network.load(args.model)
    if "task" in network.metadata:  # a model trained by `python main.py`, not a demo's or one built in Python
        pipeline.check_model_metadata(network, args.model)
    files = export_files(network, args.format, output, args.dtype, args.model)
    check_outputs(list(files), [("the model (--model)", args.model)])
    write_files(files)
    for path in files:
        print(f"wrote {path}")


def export_arguments(parser):
    parser.add_argument("--model", required=True, metavar="PATH", help="a model saved by python main.py")
    parser.add_argument("--format", required=True, choices=FORMATS,
                        help="safetensors: the weights under PyTorch's state_dict keys; pytorch: the same and a "
                             "model_torch.py that loads them; onnx: the whole prediction as an ONNX graph")
    parser.add_argument("--output", metavar="PATH",
                        help="where to write (default: the model's name with .safetensors or .onnx)")
    parser.add_argument("--dtype", choices=tuple(DTYPES), default="float32",
                        help="the weights' type (default float32, as PyTorch; float64 keeps every bit)")
    return parser


# ------------------------------------------------------------------ import
def _decode_file_metadata(meta, source):
    """The model metadata and architecture a file exported here carries (empty for other files)."""
    if meta.get("format") == FORMAT_NAME:
        version = meta.get("format_version", "")
        if not version.isdigit():
            raise ExportError(f"{source}: __metadata__ format_version must be a whole number, got {version[:40]!r}")
        if int(version) > FORMAT_VERSION:
            raise ExportError(f"{source}: written by a newer version of this framework (format {version}; "
                              f"this one reads up to {FORMAT_VERSION})")
    if meta.get("format") != FORMAT_NAME:
        return {}  # another program's metadata (safetensors.torch writes {"format": "pt"}) is not ours to read
    decoded = {}
    for key, text in meta.items():
        if key not in ("format", "format_version", "dtype"):
            try:
                decoded[key] = json.loads(text)
            except ValueError:
                raise ExportError(f"{source}: __metadata__ {key!r:.60} is not valid JSON") from None
    return decoded


def _read_architecture(path):
    arch = read_json(path, "architecture", ExportError)
    if isinstance(arch, list):
        arch = {"modules": arch}
    if not isinstance(arch, dict) or "modules" not in arch:
        raise ExportError(f"{path}: an architecture file is a list of modules, or an object with \"modules\" "
                          "(and optionally task, feature_names, target, class_names, normalization)")
    unknown = sorted(set(arch) - set(ARCH_KEYS))
    if unknown:
        raise ExportError(f"{path}: unknown key {unknown[0]!r:.40}; valid: {', '.join(ARCH_KEYS)}")
    return arch


def complete_metadata(given, network):
    """Metadata that prediction needs, filling what an architecture file left out:
    task       "classification" when class_names are given or the last module is Softmax or
               Sigmoid, otherwise "regression"
    feature_names  x1, x2, ...     target  "target"     class_names  "0", "1", ...
    normalization  none (the inputs go in as they are)"""
    n_inputs = network.layers[0].input_shape[0]
    n_outputs = network.shapes[-1][0]
    meta = dict(given)
    if "task" not in meta:
        classifier = "class_names" in meta or network.layers[-1].name in ("softmax", "sigmoid")
        meta["task"] = "classification" if classifier else "regression"
    meta.setdefault("feature_names", [f"x{i}" for i in range(1, n_inputs + 1)])
    meta.setdefault("target", "target")
    if meta["task"] == "classification":
        meta.setdefault("class_names", [str(i) for i in range(max(n_outputs, 2))])
    meta.setdefault("normalization", {"method": "none", "shift": [0.0] * n_inputs, "scale": [1.0] * n_inputs})
    meta.setdefault("target_normalization", None)
    delimiter = meta.pop("delimiter", ",")
    meta.setdefault("config", {"data": {"delimiter": delimiter}})
    return meta


def import_network(weights_path, arch_path=None):
    """A Network from a safetensors file of an nn.Sequential, with its architecture from
    arch_path (a JSON file, see _read_architecture) or, for a file exported here, from the
    file's own __metadata__. Every tensor must be used with the shape the architecture implies."""
    state, meta = safetensors_io.read(weights_path)
    given = _decode_file_metadata(meta, weights_path)
    modules = given.pop("architecture", None)
    if arch_path is not None:
        arch = _read_architecture(arch_path)
        modules = arch.pop("modules")
        given.update(arch)
    elif modules is None:
        raise ExportError(f"{weights_path}: carries no architecture (it was not exported by this framework); "
                          "describe its nn.Sequential in a JSON file and pass it with --arch (see README), e.g. "
                          '["Linear", "ReLU", "Linear"]')
    layers = from_torch(modules, state, weights_path)
    try:
        network = Network(layers)
    except ValueError as error:  # the modules' sizes do not connect
        raise ExportError(f"{weights_path}: the architecture does not fit together: {error}") from None
    own_file = arch_path is None  # exported here: its metadata comes back exactly as it was
    if not own_file and network.layers[0].input_shape is not None:  # a first layer of known width: Linear
        given = complete_metadata(given, network)
    network.metadata = given
    if "task" in given:  # what predict and evaluate need must be there and fit the network
        try:
            pipeline.check_model_metadata(network, arch_path or weights_path)
        except ModelFileError as error:
            raise ExportError(str(error)) from None
    return network


def run_import(args):
    """python main.py import --weights model.safetensors [--arch arch.json] --output model.json"""
    inputs = [("the weights (--weights)", args.weights)] + ([("the architecture (--arch)", args.arch)]
                                                           if args.arch else [])
    check_outputs([args.output], inputs)
    network = import_network(args.weights, args.arch)
    network.save(args.output)
    print(network.summary())
    print(f"model saved to {args.output}")


def import_arguments(parser):
    parser.add_argument("--weights", required=True, metavar="PATH",
                        help="a safetensors file: the state_dict of an nn.Sequential (0.weight, 0.bias, 2.weight, ...)")
    parser.add_argument("--arch", metavar="JSON",
                        help="its architecture: a JSON list of modules such as [\"Linear\", \"ReLU\", \"Linear\"], "
                             "or an object with \"modules\" and the task, feature_names, class_names, normalization "
                             "(not needed for a file exported here; supported modules: "
                             f"{', '.join(sorted(FROM_TORCH))})")
    parser.add_argument("--output", required=True, metavar="PATH", help="where to save the model (JSON)")
    return parser
