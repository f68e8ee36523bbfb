"""Do exported models give the same answers in PyTorch and ONNX Runtime? The measured differences.

    python bench/export_check.py                 # trains iris and digits with their configs (1-3 minutes)
    python bench/export_check.py --models DIR    # or uses DIR/iris.json and DIR/digits.json (python main.py)
    python bench/export_check.py --all           # breast cancer (one sigmoid unit) and diabetes (regression) too
    python bench/export_check.py --cnn           # and the digits CNN (configs/digits_cnn.json)

For each model: `python main.py export` in each format and dtype; model_torch.py (PyTorch)
and the ONNX graph (ONNX Runtime) run on 100 rows of the data set, and their outputs are
compared with what `python main.py predict` computes: the largest absolute difference of
a class probability (for diabetes, of a prediction relative to the largest one, since its
values are in the hundreds), and how many of the 100 predicted classes agree. Then a
network trained in PyTorch is imported (`python main.py import`) and compared the other way.

torch, safetensors, numpy, onnx and onnxruntime are needed here (pip install torch safetensors
onnxruntime); the framework itself needs none of them. A column is skipped when its package
is missing.
"""

import argparse
import contextlib
import copy
import importlib.util
import io
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import main  # noqa: E402
from app import pipeline  # noqa: E402
from app.config import load_config, validate_config  # noqa: E402
from datasets import Normalizer, load_csv  # noqa: E402
from network import Network  # noqa: E402
from utils import write_atomic  # noqa: E402

try:
    import torch
    from safetensors.torch import save_file
except ImportError:
    torch = None
try:
    import numpy
    import onnxruntime
except ImportError:
    onnxruntime = None

DATA = {"digits_cnn": "digits"}  # the data set of a config not named after it


def quiet_main(*argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main.main([str(a) for a in argv])
    if status:
        raise SystemExit(f"python main.py {' '.join(map(str, argv))} failed with status {status}")
    return out.getvalue()


def train(name, folder):
    """Train configs/NAME.json as `python main.py --config` would, saving the model in folder."""
    path = os.path.join(ROOT, "configs", name + ".json")
    config = copy.deepcopy(load_config(path))
    config["data"]["path"] = pipeline.resolve_path(config["data"]["path"], path)
    config = validate_config(config, path)
    network, _, scores = pipeline.train(config, verbose=False)
    model_path = os.path.join(folder, name + ".json")
    network.save(model_path)
    score = scores.get("accuracy", scores.get("r2"))
    print(f"trained {name}: test {'accuracy' if 'accuracy' in scores else 'r2'} {score:.4f}")
    return model_path


def rows_and_reference(model_path, name):
    """100 rows of the data set (spread over the file) and what predict computes for them."""
    network = Network.load(model_path)
    dataset, _, _ = pipeline.read_rows_for_model(os.path.join(ROOT, "data", DATA.get(name, name) + ".csv"),
                                           network.metadata)
    picked = [i * len(dataset.X) // 100 for i in range(100)]
    raw = dataset.X.take(picked)
    X = Normalizer.from_dict(network.metadata["normalization"]).transform(raw)
    if network.metadata["task"] == "classification":
        return raw.rows, pipeline.class_probabilities(network, X)
    return raw.rows, [list(row) for row in pipeline.predict_values(network, X).rows]


def compare(got, expected, regression):
    difference = max(abs(g - e) for got_row, row in zip(got, expected) for g, e in zip(got_row, row))
    if regression:
        return difference / max(abs(e) for row in expected for e in row), "-"
    same = sum(g.index(max(g)) == e.index(max(e)) for g, e in zip(got, expected))
    return difference, f"{same}/100"


def check_model(model_path, name, folder):
    rows, expected = rows_and_reference(model_path, name)
    regression = name == "diabetes"
    lines = []
    for dtype in ("float32", "float64"):
        if torch is not None:
            output = os.path.join(folder, f"{name}_{dtype}.safetensors")
            quiet_main("export", "--model", model_path, "--format", "pytorch", "--output", output, "--dtype", dtype)
            script_path = output[:-len(".safetensors")] + "_torch.py"
            spec = importlib.util.spec_from_file_location(f"{name}_{dtype}_torch", script_path)
            script = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(script)
            model, stats = script.load()
            torch_dtype = torch.float32 if dtype == "float32" else torch.float64
            got = script.predict(model, stats, torch.tensor(rows, dtype=torch_dtype)).tolist()
            lines.append((name, "PyTorch", dtype) + compare(got, expected, regression))
        if onnxruntime is not None:
            output = os.path.join(folder, f"{name}_{dtype}.onnx")
            quiet_main("export", "--model", model_path, "--format", "onnx", "--output", output, "--dtype", dtype)
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1
            try:
                session = onnxruntime.InferenceSession(output, options, providers=["CPUExecutionProvider"])
            except onnxruntime.capi.onnxruntime_pybind11_state.NotImplemented:  # no float64 Conv, LSTM, ...
                lines.append((name, "ONNX Runtime", dtype, float("nan"), "no kernel"))
                continue
            numpy_dtype = numpy.float32 if dtype == "float32" else numpy.float64
            got = session.run(["output"], {"input": numpy.array(rows, dtype=numpy_dtype)})[0].tolist()
            lines.append((name, "ONNX Runtime", dtype) + compare(got, expected, regression))
    return lines


def check_import(folder):
    """A two-layer network trained in PyTorch on iris, imported here; both predict the 150 rows."""
    dataset = load_csv(os.path.join(ROOT, "data", "iris.csv"), "species", task="classification")
    x = torch.tensor(dataset.X.rows, dtype=torch.float32)
    y = torch.tensor(dataset.labels)
    mean, std = x.mean(0), x.std(0, unbiased=False)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(300):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model((x - mean) / std), y).backward()
        optimizer.step()
    weights = os.path.join(folder, "trained_in_torch.safetensors")
    save_file(model.state_dict(), weights)
    arch = os.path.join(folder, "trained_in_torch_arch.json")
    write_atomic(arch, json.dumps({"modules": ["Linear", "ReLU", "Linear"], "task": "classification",
                                   "class_names": dataset.class_names, "feature_names": dataset.feature_names,
                                   "target": "species", "normalization": {"method": "zscore", "shift": mean.tolist(),
                                                                          "scale": std.tolist()}}))
    model_path = os.path.join(folder, "trained_in_torch.json")
    quiet_main("import", "--weights", weights, "--arch", arch, "--output", model_path)
    network = Network.load(model_path)
    X = Normalizer.from_dict(network.metadata["normalization"]).transform(dataset.X)
    ours = pipeline.class_probabilities(network, X)
    with torch.no_grad():
        theirs = torch.softmax(model((x - mean) / std), dim=1).tolist()
    difference, _ = compare(ours, theirs, False)
    same = sum(o.index(max(o)) == t.index(max(t)) for o, t in zip(ours, theirs))
    accuracy = sum(o.index(max(o)) == label for o, label in zip(ours, dataset.labels)) / len(ours)
    return difference, same, len(ours), accuracy


def main_check(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", metavar="DIR", help="use DIR/NAME.json instead of training")
    parser.add_argument("--all", action="store_true", help="breast cancer and diabetes too")
    parser.add_argument("--cnn", action="store_true", help="configs/digits_cnn.json too (training takes minutes)")
    args = parser.parse_args(argv)
    if torch is None and onnxruntime is None:
        raise SystemExit("neither torch nor onnxruntime is installed: nothing to compare with "
                         "(pip install torch safetensors onnxruntime)")
    names = ["iris", "digits"] + (["breast_cancer", "diabetes"] if args.all else []) + (["digits_cnn"] if args.cnn else [])
    with tempfile.TemporaryDirectory() as folder:
        lines = []
        for name in names:
            model_path = os.path.join(args.models, name + ".json") if args.models else train(name, folder)
            lines += check_model(model_path, name, folder)
        print(f"{'model':<14}{'runtime':<14}{'dtype':<9}{'max difference':>15}  {'same class':>10}")
        for name, runtime, dtype, difference, same in lines:
            print(f"{name:<14}{runtime:<14}{dtype:<9}{difference:>15.3g}  {same:>10}")
        if "diabetes" in names:
            print("(diabetes: the difference relative to the largest prediction)")
        if torch is not None:
            difference, same, count, accuracy = check_import(folder)
            print(f"imported from PyTorch (iris, Linear-ReLU-Linear, float32): max difference {difference:.3g}, "
                  f"same class {same}/{count}, accuracy here {accuracy:.4f}")


if __name__ == "__main__":
    main_check()
