"""SCIM filter expressions (RFC 7644 §3.4.2.2) parsed into a small tuple AST.

    filter    = attrExp / logExp / valuePath / "not" "(" filter ")" / "(" filter ")"
    attrExp   = attrPath "pr" / attrPath compareOp compValue
    valuePath = attrPath "[" valFilter "]" [ "." subAttr compareOp compValue ]

Precedence is `not` > `and` > `or`. The trailing `.subAttr op value` after a value
path is not in the RFC's filter grammar, but Entra sends it
(`emails[type eq "work"].value eq "x"`), so it is read as
`emails[type eq "work" and value eq "x"]`.

The AST is read by `filters` (list filters, compiled to SQL) and by `patch`
(value filters of PATCH paths, matched in memory). Anything not understood is a
`FilterError` (400 invalidFilter), never a 500.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_FILTER_LENGTH = 2000
MAX_DEPTH = 32
COMPARE_OPS = ("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le")


class FilterError(ValueError):
    """The filter cannot be parsed or uses something this server does not support."""


# -- tokens -------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    \s*(?:
      (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<punct>[()\[\]])
    | (?P<word>[^\s()\[\]"]+)
    )""",
    re.VERBOSE,
)


def tokenize(text: str) -> list[tuple[str, Any]]:
    """Split a filter into (kind, value) tokens: string, punct, word."""
    tokens: list[tuple[str, Any]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise FilterError(f"Unexpected character at position {position + 1}.")
        position = match.end()
        if match.group("string") is not None:
            try:
                value = json.loads(match.group("string"))
                value.encode("utf-8")
            except (json.JSONDecodeError, UnicodeEncodeError) as exc:
                raise FilterError("A quoted value is not a valid JSON string.") from exc
            tokens.append(("string", value))
        elif match.group("punct") is not None:
            tokens.append(("punct", match.group("punct")))
        else:
            tokens.append(("word", match.group("word")))
    return tokens


# -- parser -------------------------------------------------------------------


class _Parser:
    """Recursive descent over the tokens, producing a small tuple AST."""

    def __init__(self, tokens: list[tuple[str, Any]]) -> None:
        self.tokens = tokens
        self.index = 0
        self.depth = 0

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> tuple[str, Any]:
        token = self.peek()
        if token is None:
            raise FilterError("The filter ends too early.")
        self.index += 1
        return token

    def expect(self, punct: str) -> None:
        token = self.take()
        if token != ("punct", punct):
            raise FilterError(f"Expected {punct!r}.")

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token and token[0] == "word" and token[1].lower() in words:
            self.index += 1
            return token[1].lower()
        return None

    def parse(self) -> tuple:
        node = self.parse_or()
        if self.peek() is not None:
            raise FilterError(f"Unexpected {self.peek()[1]!r}.")  # type: ignore[index]
        return node

    def parse_or(self) -> tuple:
        node = self.parse_and()
        while self.keyword("or"):
            node = ("or", node, self.parse_and())
        return node

    def parse_and(self) -> tuple:
        node = self.parse_not()
        while self.keyword("and"):
            node = ("and", node, self.parse_not())
        return node

    def parse_not(self) -> tuple:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterError("The filter is nested too deeply.")
        try:
            if self.keyword("not"):
                self.expect("(")
                node = self.parse_or()
                self.expect(")")
                return ("not", node)
            if self.peek() == ("punct", "("):
                self.take()
                node = self.parse_or()
                self.expect(")")
                return node
            return self.parse_attr()
        finally:
            self.depth -= 1

    def parse_attr(self) -> tuple:
        kind, path = self.take()
        if kind != "word" or path.lower() in ("and", "or", "not"):
            raise FilterError("Expected an attribute name.")
        if self.peek() == ("punct", "["):
            self.take()
            inner = self.parse_or()
            self.expect("]")
            node: tuple = ("vp", path, inner)
            following = self.peek()
            if following and following[0] == "word" and following[1].startswith("."):
                self.take()
                sub = following[1][1:]
                node = ("vp", path, ("and", inner, self.parse_comparison(sub)))
            return node
        return self.parse_comparison(path)

    def parse_comparison(self, path: str) -> tuple:
        operator = self.keyword("pr", *COMPARE_OPS)
        if operator is None:
            token = self.peek()
            shown = token[1] if token else "the end"
            raise FilterError(f"Expected an operator after {path!r}, found {shown!r}.")
        if operator == "pr":
            return ("pr", path)
        kind, value = self.take()
        if kind == "word":
            value = _literal(value)
        elif kind != "string":
            raise FilterError(f"Expected a value after {path!r} {operator}.")
        return ("cmp", path, operator, value)


def _literal(word: str) -> Any:
    lowered = word.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    try:
        return json.loads(word)
    except json.JSONDecodeError as exc:
        raise FilterError(f"{word!r} is not a value; quote strings.") from exc


def parse_filter(text: str) -> tuple:
    """Parse a filter into an AST of nested tuples.

    :raise FilterError: on any syntax error or an oversized filter.
    """
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(f"Filters are limited to {MAX_FILTER_LENGTH} characters.")
    if not text.strip():
        raise FilterError("The filter is empty.")
    return _Parser(tokenize(text)).parse()
