"""Run the fuzz targets (targets.py) for a time budget each, and fail if one finds a broken contract.

    .venv/bin/python -m tests.fuzz.run                    # every target, $POLYPORT_FUZZ_SECONDS (15) each
    .venv/bin/python -m tests.fuzz.run --seconds 60 imap  # one target, longer
    .venv/bin/python -m tests.fuzz.run --replay imap tests/fuzz/crashes/imap/crash-...  # rerun inputs
    .venv/bin/python -m tests.fuzz.run --merge imap NEW_INPUTS/  # what adds coverage, into the corpus

The engine is atheris (libFuzzer, coverage-guided; installed by the test extras where PyPI has a wheel:
Linux x86-64, CPython 3.11 to 3.14). Elsewhere a plain mutation loop over the corpus runs instead, with
the same targets, budget and checks, and says so. Each target runs in its own process (libFuzzer
exits when done), `--jobs` at a time (default: one per CPU). libFuzzer starts from
`corpus/<target>/` (read only: what it finds on the way goes to a temporary folder and is dropped), and
bounds each input's time (`Target.timeout`) and the process's memory (RSS_LIMIT_MB). A failing input is
written to `crashes/<target>/` (gitignored): replay it, fix the parser, then copy the input into
`corpus/<target>/` under a name that says what it was, so `test_corpus.py` keeps it fixed.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import random
import re
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
import types
from dataclasses import dataclass
from pathlib import Path

from tests.fuzz.targets import TARGETS, Target

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
CRASHES = HERE / "crashes"
DEFAULT_SECONDS = 15
RSS_LIMIT_MB = 1536  # the process: the interpreter and atheris take ~100 MB of it
GRACE = 60  # seconds past the budget before a child is killed (start-up, the corpus's first pass)


def have_atheris() -> bool:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


def corpus_files(name: str) -> list[Path]:
    folder = CORPUS / name
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


# -- one target, in its own process ---------------------------------------------------------------------

def child_atheris(target: Target, seconds: int, work: Path, merge: list[Path] | None = None,
                  libfuzzer: list[str] | None = None) -> None:
    import atheris

    atheris.enabled_hooks.add("str")  # startswith and endswith of str and bytes lead the fuzzer to keywords
    check = target.load()
    # Coverage of the parser's own functions only: instrument_imports would take every module of the
    # top-level package (all of polyport, seconds of start-up), whatever `include` names.
    for function in gc.get_objects():
        if isinstance(function, types.FunctionType) and _instrumented(function.__module__, target):
            atheris.instrument_func(function)
    crashes = CRASHES / target.name
    crashes.mkdir(parents=True, exist_ok=True)
    corpus = CORPUS / target.name
    options = [f"-timeout={target.timeout}", f"-rss_limit_mb={RSS_LIMIT_MB}", f"-max_len={target.max_len}",
               f"-artifact_prefix={crashes}/"]
    if merge is not None:  # the inputs of these folders that reach coverage the corpus does not, into it
        corpus.mkdir(parents=True, exist_ok=True)
        # libFuzzer merges in child processes it starts with the shell, from argv[0] and its options.
        itself = f"{shlex.quote(sys.executable)} -m tests.fuzz.run --libfuzzer {target.name} --"
        atheris.Setup([itself, *options, "-merge=1", str(corpus), *map(str, merge)], check)
    elif libfuzzer is not None:
        atheris.Setup([sys.argv[0], *libfuzzer], check)
    else:
        atheris.Setup([sys.argv[0], *options, f"-max_total_time={seconds}", "-print_final_stats=1", "-reload=0",
                       str(work), str(corpus)], check)
    atheris.Fuzz()  # exits the process


def _instrumented(module: str | None, target: Target) -> bool:
    return module is not None and any(module == name or module.startswith(name + ".") for name in target.instrument)


def _mutate(rng: random.Random, data: bytes, seeds: list[bytes], max_len: int) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        at = rng.randint(0, len(out))
        kind = rng.randrange(7)
        if kind == 0 and out:
            out[min(at, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif kind == 1:
            out[at:at] = rng.randbytes(rng.randint(1, 8))
        elif kind == 2:
            del out[at:at + rng.randint(1, 32)]
        elif kind == 3 and out:  # a piece of itself, repeated: long runs, deep nesting
            start = rng.randrange(len(out))
            piece = out[start:start + rng.randint(1, 16)]
            out[at:at] = piece * rng.choice((1, 2, 10, 100, 1000))
        elif kind == 4:  # a piece of another seed: keywords, delimiters
            other = rng.choice(seeds)
            start = rng.randint(0, len(other))
            out[at:at] = other[start:start + rng.randint(1, 64)]
        elif kind == 5:
            out[at:at] = rng.choice((b"\r\n", b"\n", b"\r", b"\0", b" ", b'"', b"{", b"(", b"<", b"--", b"."))
        elif out:
            out[min(at, len(out) - 1)] = rng.randrange(256)
    return bytes(out[:max_len])


def child_random(target: Target, seconds: int, work: Path) -> int:
    """Without atheris: mutations of the corpus, not guided by coverage. Same checks, same reporting."""
    check = target.load()
    seeds = [p.read_bytes()[:target.max_len] for p in corpus_files(target.name)] or [b""]
    rng = random.Random(int(os.environ.get("POLYPORT_FUZZ_SEED", str(time.time_ns()))))
    current = os.open(work / "current", os.O_RDWR | os.O_CREAT, 0o600)  # for the parent, if this hangs
    started = time.monotonic()
    runs, slowest = 0, 0.0
    inputs = iter(seeds)
    while time.monotonic() - started < seconds:
        data = next(inputs, None)
        if data is None:
            data = _mutate(rng, rng.choice(seeds), seeds, target.max_len)
        os.ftruncate(current, 0)
        os.pwrite(current, data, 0)
        began = time.perf_counter()
        try:
            check(data)
        except Exception:
            traceback.print_exc()
            _save(target, "crash", data)
            return 1
        took = time.perf_counter() - began
        slowest = max(slowest, took)
        runs += 1
        if took > target.timeout:
            print(f"==ERROR: an input took {took:.1f} s (timeout {target.timeout} s)", file=sys.stderr)
            _save(target, "timeout", data)
            return 1
    print(f"stat::number_of_executed_units: {runs}\nstat::average_exec_per_sec: {runs // max(1, seconds)}\n"
          f"stat::slowest_unit_time_sec: {slowest:.3f}", file=sys.stderr)
    return 0


def _save(target: Target, kind: str, data: bytes) -> Path:
    folder = CRASHES / target.name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind}-{hashlib.sha1(data).hexdigest()}"  # a name, as libFuzzer's
    path.write_bytes(data)
    print(f"Test unit written to {path}", file=sys.stderr)
    return path


# -- the parent: every target, a few at a time ------------------------------------------------------------

@dataclass
class Outcome:
    target: str
    ok: bool
    runs: int | None
    seconds: float
    rate: int | None  # runs a second, once started
    slowest: str
    rss: str
    found: list[Path]
    log: str


def _stat(log: str, name: str) -> str | None:
    match = re.search(rf"stat::{name}:\s*([0-9.]+)", log)
    return match.group(1) if match else None


def run_targets(names: list[str], seconds: int, jobs: int, engine: str) -> list[Outcome]:
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="polyport-fuzz-") as tmp:
        pending = list(names)
        running: dict[str, tuple[subprocess.Popen[bytes], float, Path, set[Path]]] = {}
        while pending or running:
            while pending and len(running) < jobs:
                name = pending.pop(0)
                work = Path(tmp) / name
                work.mkdir()
                before = set((CRASHES / name).glob("*"))
                log = work / "log"
                with open(log, "wb") as out:
                    child = subprocess.Popen(  # our own interpreter and module
                        [sys.executable, "-m", "tests.fuzz.run", "--child", name, "--engine", engine,
                         "--seconds", str(seconds), "--work", str(work)],
                        stdout=out, stderr=subprocess.STDOUT, cwd=HERE.parent.parent)
                running[name] = (child, time.monotonic(), work, before)
            time.sleep(0.2)
            for name, (child, began, work, before) in list(running.items()):
                killed = False
                if child.poll() is None:
                    if time.monotonic() - began < seconds + GRACE:
                        continue
                    child.kill()
                    killed = True
                child.wait()
                del running[name]
                text = (work / "log").read_bytes().decode("utf-8", "replace")
                found = sorted(set((CRASHES / name).glob("*")) - before)
                if killed:
                    text += f"\n==ERROR: killed after {seconds + GRACE} s: a hang the engine did not catch\n"
                    if (work / "current").exists():  # the random engine's input in progress
                        found.append(_save(TARGETS[name], "hang", (work / "current").read_bytes()))
                runs = _stat(text, "number_of_executed_units")
                rate = _stat(text, "average_exec_per_sec")
                outcome = Outcome(name, child.returncode == 0 and not found and not killed,
                                  int(runs) if runs else None, time.monotonic() - began, int(rate) if rate else None,
                                  _stat(text, "slowest_unit_time_sec") or "?", _stat(text, "peak_rss_mb") or "?",
                                  found, text)
                outcomes.append(outcome)
                _report(outcome)
    return outcomes


def _report(o: Outcome) -> None:
    runs = f"{o.runs:,}" if o.runs is not None else "?"
    rate = f"{o.rate:,}/s" if o.rate is not None else "?"
    print(f"{o.target:<10} {'ok' if o.ok else 'FAILED':<7} {runs:>10} runs {rate:>9}  slowest input {o.slowest} s"
          f"  peak RSS {o.rss} MB  ({o.seconds:.0f} s)", flush=True)
    if not o.ok:
        start = o.log.find("=== Uncaught Python exception")
        tail = o.log[start:] if start >= 0 else "\n".join(o.log.splitlines()[-40:])
        print("    " + "\n    ".join(tail.splitlines()[:60]), flush=True)
        for path in o.found:
            print(f"    input saved: {path.relative_to(HERE.parent.parent)}  (replay: .venv/bin/python -m "
                  f"tests.fuzz.run --replay {o.target} {path.relative_to(HERE.parent.parent)})", flush=True)


def replay(name: str, files: list[Path]) -> int:
    check = TARGETS[name].load()
    failed = 0
    for path in files or corpus_files(name):
        try:
            check(path.read_bytes())
        except Exception:
            failed += 1
            print(f"{path}: FAILED")
            traceback.print_exc()
        else:
            print(f"{path}: ok")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.run", description=__doc__.split("\n")[0])
    parser.add_argument("targets", nargs="*", help=f"default: all ({', '.join(TARGETS)})")
    parser.add_argument("--seconds", type=int,
                        default=int(os.environ.get("POLYPORT_FUZZ_SECONDS", DEFAULT_SECONDS)), help="per target")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("POLYPORT_FUZZ_JOBS", os.cpu_count() or 1)))
    parser.add_argument("--engine", choices=("auto", "atheris", "random"), default="auto")
    parser.add_argument("--replay", metavar="TARGET", help="run the given inputs (default: its corpus) once")
    parser.add_argument("--merge", metavar="TARGET",
                        help="add to corpus/TARGET/ the inputs of the given folders that reach new coverage")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--libfuzzer", help=argparse.SUPPRESS)  # a target with libFuzzer's own arguments
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.replay:
        return replay(args.replay, [Path(p) for p in args.targets])
    if args.libfuzzer:
        child_atheris(TARGETS[args.libfuzzer], 0, Path(), libfuzzer=args.targets)
    if args.merge:
        child_atheris(TARGETS[args.merge], 0, Path(), merge=[Path(p) for p in args.targets])
    if args.child:
        if args.engine == "atheris":
            child_atheris(TARGETS[args.child], args.seconds, args.work)
        return child_random(TARGETS[args.child], args.seconds, args.work)

    unknown = [name for name in args.targets if name not in TARGETS]
    if unknown:
        parser.error(f"unknown target {', '.join(unknown)}; the targets are {', '.join(TARGETS)}")
    engine = args.engine
    if engine == "auto":
        engine = "atheris" if have_atheris() else "random"
        if engine == "random":
            print("atheris is not installed here (PyPI has wheels for Linux x86-64, CPython 3.11 to 3.14): "
                  "mutating the corpus without coverage guidance instead")
    names = args.targets or list(TARGETS)
    started = time.monotonic()
    outcomes = run_targets(names, args.seconds, max(1, args.jobs), engine)
    failed = [o.target for o in outcomes if not o.ok]
    total = sum(o.runs or 0 for o in outcomes)
    print(f"{engine}: {len(outcomes)} targets, {total:,} runs in {time.monotonic() - started:.0f} s; "
          + (f"FAILED: {', '.join(failed)}" if failed else "no contract broken"))
    if failed:
        print(f"Failing inputs are in {CRASHES.relative_to(HERE.parent.parent)}/<target>/.")
    # The plain closing line test reports read (one per target, as a test runner counts tests).
    print(f"fuzzing: {len(outcomes) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
