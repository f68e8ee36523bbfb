"""The names ladder: character-level models of 32,033 first names, from a bigram table up.

    python demos/names.py --model gru                  train, print the test loss and 20 new names
    python demos/names.py --model bigram               also prints the exact count-based loss
    python demos/names.py sample --model names_gru.json -n 20     sample again from a saved model

The models (--model): bigram, mlp (Bengio et al., 2003), rnn, lstm, gru, and the
attention models registered in MODELS below. Each trains with its defaults in at
most 30 minutes of one core, shows a progress bar, prints the test loss and 20
sampled names, and saves itself (names_<model>.json, or --out).

Data. data/names.txt (makemore, MIT; see data/README.md), one lowercase name per
line. Characters are the tokens, and one more token, ".", id 0, marks both the
start and the end of a name: 27 tokens. The split is fixed: the names are shuffled
by random.Random(42) (SPLIT_SEED), the first 1,000 of that order are the test set
and the other 31,033 train; --seed changes the initial weights and the batches,
never the split.

Test loss: the mean negative log-likelihood, in nats, of every character of every
test name given the characters before it, the end token included (so "emma" scores
5 predictions: e, m, m, a and the end). exp(loss) is the perplexity per character.

How a model reads a name (`reads` in MODELS):
  window     the last `context` tokens before a position (start tokens before the
             name begins) predict the next one: one example per predicted character
             (the MLP). Input (n, context) ids, output (n, 27) logits.
  sequence   the whole name, start token first, predicts every next token at once:
             input (n, T) ids, output (n, T * 27) logits, the targets are the name's
             characters then the end token, and padding past the end of a shorter
             name in the batch is ignored by the loss (ignore_index -1). T is the
             longest name of the batch plus one (at most `context`).

Adding a model: write a builder, build(options, vocabulary_size) -> list of layers,
and register it with register_model(name, reads, builder, help, **defaults); the
defaults name every option it takes (OPTIONS) and its training settings.
"""

import argparse
import math
import os
import random
import sys
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from activations import Tanh  # noqa: E402  (needs the repo root on sys.path)
from layers import Dense, seed as seed_layers  # noqa: E402
from matrix import Matrix  # noqa: E402
from network import Network  # noqa: E402
from recurrent import GRU, LSTM, RNN  # noqa: E402
from sequence import Embedding, PositionwiseDense  # noqa: E402
from utils import InputError, check_writable  # noqa: E402
from app.arguments import number, whole_number  # noqa: E402
from demos.names_training import (IGNORE, SCHEDULES, ProgressBar, clip_gradients,  # noqa: E402,F401 (re-exported)
                                  learning_rate, test_loss, train)
from demos.names_transformer import TINY_GPT, build_tiny_gpt, build_transformer  # noqa: E402

DATA_PATH = os.path.join(REPO_ROOT, "data", "names.txt")
VOCABULARY = ".abcdefghijklmnopqrstuvwxyz"  # id 0, ".", marks both the start and the end of a name
END = 0
SPLIT_SEED = 42
TEST_NAMES = 1000
MAX_SAMPLE_LENGTH = 30  # a sampled name stops here if it never draws the end token


class CommandLineError(InputError):
    """A mistake on the command line or in the names file: reported on one line, exit status 2."""


# --------------------------------------------------------------------- data
def load_names(path=DATA_PATH):
    """The names of the file, one per line, checked to use only the 26 lowercase letters."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except OSError as error:
        raise CommandLineError(f"{path}: cannot read the names ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise CommandLineError(f"{path}: not a UTF-8 text file") from None
    names = []
    for line_number, line in enumerate(lines, 1):
        name = line.strip()
        if not name:
            continue
        bad = [c for c in name if c not in VOCABULARY[1:]]
        if bad:
            raise CommandLineError(f"{path}, line {line_number}: {bad[0]!r} is not a lowercase letter a-z")
        names.append(name)
    if len(names) <= TEST_NAMES:
        raise CommandLineError(f"{path}: {len(names)} names, need more than the {TEST_NAMES} held out for testing")
    return names


def split_names(names):
    """(train, test): shuffled by random.Random(SPLIT_SEED), the first TEST_NAMES of that order test."""
    order = list(range(len(names)))
    random.Random(SPLIT_SEED).shuffle(order)
    return [names[i] for i in order[TEST_NAMES:]], [names[i] for i in order[:TEST_NAMES]]


def encode(name):
    """'emma' -> [5, 13, 13, 1]."""
    return [VOCABULARY.index(c) for c in name]


def decode(ids):
    return "".join(VOCABULARY[i] for i in ids)


def window_examples(names, context):
    """Every (last `context` tokens, next token) pair of the names, start tokens padding the front."""
    inputs, targets = [], []
    for name in names:
        window = [END] * context
        for token in encode(name) + [END]:
            inputs.append(window)
            targets.append(token)
            window = window[1:] + [token]
    return inputs, targets


class WindowData:
    """Examples for a model that reads a window of `context` tokens (the MLP)."""

    def __init__(self, names, context):
        self.inputs, self.targets = window_examples(names, context)
        self.context = context

    def batch(self, indices):
        rows = [self.inputs[i] for i in indices]
        return Matrix.from_rows(rows, self.context), [[self.targets[i]] for i in indices]

    def random_batch(self, rng, size):
        return self.batch([rng.randrange(len(self.targets)) for _ in range(size)])

    def all_batches(self, size):
        for start in range(0, len(self.targets), size):
            yield self.batch(range(start, min(start + size, len(self.targets))))


class SequenceData:
    """Whole names for a model that reads a sequence: input '.' + name, targets name + '.'.

    A training batch holds names of ONE length (a random name picks the length, then the
    batch is drawn from the names of that length): no padding, so a recurrent layer runs
    T = length + 1 steps instead of the batch's longest name's (about 1.5 times fewer on
    average). Every name is still drawn with the same probability, so the expected
    gradient is that of uniform batches; evaluation uses mixed lengths and the padding.
    """

    def __init__(self, names, context):
        self.encoded = [encode(name)[:context - 1] for name in names]
        self.context = context
        self.by_length = {}
        for index, ids in enumerate(self.encoded):
            self.by_length.setdefault(len(ids), []).append(index)

    def batch(self, indices):
        picked = [self.encoded[i] for i in indices]
        steps = max(map(len, picked)) + 1
        inputs = [[END] + ids + [END] * (steps - 1 - len(ids)) for ids in picked]
        targets = [ids + [END] + [IGNORE] * (steps - 1 - len(ids)) for ids in picked]
        return Matrix.from_rows(inputs, steps), targets

    def random_batch(self, rng, size):
        same_length = self.by_length[len(self.encoded[rng.randrange(len(self.encoded))])]
        return self.batch([same_length[rng.randrange(len(same_length))] for _ in range(size)])

    def all_batches(self, size):
        # sorted by length, so that a batch pads little: the loss is the same in any order
        order = sorted(range(len(self.encoded)), key=lambda i: len(self.encoded[i]))
        for start in range(0, len(order), size):
            yield self.batch(order[start:start + size])


READERS = {"window": WindowData, "sequence": SequenceData}


# ------------------------------------------------------------------- models
# Options a model may take on the command line; each model's defaults say which ones.
OPTIONS = {
    "context": (int, "tokens a model sees: the window of the MLP, the longest sequence of the others"),
    "embedding": (int, "size of each token's embedding vector"),
    "hidden": (int, "hidden units (the MLP's layer, the recurrent state)"),
    "heads": (int, "attention heads per block (transformer, tiny-gpt)"),
    "layers": (int, "Transformer blocks (transformer, tiny-gpt)"),
}
TRAINING = ("steps", "batch_size", "lr", "schedule", "warmup", "weight_decay", "clip", "betas", "order",
            "report_every")


class ModelSpec:
    """How to build, feed and train one rung of the ladder."""

    def __init__(self, name, reads, build, help, defaults):
        if reads not in READERS:
            raise ValueError(f"model {name!r}: reads must be one of {', '.join(READERS)}, got {reads!r}")
        self.name, self.reads, self.build, self.help, self.defaults = name, reads, build, help, defaults


MODELS = {}


def register_model(name, reads, build, help, **defaults):
    """Add a model: `build(options, vocabulary_size)` returns its layers; `defaults` holds every
    option it takes (a key of OPTIONS) and its training settings (steps, batch_size, lr,
    schedule "constant", "linear" or "cosine" (learning_rate), weight_decay, clip: the largest
    global gradient norm; and optionally warmup, steps of rising learning rate (0 by default);
    betas, Adam's (0.9, 0.999) by default; order "random" (each batch drawn at
    random, the default) or "in_turn" (the training names in one shuffled order, batch_size
    at a time, round and round); report_every N: print the mean loss of every N steps)."""
    MODELS[name] = ModelSpec(name, reads, build, help, defaults)


def build_bigram(options, vocabulary):
    """A table of next-token logits indexed by the current token: Embedding(27, 27)."""
    return [Embedding(vocabulary, vocabulary)]


def build_mlp(options, vocabulary):
    """Bengio et al. (2003): embed each of the last `context` tokens, concatenate, one tanh layer."""
    context, embedding, hidden = options["context"], options["embedding"], options["hidden"]
    return [Embedding(vocabulary, embedding), Dense(context * embedding, hidden, init="xavier"), Tanh(),
            Dense(hidden, vocabulary, init="xavier")]


def _recurrent_builder(cell):
    def build(options, vocabulary):
        embedding, hidden = options["embedding"], options["hidden"]
        return [Embedding(vocabulary, embedding), cell(embedding, hidden),
                PositionwiseDense(hidden, vocabulary, init="xavier")]
    build.__doc__ = f"Embedding -> {cell.__name__} -> a Dense at every step, giving each next token's logits."
    return build


register_model("bigram", "sequence", build_bigram, "count-like table of next-character logits",
               context=16, steps=500, batch_size=256, lr=0.3, schedule="linear", weight_decay=0.0)
register_model("mlp", "window", build_mlp, "Bengio et al. 2003: embeddings of the last characters, a tanh layer",
               context=5, embedding=16, hidden=128, steps=2000, batch_size=128, lr=0.01, schedule="linear",
               weight_decay=0.0)
register_model("rnn", "sequence", _recurrent_builder(RNN), "Elman RNN (tanh)",
               context=16, embedding=24, hidden=64, steps=1000, batch_size=32, lr=0.01, schedule="linear", clip=5.0,
               weight_decay=0.0)
register_model("lstm", "sequence", _recurrent_builder(LSTM), "LSTM",
               context=16, embedding=24, hidden=64, steps=800, batch_size=32, lr=0.01, schedule="linear", clip=5.0,
               weight_decay=0.0)
register_model("gru", "sequence", _recurrent_builder(GRU), "GRU",
               context=16, embedding=24, hidden=64, steps=800, batch_size=32, lr=0.01, schedule="linear", clip=5.0,
               weight_decay=0.0)
register_model("transformer", "sequence", build_transformer,
               "GPT-style Transformer: pre-norm blocks of causal self-attention and a ReLU MLP",
               context=16, embedding=32, heads=4, hidden=128, layers=2, steps=3000, batch_size=32, lr=0.008,
               schedule="linear", weight_decay=0.01)
register_model("tiny-gpt", "sequence", build_tiny_gpt,
               "the dependency-free scalar-autograd GPT's exact model and training, from this framework's layers",
               **TINY_GPT, steps=1000, batch_size=1, lr=0.01, betas=(0.85, 0.99), schedule="linear",
               weight_decay=0.0, order="in_turn", report_every=100)


def bigram_count_loss(train_names, test_names, smoothing=1.0):
    """The exact test loss of the count-based bigram model: P(b | a) = (N(a, b) + s) / (N(a) + 27 s),
    counted on the training names, with add-one smoothing (s = 1) so no test pair has probability 0."""
    size = len(VOCABULARY)
    counts = [[smoothing] * size for _ in range(size)]
    for name in train_names:
        tokens = [END] + encode(name) + [END]
        for a, b in zip(tokens, tokens[1:]):
            counts[a][b] += 1
    log_probability = [[math.log(c / sum(row)) for c in row] for row in counts]
    total, count = 0.0, 0
    for name in test_names:
        tokens = [END] + encode(name) + [END]
        for a, b in zip(tokens, tokens[1:]):
            total -= log_probability[a][b]
            count += 1
    return total / count


# ----------------------------------------------------------------- sampling
def sample_names(network, reads, context, count, rng, temperature=1.0, top_k=None):
    """`count` new names, drawn a character at a time from the model's next-token distribution.

    The logits are divided by `temperature` (below 1 sharper, above 1 flatter); with top_k,
    only the k most likely tokens can be drawn. The names grow together, one batch row each.
    """
    size = len(VOCABULARY)
    # every row grows by one token per round (END once its name is over), so that the
    # batch stays a proper matrix: rows of one length
    tokens = [[] for _ in range(count)]
    done = [False] * count
    for _ in range(MAX_SAMPLE_LENGTH):
        if reads == "window":
            rows = [([END] * context + row)[-context:] for row in tokens]
        else:
            rows = [([END] + row)[-context:] for row in tokens]
        logits = network.forward(Matrix.from_rows(rows, len(rows[0])))
        for i, scores in enumerate(logits.rows):
            if done[i]:
                tokens[i].append(END)
                continue
            last = [v / temperature for v in scores[-size:]]
            if top_k is not None and top_k < size:
                cutoff = sorted(last, reverse=True)[top_k - 1]
                last = [v if v >= cutoff else -math.inf for v in last]
            top = max(last)
            weights = [math.exp(v - top) for v in last]
            token = rng.choices(range(size), weights)[0]
            tokens[i].append(token)
            done[i] = token == END
        if all(done):
            break
    return [decode(row[:row.index(END)] if END in row else row) for row in tokens]


# -------------------------------------------------------------- command line
class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake raises, so that it is reported on one line."""

    def error(self, message):
        raise CommandLineError(f"{message} (see python demos/names.py --help)")




def _sampling_arguments(parser):
    parser.add_argument("-n", "--samples", type=int, default=20, help="names to sample (default 20)")
    parser.add_argument("--temperature", type=number(0.0), default=1.0, help="divide the logits by this")
    parser.add_argument("--top-k", type=whole_number(1), default=None, help="draw only from the k likeliest")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights, batches and sampling")


def training_parser():
    parser = _Parser(prog="python demos/names.py", description=__doc__.split("\n")[0],
                     epilog="python demos/names.py sample --model FILE samples from a saved model")
    parser.add_argument("--model", choices=sorted(MODELS), default="gru", help="the model to train (default gru)")
    for option, (kind, text) in OPTIONS.items():
        parser.add_argument("--" + option.replace("_", "-"), type=whole_number(1) if kind is int else number(0.0), default=None, help=text)
    parser.add_argument("--steps", type=whole_number(1), default=None, help="training steps (batches)")
    parser.add_argument("--batch-size", type=whole_number(1), default=None, help="names (or windows) per batch")
    parser.add_argument("--lr", type=number(0.0), default=None, help="the largest learning rate")
    parser.add_argument("--schedule", choices=SCHEDULES, default=None, help="how the learning rate falls")
    parser.add_argument("--warmup", type=whole_number(0), default=None,
                        help="steps of learning rate rising linearly to --lr before it falls")
    parser.add_argument("--weight-decay", type=number(0.0, inclusive=True), default=None,
                        help="AdamW's decoupled weight decay (0: Adam)")
    parser.add_argument("--out", default=None, help="where to save the model (default names_<model>.json)")
    parser.add_argument("--data", default=DATA_PATH, help=argparse.SUPPRESS)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    _sampling_arguments(parser)
    return parser


def settings_for(spec, args):
    """The model's defaults, overridden by the options given on the command line."""
    settings = dict(spec.defaults)
    for option in list(OPTIONS) + ["steps", "batch_size", "lr", "schedule", "warmup", "weight_decay"]:
        value = getattr(args, option, None)
        if value is None:
            continue
        if option not in settings and option != "warmup":
            raise CommandLineError(f"--{option.replace('_', '-')} does not apply to --model {spec.name}")
        settings[option] = value
    return settings


def train_command(argv, stream):
    args = training_parser().parse_args(argv)
    if args.samples < 0:
        raise CommandLineError(f"-n must be 0 or more, got {args.samples}")
    spec = MODELS[args.model]
    settings = settings_for(spec, args)
    if settings.get("warmup", 0) >= settings["steps"]:
        raise CommandLineError(f"--warmup {settings['warmup']} must be fewer than the {settings['steps']} steps")
    out = args.out or f"names_{spec.name}.json"
    check_writable(out)  # before any work: an InputError naming the path
    names = load_names(args.data)
    train_names, test_names = split_names(names)
    reader = READERS[spec.reads]
    train_data, test_data = reader(train_names, settings["context"]), reader(test_names, settings["context"])

    seed_layers(args.seed)
    network = Network(spec.build(settings, len(VOCABULARY)))
    print(f"model {spec.name}: {spec.help}", file=stream)
    print(network.summary(n_inputs=settings["context"]), file=stream)
    print(f"{len(train_names):,} training names, {len(test_names):,} test names; "
          f"{settings['steps']:,} steps of {settings['batch_size']} {'windows' if spec.reads == 'window' else 'names'}, "
          f"lr {settings['lr']:g} ({settings['schedule']}"
          f"{', after %d steps of warmup' % settings['warmup'] if settings.get('warmup') else ''})", file=stream)
    started, cpu_started = time.perf_counter(), time.process_time()
    final_train = train(network, train_data, settings, random.Random(args.seed), progress=not args.no_progress,
                        stream=stream)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    loss = test_loss(network, test_data)
    print(f"trained in {seconds:.1f} s wall, {cpu_seconds:.1f} s CPU ({settings['steps'] / seconds:.2f} steps/s "
          f"wall, {settings['steps'] / cpu_seconds:.2f} per CPU second); training loss (last tenth of the steps) {final_train:.4f}", file=stream)
    print(f"test loss: {loss:.4f} nats per character ({len(test_names):,} names)", file=stream)
    if spec.name == "bigram":
        exact = bigram_count_loss(train_names, test_names)
        print(f"count-based bigram (add-one smoothing), exact: {exact:.4f}; difference {loss - exact:+.4f}",
              file=stream)
    network.metadata = {"demo": "names", "model": spec.name, "reads": spec.reads, "context": settings["context"],
                        "vocabulary": VOCABULARY, "test_loss": loss, "seconds": round(seconds, 1),
                        "cpu_seconds": round(cpu_seconds, 1),
                        "settings": settings}
    samples = sample_names(network, spec.reads, settings["context"], args.samples, random.Random(args.seed),
                           args.temperature, args.top_k)
    print(f"{len(samples)} sampled names: " + " ".join(samples), file=stream)
    network.save(out)
    print(f"model saved to {out}", file=stream)


def sample_command(argv, stream):
    parser = _Parser(prog="python demos/names.py sample", description="Sample names from a saved model.")
    parser.add_argument("--model", required=True, help="a model file saved by python demos/names.py")
    _sampling_arguments(parser)
    args = parser.parse_args(argv)
    if args.samples < 0:
        raise CommandLineError(f"-n must be 0 or more, got {args.samples}")
    network = Network.load(args.model)  # a ModelFileError (an InputError) names the file and the field
    metadata = network.metadata
    if metadata.get("demo") != "names" or metadata.get("reads") not in READERS or \
            not isinstance(metadata.get("context"), int) or metadata.get("vocabulary") != VOCABULARY:
        raise CommandLineError(f"{args.model}: not a names model (saved by python demos/names.py)")
    samples = sample_names(network, metadata["reads"], metadata["context"], args.samples,
                           random.Random(args.seed), args.temperature, args.top_k)
    print("\n".join(samples), file=stream)


def main(argv=None, stream=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    stream = stream if stream is not None else sys.stdout
    try:
        if argv and argv[0] == "sample":
            sample_command(argv[1:], stream)
        else:
            train_command(argv, stream)
    except InputError as error:  # any other exception is a bug, and keeps its traceback
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
