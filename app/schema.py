"""The pieces a config schema is made of: small spec objects, each a type, its constraint and
its default, and one walk that checks a value against them and reports every problem.

    Integer, Real, Boolean, String, Choice     one value
    IntOrPair, Shape, ListOf                   a pair, an image shape, a list of one spec
    Section                                    an object of named specs (unknown keys named, with
                                               "did you mean" for a near miss)
    Variant                                    an object whose "name" (or "type") picks its specs

app/config.py builds the framework's SCHEMA from them.
"""

import copy
import difflib
import json

from utils import is_count, is_number, quote, within


# ---------------------------------------------------------------- helpers

def _show(value):
    """A value as the user wrote it: JSON spelling (true, null, NaN), strings quoted, kept short."""
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=repr)
    return text if len(text) <= 40 else text[:37] + "..."


def _did_you_mean(word, candidates):
    """' (did you mean 'x'?)' for the closest candidate, compared ignoring case, or ''."""
    by_lower = {candidate.lower(): candidate for candidate in candidates}
    close = difflib.get_close_matches(str(word).lower(), list(by_lower), n=1)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close else ""


def _join(path, key):
    return f"{path}.{key}" if path else key


class _Run:
    """The state of one validation: the problems found and the defaults computed at the end."""

    def __init__(self):
        self.problems = []
        self.deferred = []  # (filled section, key, function(section, config)) for derived defaults

    def report(self, path, message):
        self.problems.append(f"{path}: {message}" if path else message)


# ---------------------------------------------------------------- specs

class Spec:
    """One value in the schema: how to check it, and its default when the key is absent.

    default may be a function(section, config) for a default that depends on
    other values (a cosine schedule lasts `epochs` by default); it is computed
    after the walk, when the whole config is known.
    """

    def __init__(self, default=None, required=False, nullable=False):
        self.default = default  # unused when required
        self.required = required
        self.nullable = nullable  # JSON null is allowed

    def must(self, description, value):
        """The usual message: 'must be <what is allowed>, got <value>'."""
        allowed = description + (" or null" if self.nullable else "")
        return f"must be {allowed}, got {_show(value)}"

    def validate(self, value, path, run):
        """Report what is wrong with value under path; return it with defaults filled in."""
        return None if value is None and self.nullable else self.check(value, path, run)

    def check(self, value, path, run):
        """Scalars only say what is wrong, in problem(value); containers override check()."""
        message = self.problem(value)
        if message:
            run.report(path, message)
        return value


class Integer(Spec):
    def __init__(self, minimum, **options):
        super().__init__(**options)
        self.minimum = minimum
        self.description = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"

    def problem(self, value):
        # bool is a subclass of int in Python, but `"epochs": true` is a mistake
        if not is_count(value, self.minimum):
            return self.must(self.description, value)
        return None


class Real(Spec):
    """A finite number, int or float, within bounds such as '> 0' or 'in [0, 1)'."""

    def __init__(self, bounds, **options):
        super().__init__(**options)
        self.bounds = bounds
        self.within = within(bounds)

    def problem(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return self.must(f"a number {self.bounds}", value)
        # Python's json reads NaN and Infinity, which would poison training silently
        if not is_number(value):
            return self.must("a finite number", value)
        if not self.within(value):
            return self.must(self.bounds, value)
        return None


class Boolean(Spec):
    def problem(self, value):
        return None if isinstance(value, bool) else self.must("true or false", value)


class String(Spec):
    def __init__(self, non_empty=True, length=None, **options):
        super().__init__(**options)
        self.non_empty, self.length = non_empty, length
        self.description = ("a one-character string" if length == 1 else
                            "a non-empty string" if non_empty else "a string")

    def problem(self, value):
        if (not isinstance(value, str) or (self.non_empty and not value)
                or (self.length is not None and len(value) != self.length)):
            return self.must(self.description, value)
        return None


class Choice(Spec):
    """One name out of a list, matched exactly; `kind` names the list in messages."""

    def __init__(self, kind, names, **options):
        super().__init__(**options)
        self.kind = kind
        self.names = names

    def problem(self, value):
        if isinstance(value, str) and value in self.names:
            return None
        valid = ", ".join(sorted(self.names))
        if not isinstance(value, str):
            return self.must(f"one of {valid}", value)
        return f"unknown {self.kind} {quote(value)}; valid: {valid}" + _did_you_mean(value, self.names)


class IntOrPair(Spec):
    """An integer >= minimum, or a list of two of them ([height, width]): a kernel size, a stride."""

    def __init__(self, minimum, **options):
        super().__init__(**options)
        self.minimum = minimum

    def problem(self, value):
        values = value if isinstance(value, list) and len(value) == 2 else [value]
        if all(isinstance(v, int) and not isinstance(v, bool) and v >= self.minimum for v in values):
            return None
        return self.must(f"an integer >= {self.minimum} or a list of two ([height, width])", value)


class Shape(Spec):
    """The shape of one sample: [C, H, W] for an image, [C, L] for a sequence, positive integers."""

    def problem(self, value):
        if (isinstance(value, list) and len(value) in (2, 3)
                and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)):
            return None
        return self.must("[channels, height, width] (or [channels, length] for a sequence) of positive integers",
                         value)


class ListOf(Spec):
    """A list whose items all follow one spec, optionally of a fixed length."""

    def __init__(self, item, length=None, **options):
        super().__init__(**options)
        self.item = item
        self.length = length
        self.description = "a list" if length is None else f"a list of {length} items"

    def check(self, value, path, run):
        if not isinstance(value, list) or (self.length is not None and len(value) != self.length):
            run.report(path, self.must(self.description, value))
            return value
        return [self.item.validate(item, f"{path}[{index}]", run) for index, item in enumerate(value)]


class Section(Spec):
    """A JSON object with a fixed set of keys, each described by a spec."""

    def __init__(self, fields, **options):
        super().__init__(**options)
        self.fields = fields

    def check(self, value, path, run, variant=None):
        """variant: (name, keys of all variants) when the section is one variant of a Variant."""
        if not isinstance(value, dict):
            run.report(path, self.must("an object", value))
            return value
        for key in value:
            if key in self.fields:
                continue
            if variant and key in variant[1]:
                options = ", ".join(sorted(option for option in self.fields if option not in ("name", "type")))
                run.report(_join(path, key), f"not an option of {variant[0]!r}; its options: {options or 'none'}")
            else:
                run.report(path, f"unknown key {quote(key)}" + _did_you_mean(key, self.fields))
        filled = {}
        for key, spec in self.fields.items():
            if key in value:
                filled[key] = spec.validate(value[key], _join(path, key), run)
            elif spec.required:
                hint = f" ({', '.join(sorted(spec.names))})" if isinstance(spec, Choice) else ""
                run.report(path, f"missing required key {key!r}{hint}")
            elif callable(spec.default):
                filled[key] = None  # keeps the key order; computed once the whole config is known
                run.deferred.append((filled, key, spec.default))
            else:
                # walked like a value the user wrote, so nested defaults get filled too
                filled[key] = spec.validate(copy.deepcopy(spec.default), _join(path, key), run)
        return filled


class Variant(Spec):
    """An object whose "name" picks its other keys: an optimizer, a learning-rate scheduler."""

    def __init__(self, kind, names, options_by_name, key="name", **options):
        super().__init__(**options)
        self.kind = kind
        self.key = key  # the field that names the variant: "name", or "type" for a model layer
        self.name = Choice(kind, names, required=True)
        self.options_by_name = options_by_name
        self.all_keys = {option for fields in options_by_name.values() for option in fields}

    def check(self, value, path, run):
        key = self.key
        if not isinstance(value, dict):
            hint = f' (write {{"{key}": {json.dumps(value)}}})' if value in self.name.names else ""
            run.report(path, self.must("an object", value) + hint)
            return value
        if key not in value:
            run.report(path, f"missing required key {key!r} ({', '.join(sorted(self.name.names))})")
            return value
        name = value[key]
        if self.name.problem(name):
            self.name.validate(name, _join(path, key), run)
            return value  # its other keys cannot be checked without knowing which options apply
        section = Section({key: self.name, **self.options_by_name.get(name, {})})
        return section.check(value, path, run, variant=(name, self.all_keys))
