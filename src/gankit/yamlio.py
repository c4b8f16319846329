"""The one YAML reader: every YAML text gankit reads (presets, config files, override values, a run's
config.yaml in ``gankit serve`` and ``gankit report``) goes through :func:`read_yaml`.

PyYAML's safe loader runs no code, but it happily expands aliases: ``a: &a [x, x]``, ``b: &b [*a, *a]``,
... is a few hundred bytes whose value holds 2^k leaves ("billion laughs"). The loader shares the
repeated objects, so the blow-up happens later, in whatever walks the value (a type check printing it,
``repr``, JSON). This reader refuses such a document while composing it, before anything is built:

- at most :data:`MAX_BYTES` of text (a run's config.yaml is about 3 KB),
- at most :data:`MAX_ALIASES` aliases (``*name``; gankit's own files use none),
- at most :data:`MAX_NODES` nodes once every alias is expanded (a config has about 100),
- no alias of a node that contains it (a value that would contain itself),
- no key twice in one mapping (YAML says keys are unique; PyYAML silently keeps the last),
- numbers longer than :data:`MAX_NUMBER_CHARS` stay the text they were written as, so the config's type
  check names the key instead of Python's integer-conversion limit (4,300 digits) raising a traceback.

Errors are one :class:`~gankit.errors.ConfigError` line that names the source and the line, never the
expanded value.
"""

from __future__ import annotations

from typing import Any

import yaml

from gankit.errors import ConfigError

MAX_BYTES = 1 << 20  # 1 MiB: 300x the largest config gankit writes
MAX_ALIASES = 1000
MAX_NODES = 100_000  # expanded; the longest config (every key set, lists included) has ~150
MAX_NUMBER_CHARS = 100  # an int64 has 19 digits, a float's text ~25 characters


class LimitError(ConfigError):
    """A YAML text beyond one of the limits (as opposed to one that is not YAML at all)."""


class _Refused(yaml.YAMLError):
    def __init__(self, message: str, mark: Any = None) -> None:
        super().__init__(message)
        self.problem, self.problem_mark = message, mark


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts aliases and expanded nodes while composing, and refuses duplicate keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._sizes: dict[int, int] = {}  # id(node) -> nodes once expanded (the nodes live until the end)

    def compose_node(self, parent: Any, index: Any) -> Any:
        alias = self.check_event(yaml.AliasEvent)
        mark = self.peek_event().start_mark
        node = super().compose_node(parent, index)
        if alias:
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _Refused(f"more than {MAX_ALIASES} aliases (*name)", mark)
            if id(node) not in self._sizes:
                raise _Refused("an alias refers to a value that contains it", mark)
            return node
        if isinstance(node, yaml.SequenceNode):
            size = 1 + sum(self._sizes[id(child)] for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            size = 1 + sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
        else:
            size = 1
        if size > MAX_NODES:
            raise _Refused(f"expands to more than {MAX_NODES:,} values once its aliases are followed", mark)
        self._sizes[id(node)] = size
        return node

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # '<<: *base' keys may be overridden: that is what merging is for
                key = self.construct_object(key_node)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:
                    continue  # unhashable: the constructor says so itself
                if duplicate:
                    shown = key if isinstance(key, str) and len(key) <= 40 else type(key).__name__
                    raise _Refused(f"key '{shown}' appears twice in one mapping", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: Any) -> Any:
        text = self.construct_scalar(node)
        if len(text) > MAX_NUMBER_CHARS:
            return text  # the type check refuses it by key ("must be an integer of at most 19 digits")
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node: Any) -> Any:
        text = self.construct_scalar(node)
        if len(text) > MAX_NUMBER_CHARS:
            return text
        return super().construct_yaml_float(node)


_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _BoundedLoader.construct_yaml_int)
_BoundedLoader.add_constructor("tag:yaml.org,2002:float", _BoundedLoader.construct_yaml_float)


def json_int(text: str) -> int | str:
    """``json.loads(..., parse_int=json_int)``: the same rule for the JSON config in a generator export."""
    return text if len(text) > MAX_NUMBER_CHARS else int(text)


def read_yaml(text: str, where: str) -> Any:
    """The value of one YAML document, read within the limits above.

    Args:
        text: the YAML text.
        where: what it is, for the error (``"config file 'x.yaml'"``, ``"override g_optim.betas"``).

    Raises:
        ConfigError: not valid YAML; :class:`LimitError` (a ConfigError) beyond a limit. One line naming
            ``where`` (and the line number).
    """
    if len(text) > MAX_BYTES:
        raise LimitError(f"{where} is refused: more than {MAX_BYTES >> 20} MiB of text, too large to be a config")
    loader = None
    try:
        loader = _BoundedLoader(text)  # the reader checks the characters here already
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).strip().splitlines()[0]  # ReaderError has no .problem
        if isinstance(exc, _Refused):
            raise LimitError(f"{where} is refused{line}: {problem}") from None
        raise ConfigError(f"{where} is not valid YAML{line}: {problem}") from None
    except RecursionError:
        raise LimitError(f"{where} is refused: nested too deeply to be a config") from None
    finally:
        if loader is not None:
            loader.dispose()
