"""Errors a user can cause, each carrying messages written in the user's terms."""

from __future__ import annotations


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
