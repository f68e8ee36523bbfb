"""The text of model_torch.py: the exported network as a PyTorch nn.Sequential, ready to run.

The script is generated from the modules of torch_layout.to_torch, one `nn.` line per
layer at the same index as its weights (0.weight, 1, 2.weight, ...), loads the
safetensors file beside it with safetensors.torch.load_file, and reads the normalization
statistics, feature names and class names from the file's __metadata__, so `predict`
there gives what `python main.py predict` gives here.
"""

def _module_line(module):
    """The nn.Module constructor of one module description."""
    name = module["module"]
    if name == "Linear":
        bias = "" if module["bias"] else ", bias=False"
        return f"nn.Linear({module['in_features']}, {module['out_features']}{bias})"
    if name == "BatchNorm1d":
        return f"nn.BatchNorm1d({module['num_features']}, eps={module['eps']!r}, momentum={module['momentum']!r})"
    if name == "Dropout":
        return f"nn.Dropout(p={module['p']!r})"
    if name == "Softmax":
        return f"nn.Softmax(dim={module['dim']})"
    if name == "LeakyReLU":
        return f"nn.LeakyReLU(negative_slope={module['negative_slope']!r})"
    if name == "Embedding":
        return f"TokenEmbedding({module['num_embeddings']}, {module['embedding_dim']})"
    if name == "PositionwiseLinear":
        bias = "" if module["bias"] else ", bias=False"
        return f"PositionwiseLinear({module['in_features']}, {module['out_features']}{bias})"
    if name in ("RNN", "LSTM", "GRU"):
        options = f", nonlinearity={module['nonlinearity']!r}" if name == "RNN" else ""
        last = "" if module["return_sequences"] else ", return_sequences=False"
        return f"{name}Rows({module['input_size']}, {module['hidden_size']}{options}{last})"
    shape = f"input_shape={tuple(module['input_shape'])}" if "input_shape" in module else ""
    if name in ("Conv2d", "Conv1d"):
        bias = "" if module["bias"] else ", bias=False"
        return (f"{name}Rows({module['in_channels']}, {module['out_channels']}, {_size(module['kernel_size'])}, "
                f"stride={_size(module['stride'])}, padding={_size(module['padding'])}{bias}, {shape})")
    if name == "BatchNorm2d":
        return (f"BatchNorm2dRows({module['num_features']}, eps={module['eps']!r}, "
                f"momentum={module['momentum']!r}, {shape})")
    if name in ("MaxPool2d", "AvgPool2d", "MaxPool1d", "AvgPool1d"):
        return f"{name}Rows({_size(module['kernel_size'])}, stride={_size(module['stride'])}, {shape})"
    if name == "GlobalAvgPool":
        return f"GlobalAvgPool(channels={module['input_shape'][0]})"
    if name == "PositionEmbedding":
        return f"PositionEmbedding({module['context_length']}, {module['embedding_dim']})"
    if name in ("LayerNorm", "RMSNorm"):
        options = "" if module["elementwise_affine"] else ", elementwise_affine=False"
        if name == "LayerNorm" and module["elementwise_affine"] and not module["bias"]:
            options += ", bias=False"
        return f"{name}Rows({module['normalized_shape']}, eps={module['eps']!r}{options})"
    if name == "MultiheadAttention":
        options = ("" if module["bias"] else ", bias=False") + (", causal=True" if module["causal"] else "")
        return f"SelfAttentionRows({module['embed_dim']}, {module['num_heads']}{options})"
    if name == "Residual":  # its inner modules one per line, indented under it
        inner = "".join(f"\n    {_module_line(layer)}," for layer in module["layers"]).replace("\n", "\n        ")
        return f"Residual({inner}\n        )"
    return f"nn.{name}()"


def _module_names(modules):
    """The names of `modules` and of every module inside a Residual among them."""
    names = set()
    for module in modules:
        names.add(module["module"])
        names |= _module_names(module.get("layers", []))
    return names


def _size(value):
    """3 -> '3', [3, 3] -> '(3, 3)': a kernel, stride or padding as torch.nn takes it."""
    return repr(tuple(value)) if isinstance(value, list) else repr(value)


_ON_ROWS = ("Conv2d", "Conv1d", "BatchNorm2d", "MaxPool2d", "AvgPool2d", "MaxPool1d", "AvgPool1d")


# The modules the framework's sequence layers need: each takes and gives one row per sample,
# as the framework's layers do (torch's own take (n, T, D) tensors, and RNNs give a tuple).
_WRAPPERS = {
    "Embedding": '''

class TokenEmbedding(nn.Embedding):
    """nn.Embedding on rows of token ids (n, T), giving rows of T * D values (n, T * D)."""

    def forward(self, ids):
        return super().forward(ids.long()).flatten(1)
''',
    "PositionwiseLinear": '''

class PositionwiseLinear(nn.Linear):
    """nn.Linear at every time step: rows of T * in values (n, T * in) -> (n, T * out)."""

    def forward(self, x):
        return super().forward(x.reshape(x.shape[0], -1, self.in_features)).flatten(1)
''',
    "recurrent": '''

def rows_of(cell):
    """A batch-first nn.RNN, nn.LSTM or nn.GRU on rows of T * D values (n, T * D), giving every
    hidden state (n, T * H), or with return_sequences=False the last one (n, H)."""

    class Rows(cell):
        def __init__(self, input_size, hidden_size, return_sequences=True, **options):
            super().__init__(input_size, hidden_size, batch_first=True, **options)
            self.return_sequences = return_sequences

        def forward(self, x):
            output, _ = super().forward(x.reshape(x.shape[0], -1, self.input_size))
            return output.flatten(1) if self.return_sequences else output[:, -1]

    Rows.__name__ = cell.__name__ + "Rows"
    return Rows
''',
    "on_rows": '''

def on_rows(module):
    """A torch.nn image or sequence module on rows of C*H*W (or C*L) values: each row becomes
    a (C, H, W) image (or a (C, L) sequence), and the result a row again."""

    class Rows(module):
        def __init__(self, *args, input_shape, **options):
            super().__init__(*args, **options)
            self.input_shape = tuple(input_shape)

        def forward(self, x):
            return super().forward(x.reshape(x.shape[0], *self.input_shape)).flatten(1)

    Rows.__name__ = module.__name__ + "Rows"
    return Rows
''',
    "PositionEmbedding": '''

class PositionEmbedding(nn.Embedding):
    """x + weight[t] at every step t < T, as the framework's layer: rows (n, T * D) -> (n, T * D)."""

    def forward(self, x):
        return x + self.weight[:x.shape[1] // self.embedding_dim].reshape(1, -1)
''',
    "norms": '''

def per_step(norm):
    """nn.LayerNorm or nn.RMSNorm over each step's D values, on rows of T * D values (n, T * D)."""

    class Rows(norm):
        def forward(self, x):
            return super().forward(x.reshape(x.shape[0], -1, self.normalized_shape[0])).flatten(1)

    Rows.__name__ = norm.__name__ + "Rows"
    return Rows
''',
    "MultiheadAttention": '''

class SelfAttentionRows(nn.MultiheadAttention):
    """nn.MultiheadAttention with query = key = value = x, on rows of T * D values (n, T * D);
    causal=True hides later steps from each step (attn_mask: the upper triangle, True = hidden)."""

    def __init__(self, embed_dim, num_heads, bias=True, causal=False):
        super().__init__(embed_dim, num_heads, bias=bias, batch_first=True)
        self.causal = causal

    def forward(self, x):
        x = x.reshape(x.shape[0], -1, self.embed_dim)
        steps = x.shape[1]
        mask = torch.ones(steps, steps, dtype=torch.bool, device=x.device).triu(1) if self.causal else None
        output, _ = super().forward(x, x, x, attn_mask=mask, need_weights=False)
        return output.flatten(1)
''',
    "Residual": '''

class Residual(nn.Module):
    """x + layers(x): the inner modules run one after the other, and their output is added to x."""

    def __init__(self, *layers):
        super().__init__()
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.layers(x)
''',
    "GlobalAvgPool": '''

class GlobalAvgPool(nn.Module):
    """The mean of each channel: rows of C*H*W (or C*L) values -> (n, C)."""

    def __init__(self, channels):
        super().__init__()
        self.channels = channels

    def forward(self, x):
        return x.reshape(x.shape[0], self.channels, -1).mean(dim=2)
''',
}


_HEAD = {  # export.output_steps -> the line predict applies after the network
    "softmax": "output = torch.softmax(output, dim=1)  # the model outputs scores: softmax gives probabilities",
    "sigmoid": "output = torch.sigmoid(output)  # the model outputs a score: sigmoid gives a probability",
    "two_classes": "output = torch.cat([1 - output, output], dim=1)  # P(first class), P(second class)",
    "unscale": "output = output * stats['target_scale'] + stats['target_shift']  # back to the target's units",
}

_TEMPLATE = '''"""{script}: {model} as a PyTorch nn.Sequential, written by `python main.py export`.

    pip install torch safetensors{usage}

From Python:
    from {module_name} import load, predict
    model, stats = load()
    predict(model, stats, torch.tensor(rows, dtype=torch.{torch_dtype}))   # rows: raw feature values
"""

{imports}
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), {weights!r}){wrappers}


def build():
    """The network, one module per layer of {model}, at the index its weights have in the file."""
    return nn.Sequential(
{modules}
    )


def load(path=WEIGHTS):
    """(model, stats): the network with its weights, in evaluation mode and in the file's dtype,
    and what predict needs from the file's __metadata__ (normalization, names)."""
    state = load_file(path)
    dtype = next(t.dtype for t in state.values() if t.is_floating_point())
    model = build().to(dtype)
    model.load_state_dict(state)
    with safe_open(path, framework="pt") as f:
        meta = f.metadata() or {{}}
    stats = {{key: json.loads(value) for key, value in meta.items() if key in {json_keys!r}}}
    normalization = stats.get("normalization") or {{}}
    if normalization.get("method", "none") != "none":
        stats["shift"] = torch.tensor(normalization["shift"], dtype=dtype)
        stats["scale"] = torch.tensor(normalization["scale"], dtype=dtype)
    target = stats.get("target_normalization")
    if target:
        stats["target_shift"] = torch.tensor(target["shift"], dtype=dtype)
        stats["target_scale"] = torch.tensor(target["scale"], dtype=dtype)
    return model.eval(), stats


def predict(model, stats, x):
    """What `python main.py predict` computes for raw feature rows x (batch, features):
    {what}."""
    with torch.no_grad():
        if "shift" in stats:
            x = (x - stats["shift"]) / stats["scale"]  # the normalization fitted on the training rows
        output = model(x){head}
    return output
{command_line}'''

_COMMAND_LINE = '''

def read_rows(path, feature_names, dtype):
    """The feature columns of a CSV file (found by name, in any order) as a (rows, features) tensor."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = [name.strip() for name in next(reader)]
        columns = [header.index(name) for name in feature_names]
        rows = [[float(cells[c]) for c in columns] for cells in reader if cells]
    return torch.tensor(rows, dtype=dtype)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python {script} rows.csv")
    model, stats = load()
    x = read_rows(sys.argv[1], stats["feature_names"], next(model.parameters()).dtype)
    output = predict(model, stats, x)
    for row, values in enumerate(output.tolist(), 1):
{print_row}
'''

_PRINT_CLASS = ('        best = max(range(len(values)), key=values.__getitem__)\n'
                '        print(f"{row:>5}  {stats[\'class_names\'][best]}  {values[best]:.4f}")')
_PRINT_VALUES = '        print(f"{row:>5}  " + "  ".join(f"{v:.6g}" for v in values))'
JSON_KEYS = ("feature_names", "class_names", "normalization", "target_normalization", "task", "target")


def torch_script(modules, steps, task, weights_name, model_name, script_name, dtype="F32"):
    """The source of the script for the nn.Sequential `modules` (torch_layout.to_torch),
    applying the prediction head `steps` (export.output_steps)."""
    lines = []
    for index, module in enumerate(modules):
        first, newline, rest = (_module_line(module) + ",").partition("\n")  # a Residual takes several lines
        lines.append(f"        {first:<64}# {index}{newline}{rest}")
    head = "".join("\n        " + _HEAD[step] for step in steps)
    what = ("each class's probability, (batch, classes)" if task == "classification" else
            "the predicted values, (batch, targets)" if task == "regression" else "the network's output")
    module_name = script_name[:-3] if script_name.endswith(".py") else script_name
    names = _module_names(modules)
    pieces = [_WRAPPERS[name] for name in ("Embedding", "PositionEmbedding", "PositionwiseLinear") if name in names]
    cells = [name for name in ("RNN", "LSTM", "GRU") if name in names]
    if cells:
        pieces += [_WRAPPERS["recurrent"], "".join(f"{name}Rows = rows_of(nn.{name})\n" for name in cells)]
    reshaped = [name for name in _ON_ROWS if name in names]
    if reshaped:
        pieces += [_WRAPPERS["on_rows"], "".join(f"{name}Rows = on_rows(nn.{name})\n" for name in reshaped)]
    if "GlobalAvgPool" in names:
        pieces.append(_WRAPPERS["GlobalAvgPool"])
    norms = [name for name in ("LayerNorm", "RMSNorm") if name in names]
    if norms:
        pieces += [_WRAPPERS["norms"], "".join(f"{name}Rows = per_step(nn.{name})\n" for name in norms)]
    pieces += [_WRAPPERS[name] for name in ("MultiheadAttention", "Residual") if name in names]
    wrappers = "".join("\n\n\n" + piece.strip("\n") for piece in pieces)  # two blank lines between definitions
    # a model trained by `python main.py` knows its feature columns, so the script can read a CSV file
    command_line = "" if task is None else _COMMAND_LINE.format(
        script=script_name, print_row=_PRINT_CLASS if task == "classification" else _PRINT_VALUES)
    usage = "" if task is None else (f"\n    python {script_name} rows.csv        "
                                     "# one line per row, as `python main.py predict` prints it")
    return _TEMPLATE.format(script=script_name, model=model_name, module_name=module_name, weights=weights_name,
                            torch_dtype="float64" if dtype == "F64" else "float32", modules="\n".join(lines),
                            json_keys=JSON_KEYS, what=what, head=head, wrappers=wrappers,
                            command_line=command_line, usage=usage,
                            imports="import json\nimport os\n" if task is None else
                            "import csv\nimport json\nimport os\nimport sys\n")

