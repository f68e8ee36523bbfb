"""Checkpoint files: everything needed to continue a training run exactly where it stopped.

    Checkpoint                         where and how often the Checkpoints callback saves
    save_checkpoint, load_checkpoint   the file, as JSON written atomically, every field checked
    training_state, restore_training   what goes into it, and putting it back (bit for bit)

The callbacks that use them (Checkpoints, Resume) are in app/training.py.
"""

import json
import math
import random

from matrix import Matrix
from utils import InputError, is_count as _is_count, is_number as _is_number, read_json, write_atomic

CHECKPOINT_FORMAT = "pure-python-neural-network-checkpoint"
CHECKPOINT_VERSION = 1


class CheckpointError(InputError):
    """A checkpoint file that cannot be used; the message names the file and the field."""


# -------------------------------------------------------------- checkpoints
class Checkpoint:
    """Where fit writes its checkpoints, and how often.

    Checkpoint("run.json", every=5) saves after epochs 5, 10, ...; with every=None
    it saves only when Ctrl-C stops training. `extra` is stored as it is (pipeline
    puts the config's path there, to find the data again on resume).
    """

    def __init__(self, path="checkpoint.json", every=None, extra=None):
        if every is not None and not _is_count(every, 1):
            raise ValueError(f"checkpoint every must be a positive integer or None, got {every!r}")
        self.path, self.every, self.extra = path, every, dict(extra or {})

    def due(self, epoch):
        return bool(self.path) and self.every is not None and epoch % self.every == 0

    def __repr__(self):
        return f"Checkpoint({self.path!r}, every={self.every})"


def random_state_to_json(rng):
    """random.Random's state, a tuple (version, tuple of 625 ints, gauss_next), as JSON lists."""
    version, internal, gauss_next = rng.getstate()
    return [version, list(internal), gauss_next]


def random_state_from_json(rng, state):
    version, internal, gauss_next = state
    rng.setstate((version, tuple(internal), gauss_next))


def save_checkpoint(path, state):
    """Write a checkpoint (a dict of JSON data) atomically: a crash leaves the old file or the new one."""
    data = {"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION}
    data.update(state)
    write_atomic(path, json.dumps(data, allow_nan=False) + "\n")


def load_checkpoint(path):
    """Read a checkpoint written by save_checkpoint; raises CheckpointError naming the problem."""
    data = read_json(path, "checkpoint", CheckpointError)
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a checkpoint of this framework (field 'format' is not "
                              f"{CHECKPOINT_FORMAT!r}; training resumes from a checkpoint, not a model file)")
    version = data.get("format_version")
    if not isinstance(version, int) or version > CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format {version!r} is not supported (this version reads "
                              f"up to {CHECKPOINT_VERSION})")
    for key in ("model", "optimizer", "random_state", "history", "position"):
        if key not in data:
            raise CheckpointError(f"{path}: missing field {key!r}")
    check_checkpoint_fields(data, path)
    return data


def _random_state_problem(state):
    """Why `state` is not a generator state written by random_state_to_json, or ''."""
    try:
        random_state_from_json(random.Random(), state)
    except (TypeError, ValueError, OverflowError) as error:
        return str(error) or type(error).__name__
    return ""


def check_checkpoint_fields(data, source):
    """Check the type of every field that resuming reads, before anything is restored, so that a
    damaged checkpoint is reported by the name of the field and changes nothing."""
    def bad(field, needs):
        raise CheckpointError(f"{source}: field {field!r} must be {needs}")

    for key in ("model", "optimizer", "history", "position"):
        if not isinstance(data.get(key), dict):
            bad(key, "an object")
    for key in ("scheduler", "early_stopping"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            bad(key, "an object or null")
    for key in ("extra", "layer_random_states"):
        if not isinstance(data.get(key, {}), dict):
            bad(key, "an object")
    if not isinstance(data.get("extra", {}).get("config_path", ""), (str, type(None))):
        bad("extra.config_path", "the path of the config file, or null")
    position = data["position"]
    if not _is_count(position.get("epoch"), 1):
        bad("position.epoch", "an integer >= 1")
    for key in ("batches_done", "correct"):
        if not _is_count(position.get(key)):
            bad(f"position.{key}", "an integer >= 0")
    if not _is_number(position.get("total_loss")):
        bad("position.total_loss", "a finite number")
    order = position.get("order")
    if not isinstance(order, list) or not all(_is_count(row) for row in order):
        bad("position.order", "a list of row numbers")
    for key, values in data["history"].items():
        if not isinstance(values, list) or not all(_is_number(value) for value in values):
            bad(f"history.{key}", "a list of finite numbers")
    optimizer = data["optimizer"]
    if not isinstance(optimizer.get("name"), str):
        bad("optimizer.name", "the optimizer's name")
    # 0 is a rate a schedule reaches (cosine annealing to eta_min 0); only a negative one is damage
    if not _is_number(optimizer.get("lr")) or optimizer["lr"] < 0:
        bad("optimizer.lr", "a number >= 0")
    if not _is_count(optimizer.get("t")):
        bad("optimizer.t", "an integer >= 0")
    if not isinstance(optimizer.get("state"), list) or not all(isinstance(s, dict) for s in optimizer["state"]):
        bad("optimizer.state", "a list of objects, one per parameter")
    states = [("random_state", data["random_state"])]
    states += [(f"layer_random_states.{index}", state) for index, state in data.get("layer_random_states", {}).items()]
    for field, state in states:
        problem = _random_state_problem(state)
        if problem:
            bad(field, f"the state of a random generator ({problem})")


def _restore_piece(source, field, load, state):
    """load(state), with a damaged field (a missing key, a wrong type) reported as a CheckpointError."""
    try:
        load(state)
    except CheckpointError:
        raise
    except KeyError as error:
        raise CheckpointError(f"{source}: field {field!r} is missing {error}") from None
    except (TypeError, ValueError, AttributeError, IndexError) as error:
        raise CheckpointError(f"{source}: field {field!r} is damaged ({error})") from None


def training_state(network, optimizer, scheduler, early_stopping, rng, history, position, checkpoint):
    """Everything a checkpoint holds to continue training exactly where it stopped.

    position says where: {"epoch": e, "batches_done": b (0: epoch e has not started),
    "order": the row order (the next epoch shuffles it again), "total_loss", "correct": the
    epoch's running sums}. Random states
    are saved for the run's generator and for any layer (Dropout) with a generator of its own.
    """
    layer_random_states = {str(i): random_state_to_json(layer.rng) for i, layer in enumerate(network.layers)
                           if getattr(layer, "rng", None) is not None and layer.rng is not rng}
    return {"epoch": position["epoch"] - 1, "position": position, "model": network.to_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "early_stopping": early_stopping.state_dict() if early_stopping is not None else None,
            "random_state": random_state_to_json(rng), "layer_random_states": layer_random_states,
            "history": history, "extra": checkpoint.extra if checkpoint is not None else {}}


def restore_training(resume, network, history, n_rows, optimizer, scheduler, early_stopping, rng):
    """Load a checkpoint (a path or a loaded dict) into the network, optimizer, schedule, early
    stopping and random generators; returns the saved (history, position). Each piece is checked
    against the run it goes into first, so a mismatch changes nothing."""
    if isinstance(resume, dict):
        state, source = resume, "checkpoint"
        check_checkpoint_fields(state, source)
    else:
        state, source = load_checkpoint(resume), str(resume)
    saved = type(network).from_dict(state["model"], source=f"{source}: model")
    layers, saved_layers = [repr(layer) for layer in network.layers], [repr(layer) for layer in saved.layers]
    if layers != saved_layers:
        raise CheckpointError(f"{source}: the checkpoint's layers [{', '.join(saved_layers)}] differ from "
                              f"this network's [{', '.join(layers)}]")
    if set(state["history"]) != set(history):
        raise CheckpointError(f"{source}: the checkpoint recorded {sorted(state['history'])}, this run records "
                              f"{sorted(history)}; resume with the same loss and validation data")
    order = state["position"]["order"]
    if sorted(order) != list(range(n_rows)):
        raise CheckpointError(f"{source}: the checkpoint was trained on {len(order)} rows, this run has {n_rows}")
    if state["optimizer"].get("name") != optimizer.name:
        raise CheckpointError(f"{source}: the checkpoint's optimizer is {state['optimizer'].get('name')!r}, "
                              f"this run's is {optimizer.name!r}")
    if (scheduler is None) != (state.get("scheduler") is None):
        raise CheckpointError(f"{source}: resume with the same learning-rate schedule as the checkpoint "
                              f"({(state.get('scheduler') or {}).get('name', 'none')})")
    _check_optimizer_state(state["optimizer"]["state"], optimizer.params, source)
    layer_generators = {}
    for index, layer_state in state.get("layer_random_states", {}).items():
        layer = network.layers[int(index)] if index.isdigit() and int(index) < len(network.layers) else None
        if getattr(layer, "rng", None) is None:
            raise CheckpointError(f"{source}: field 'layer_random_states' names layer {index}, which has "
                                  "no random generator")
        layer_generators[layer] = layer_state
    network.set_weights(saved.get_weights())
    optimizer.load_state_dict(state["optimizer"])
    # after the optimizer: a schedule sets the learning rate it had reached
    if scheduler is not None:
        _restore_piece(source, "scheduler", scheduler.load_state_dict, state["scheduler"])
    if early_stopping is not None and state.get("early_stopping") is not None:
        _restore_piece(source, "early_stopping", early_stopping.load_state_dict, state["early_stopping"])
        if early_stopping.best_weights is not None:  # tried on the checkpoint's own copy of the network
            _restore_piece(source, "early_stopping.best_weights", saved.set_weights, early_stopping.best_weights)
    random_state_from_json(rng, state["random_state"])
    for layer, layer_state in layer_generators.items():
        random_state_from_json(layer.rng, layer_state)
    return state["history"], state["position"]


def _check_optimizer_state(saved, params, source):
    """One saved state per parameter, each of its matrices of the parameter's shape."""
    if len(saved) != len(params):
        raise CheckpointError(f"{source}: the optimizer state has {len(saved)} parameters, the model has "
                              f"{len(params)}")
    for index, (entry, param) in enumerate(zip(saved, params)):
        for key, rows in entry.items():
            try:
                shape = Matrix(rows).shape
            except ValueError as error:
                raise CheckpointError(f"{source}: field 'optimizer.state[{index}].{key}': {error}") from None
            if shape != param.value.shape:
                raise CheckpointError(f"{source}: field 'optimizer.state[{index}].{key}' has shape {shape}, "
                                      f"its parameter {param.value.shape}")
