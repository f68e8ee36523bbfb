"""Tests for demos/names.py on budgets of a few steps (never a full training): the data and
its fixed split, the batches, the exact bigram loss by hand, sampling, saving and the CLI."""

import contextlib
import io
import json
import math
import os
import random
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from demos import names  # noqa: E402
from network import Network  # noqa: E402


def run(argv):
    """main(argv) -> (exit status, standard output, standard error)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        status = names.main(argv, stream=out)
    return status, out.getvalue(), err.getvalue()


class DataTest(unittest.TestCase):
    def test_the_file_and_its_fixed_split(self):
        all_names = names.load_names()
        self.assertEqual(len(all_names), 32033)
        train, test = names.split_names(all_names)
        self.assertEqual((len(train), len(test)), (32033 - 1000, 1000))
        self.assertEqual(sorted(train + test), sorted(all_names))
        self.assertEqual(names.split_names(all_names), (train, test))  # the same every time

    def test_encoding_uses_one_token_for_start_and_end(self):
        self.assertEqual(len(names.VOCABULARY), 27)
        self.assertEqual(names.encode("emma"), [5, 13, 13, 1])
        self.assertEqual(names.decode([5, 13, 13, 1]), "emma")

    def test_window_examples_of_a_name(self):
        inputs, targets = names.window_examples(["ab"], 2)
        self.assertEqual(inputs, [[0, 0], [0, 1], [1, 2]])
        self.assertEqual(targets, [1, 2, 0])

    def test_sequence_batches_pad_past_the_end(self):
        data = names.SequenceData(["ab", "c"], context=16)
        x, targets = data.batch([0, 1])
        self.assertEqual(x.rows, [[0, 1, 2], [0, 3, 0]])
        self.assertEqual(targets, [[1, 2, 0], [3, 0, -1]])

    def test_bad_characters_are_reported_with_the_line(self):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "names.txt")
            with open(path, "w") as f:
                f.write("anna\nBob\n")
            status, _, err = run(["--model", "bigram", "--data", path, "--steps", "1"])
        self.assertEqual(status, 2)
        self.assertEqual(err, f"error: {path}, line 2: 'B' is not a lowercase letter a-z\n")


class BigramCountTest(unittest.TestCase):
    def test_exact_count_loss_by_hand(self):
        # training "a": pairs (., a), (a, .); with add-one smoothing over 27 tokens
        # P(a | .) = 2 / 28 and P(. | a) = 2 / 28; the test name "a" scores both
        self.assertAlmostEqual(names.bigram_count_loss(["a"], ["a"]), -math.log(2 / 28), delta=1e-15)
        # test "b": P(b | .) = 1 / 28, P(. | b) = 1 / 27 (b never seen: 27 smoothed counts of 1)
        expected = -(math.log(1 / 28) + math.log(1 / 27)) / 2
        self.assertAlmostEqual(names.bigram_count_loss(["a"], ["b"]), expected, delta=1e-15)


class SamplingTest(unittest.TestCase):
    def test_sampling_follows_the_model_and_the_seed(self):
        # a bigram table that always goes . -> a -> b -> .
        network = Network(names.build_bigram({}, 27))
        table = [[-50.0] * 27 for _ in range(27)]
        table[0][1], table[1][2], table[2][0] = 50.0, 50.0, 50.0
        network.layers[0].weight.value.rows[:] = table
        self.assertEqual(names.sample_names(network, "sequence", 16, 3, random.Random(0)), ["ab"] * 3)
        self.assertEqual(names.sample_names(network, "sequence", 16, 2, random.Random(0), top_k=1), ["ab"] * 2)

    def test_names_of_different_lengths_sample_together(self):
        # a recurrent model, names ending at different rounds: the batch must stay one width
        network = Network(names._recurrent_builder(names.GRU)({"embedding": 3, "hidden": 4}, 27))
        sampled = names.sample_names(network, "sequence", 16, 8, random.Random(2), temperature=2.0)
        self.assertEqual(len(sampled), 8)
        self.assertGreater(len(set(map(len, sampled))), 1)

    def test_top_k_1_is_greedy_and_temperature_does_not_change_it(self):
        network = Network(names.build_mlp({"context": 3, "embedding": 2, "hidden": 4}, 27))
        greedy = names.sample_names(network, "window", 3, 2, random.Random(1), top_k=1)
        self.assertEqual(greedy[0], greedy[1])
        self.assertEqual(names.sample_names(network, "window", 3, 2, random.Random(5), 0.5, top_k=1), greedy)


class LearningRateTest(unittest.TestCase):
    def test_warmup_then_linear_or_cosine_decay_by_hand(self):
        rates = lambda **settings: [names.learning_rate(dict(settings, lr=0.8, steps=6), step) for step in range(6)]
        self.assertEqual(rates(schedule="constant"), [0.8] * 6)
        for got, expected in zip(rates(schedule="linear"), [0.8, 0.8 * 5 / 6, 0.8 * 4 / 6, 0.4, 0.8 * 2 / 6, 0.8 / 6]):
            self.assertAlmostEqual(got, expected, places=15)
        # 2 warmup steps (0.4, 0.8), then 4 steps falling from 0.8: linear 1, 3/4, 1/2, 1/4 of it
        for got, expected in zip(rates(schedule="linear", warmup=2), [0.4, 0.8, 0.8, 0.6, 0.4, 0.2]):
            self.assertAlmostEqual(got, expected, places=15)
        # cosine: (1 + cos(pi s / 4)) / 2 for s = 0..3: 1, (2 + sqrt 2) / 4, 1/2, (2 - sqrt 2) / 4
        cosine = [0.4, 0.8, 0.8, 0.8 * (2 + math.sqrt(2)) / 4, 0.4, 0.8 * (2 - math.sqrt(2)) / 4]
        for got, expected in zip(rates(schedule="cosine", warmup=2), cosine):
            self.assertAlmostEqual(got, expected, places=15)

    def test_schedule_warmup_and_weight_decay_from_the_command_line(self):
        args = names.training_parser().parse_args(["--model", "gru", "--schedule", "cosine", "--warmup", "10",
                                                    "--weight-decay", "0.1"])
        settings = names.settings_for(names.MODELS["gru"], args)
        self.assertEqual((settings["schedule"], settings["warmup"], settings["weight_decay"]), ("cosine", 10, 0.1))
        self.assertNotIn("warmup", names.settings_for(names.MODELS["gru"], names.training_parser().parse_args([])))


class CommandLineTest(unittest.TestCase):
    def test_every_model_trains_a_few_steps_saves_and_samples_again(self):
        small = {"mlp": ["--hidden", "8", "--embedding", "2"], "rnn": ["--hidden", "4", "--embedding", "2"],
                 "lstm": ["--hidden", "4", "--embedding", "2"], "gru": ["--hidden", "4", "--embedding", "2"],
                 "bigram": []}
        with tempfile.TemporaryDirectory() as folder:
            for model, options in small.items():
                with self.subTest(model=model):
                    path = os.path.join(folder, f"names_{model}.json")
                    status, out, err = run(["--model", model, "--steps", "2", "--batch-size", "4", "--out", path,
                                            "-n", "5", "--no-progress"] + options)
                    self.assertEqual((status, err), (0, ""))
                    loss_line = [line for line in out.splitlines() if line.startswith("test loss: ")]
                    self.assertEqual(len(loss_line), 1, out)
                    loss = float(loss_line[0].split()[2])
                    self.assertTrue(2.0 < loss < 4.5, loss)  # a few steps from the start (uniform: log 27 = 3.30)
                    self.assertIn(f"model saved to {path}", out)
                    with open(path) as f:
                        self.assertEqual(json.load(f)["metadata"]["model"], model)
                    status, sampled, err = run(["sample", "--model", path, "-n", "4", "--seed", "3"])
                    self.assertEqual((status, err), (0, ""))
                    self.assertEqual(len(sampled.splitlines()), 4)
                    self.assertEqual(run(["sample", "--model", path, "-n", "4", "--seed", "3"])[1], sampled)
            self.assertIn("count-based bigram (add-one smoothing), exact: 2.4561", out)

    def test_mistakes_are_one_line_and_exit_2(self):
        with tempfile.TemporaryDirectory() as folder:
            not_a_model = os.path.join(folder, "x.json")
            with open(not_a_model, "w") as f:
                f.write("{}")
            cases = [
                (["--model", "nope"], "argument --model: invalid choice"),
                (["--model", "bigram", "--hidden", "8"], "--hidden does not apply to --model bigram"),
                (["--steps", "0"], "argument --steps: must be at least 1, got 0"),
                (["--temperature", "-1"], "must be > 0"),
                (["--steps", "5", "--warmup", "5"], "--warmup 5 must be fewer than the 5 steps"),
                (["--schedule", "step"], "argument --schedule: invalid choice"),
                (["--warmup", "-1"], "argument --warmup: must be at least 0, got -1"),
                (["sample", "--model", os.path.join(folder, "missing.json")], "model file not found"),
                (["sample", "--model", not_a_model], "not a model file of this framework"),
                (["--out", folder], "is a directory"),
            ]
            for argv, expected in cases:
                with self.subTest(argv=argv):
                    status, out, err = run(argv)
                    self.assertEqual(status, 2)
                    self.assertEqual(len(err.splitlines()), 1, err)
                    self.assertTrue(err.startswith("error: "), err)
                    self.assertIn(expected, err)
            self.assertEqual(os.listdir(folder), ["x.json"])  # nothing written


if __name__ == "__main__":
    unittest.main()
