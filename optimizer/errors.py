"""Errors a user can cause, each carrying messages written in the user's terms, and the "did you
mean" hint those messages share (:func:`did_you_mean`)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, options: Iterable[object], cutoff: float = 0.5) -> str:
    """`` (did you mean 'a', 'b'?)`` naming up to three of ``options`` close to ``name``, else ``""``.

    The one place that suggests a spelling: scenario keys, ids, variants, rule sets, catalog ids."""
    close = difflib.get_close_matches(name, [str(o) for o in options], n=3, cutoff=cutoff)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


class TokenomicsError(Exception):
    """Base class for errors that the CLI reports without a traceback."""

    exit_code = 1

    def __init__(self, messages: list[str] | str):
        self.messages = [messages] if isinstance(messages, str) else list(messages)
        super().__init__("\n".join(self.messages))


class ScenarioError(TokenomicsError):
    """The scenario file (or a file it names) is malformed; one message per problem."""

    exit_code = 2


class InfeasibleError(TokenomicsError):
    """No plan can meet the demand under the scenario's limits."""

    exit_code = 3


class NoSolutionError(TokenomicsError):
    """The solver stopped (time limit, numerical trouble) before it found any plan."""

    exit_code = 4
