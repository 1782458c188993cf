"""Sieve (RFC 5228) at delivery: sievelib parses (DESIGN), this module interprets.

Supported: require; if/elsif/else; tests address, header, envelope, exists, size, true, false, not,
allof, anyof, with :is, :contains, :matches (i;ascii-casemap) and address parts :all, :localpart,
:domain; actions keep, discard, stop, fileinto (and :copy, RFC 3894), redirect (and :copy), reject and
ereject (RFC 5429), vacation (RFC 5230: :days, :subject, :addresses). A script that uses anything else
is refused when it is set, so delivery never meets one it cannot run.
"""

from __future__ import annotations

import re
from typing import Any

from sievelib.parser import Parser

from polyport.filters import Decision, Facts, Vacation, matches

SUPPORTED = {"fileinto", "reject", "ereject", "vacation", "copy", "envelope", "comparator-i;ascii-casemap"}
MAX_VACATION_DAYS = 365
MAX_DEPTH = 32  # nesting of blocks and tests
COMMANDS = {"require", "if", "elsif", "else", "keep", "discard", "stop", "fileinto", "redirect", "reject",
            "ereject", "vacation"}
TESTS = {"address", "header", "envelope", "exists", "size", "true", "false", "not", "allof", "anyof"}
MAX_SCRIPT = 64 * 1024
_SIZE = re.compile(r"(\d+)([KMG]?)", re.IGNORECASE)


def _unquote(value: Any) -> Any:
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if isinstance(value, str) and value.startswith("text:"):  # RFC 5228 2.4.2: multi-line, dot-stuffed
        lines = value[5:].partition("\n")[2].replace("\r\n", "\n").split("\n")
        while lines and lines[-1] in (".", ""):
            lines.pop()
        return "\n".join(line[1:] if line.startswith("..") else line for line in lines)
    return value


def _list(value: Any) -> list[str]:
    value = _unquote(value)
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def parse(script: str) -> list[Any]:
    parser = Parser()
    if not parser.parse(script):
        line, column = (parser.error_pos or (0, 0))[:2]
        raise ValueError(f"line {line}, column {column}: {parser.error}")
    return list(parser.result)


def check_script(script: str) -> str | None:
    """Why a script cannot be used, or None."""
    if len(script) > MAX_SCRIPT:
        return f"the script is longer than {MAX_SCRIPT} characters"
    if not script.strip():
        return None
    depth = max_depth = 0
    for char in script:  # a cheap bound before the parser recurses (strings may hold brackets: harmless)
        depth += 1 if char in "({" else -1 if char in ")}" else 0
        max_depth = max(max_depth, depth)
    if max_depth > MAX_DEPTH:
        return f"blocks and tests nest deeper than {MAX_DEPTH}"
    try:
        commands = parse(script)
    except ValueError as err:
        return f"not Sieve: {err}"
    except RecursionError:
        return f"blocks and tests nest deeper than {MAX_DEPTH}"
    for command in commands:
        problem = _check(command)
        if problem:
            return problem
    return None


def _check(command: Any) -> str | None:
    if command.name == "require":
        wanted = _list(command.arguments.get("capabilities", []))
        unknown = [w for w in wanted if w not in SUPPORTED]
        return f"extension {', '.join(unknown)} is not supported" if unknown else None
    if command.name not in COMMANDS:
        return f"command {command.name} is not supported"
    unsupported = {"mime", "from", "handle", "comparator"} & set(command.arguments)
    if unsupported:
        return f"{command.name} :{', :'.join(sorted(unsupported))} is not supported"
    test = command.arguments.get("test")
    if test is not None:
        problem = _check_test(test)
        if problem:
            return problem
    for child in command.children:
        problem = _check(child)
        if problem:
            return problem
    return None


def _check_test(test: Any) -> str | None:
    if test.name not in TESTS:
        return f"test {test.name} is not supported"
    if "comparator" in test.arguments and test.name != "size":
        return "comparators other than the default (i;ascii-casemap) are not supported"
    for sub in test.arguments.get("tests", []) + ([test.arguments["test"]] if "test" in test.arguments else []):
        problem = _check_test(sub)
        if problem:
            return problem
    return None


class _Stop(Exception):
    pass


def evaluate(script: str, facts: Facts, decision: Decision) -> Decision:
    """Run a (checked) script, adding to `decision`."""
    if not script.strip():
        return decision
    try:
        _block(parse(script), facts, decision)
    except _Stop:
        decision.stopped = True
    return decision


def _block(commands: list[Any], facts: Facts, decision: Decision) -> None:
    taken = False  # whether the current if/elsif chain has run a branch
    for command in commands:
        name = command.name
        if name == "if":
            taken = _test(command.arguments["test"], facts)
            if taken:
                _block(command.children, facts, decision)
        elif name == "elsif":
            if not taken and _test(command.arguments["test"], facts):
                taken = True
                _block(command.children, facts, decision)
        elif name == "else":
            if not taken:
                _block(command.children, facts, decision)
            taken = True
        else:
            _action(command, facts, decision)


def _action(command: Any, facts: Facts, decision: Decision) -> None:
    name, args, extra = command.name, command.arguments, getattr(command, "extra_arguments", {})
    if name == "keep":
        decision.kept = True
    elif name == "discard":
        decision.keep = False
    elif name == "stop":
        raise _Stop()
    elif name == "fileinto":
        decision.fileinto.append(_list(args["mailbox"])[0])
        if "copy" not in args:
            decision.keep = False
    elif name == "redirect":
        decision.redirect.append(_list(args["address"])[0])
        if "copy" not in args:
            decision.keep = False
    elif name in ("reject", "ereject"):
        decision.reject = _list(args.get("text", "rejected"))[0]
        decision.keep = False
    elif name == "vacation":
        text = str(extra.get("days", "7")) if "days" in args else "7"
        days = min(int(text), MAX_VACATION_DAYS) if text.isdigit() and text.isascii() else 7
        subject = _list(extra["subject"])[0] if "subject" in args and "subject" in extra else None
        addresses = tuple(_list(extra["addresses"])) if "addresses" in args and "addresses" in extra else ()
        decision.vacation = Vacation(_list(args["reason"])[0], subject, max(1, days), addresses)


def _match(match_type: str, keys: list[str], values: list[str]) -> bool:
    for value in values:
        for key in keys:
            if match_type == ":contains" and key.lower() in value.lower():
                return True
            if match_type == ":matches" and matches(key, value):
                return True
            if match_type == ":is" and key.lower() == value.lower():
                return True
    return False


def _part(address: str, part: str) -> str:
    local, _, domain = address.rpartition("@")
    if part == ":localpart":
        return local
    if part == ":domain":
        return domain
    return address


def _test(test: Any, facts: Facts) -> bool:
    name, args = test.name, test.arguments
    if name == "true":
        return True
    if name == "false":
        return False
    if name == "not":
        return not _test(args["test"], facts)
    if name == "allof":
        return all(_test(t, facts) for t in args["tests"])
    if name == "anyof":
        return any(_test(t, facts) for t in args["tests"])
    if name == "exists":
        return all(facts.header(h) for h in _list(args["header-names"]))
    if name == "size":
        match = _SIZE.fullmatch(str(args["limit"]))
        limit = int(match.group(1)) * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[match.group(2).upper()] \
            if match else 0
        return facts.size > limit if args.get("comparator") == ":over" else facts.size < limit
    match_type = args.get("match-type", ":is")
    keys = _list(args["key-list"])
    if name == "header":
        values = [v for h in _list(args["header-names"]) for v in facts.header(h)]
        return _match(match_type, keys, values)
    part = args.get("address-part", ":all")
    if name == "address":
        values = [_part(a, part) for h in _list(args["header-list"]) for a in facts.addresses(h)]
        return _match(match_type, keys, values)
    if name == "envelope":
        values = []
        for which in _list(args["header-list"]):
            address = facts.sender if which.lower() == "from" else facts.recipient if which.lower() == "to" else ""
            values.append(_part(address, part))
        return _match(match_type, keys, values)
    return False
