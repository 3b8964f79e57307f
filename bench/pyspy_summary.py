"""Summarise a py-spy "raw" (collapsed stacks) profile of the server into where the CPU goes.

    py-spy record --subprocesses --rate 250 --format raw -o /tmp/server.txt --pid SERVER_PID \\
        --duration 20      # while bench/ingest.py sends traffic
    .venv/bin/python bench/pyspy_summary.py /tmp/server.txt [--within REGEX] [--top N]

py-spy leaves out idle threads, except those blocked in psycopg's Connection.wait (the socket
wait for PostgreSQL), which it counts as running: those samples are reported apart, as time
spent waiting on PostgreSQL (query execution, lock waits, commit). The rest is CPU. Views:
- by layer: each sample is charged to the innermost frame of a known layer (psycopg's query
  conversion, psycopg, SQLAlchemy, pydantic, JSON, FastAPI/Starlette, uvicorn, product code ...);
- by product step: each sample is charged to the innermost product function on the stack
  (ingest/, cdp/), so a step's figure includes the library work it caused.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# Innermost matching frame wins; checked in this order for each frame.
LAYERS: list[tuple[str, re.Pattern[str]]] = [
    ("psycopg: %(name)s query conversion", re.compile(r"psycopg/_queries\.py")),
    ("psycopg: JSON dump (stdlib json)", re.compile(r"psycopg/types/json\.py")),
    ("psycopg (other)", re.compile(r"(^|/)psycopg/")),
    ("SQLAlchemy ORM bulk insert", re.compile(r"sqlalchemy/orm/(bulk_persistence|persistence)")),
    ("SQLAlchemy compile/cache", re.compile(r"sqlalchemy/sql/")),
    ("SQLAlchemy pool/connection", re.compile(r"sqlalchemy/pool/")),
    ("SQLAlchemy (other)", re.compile(r"(^|/)sqlalchemy/")),
    ("pydantic", re.compile(r"(^|/)pydantic")),
    ("orjson", re.compile(r"orjson")),
    ("stdlib json", re.compile(r"(^|/)json/")),
    ("FastAPI/Starlette", re.compile(r"(^|/)(fastapi|starlette)/")),
    ("anyio (thread pool hand-off)", re.compile(r"(^|/)anyio/")),
    ("uvicorn + httptools", re.compile(r"(^|/)(uvicorn|httptools)/")),
    ("asyncio/uvloop event loop", re.compile(r"asyncio/|uvloop")),
    ("phonenumbers", re.compile(r"phonenumbers")),
    ("product: cdp/ingestion/prepare.py", re.compile(r"(^|/)cdp/ingestion/prepare\.py")),
    ("product: cdp/ingestion/ (service, repo)", re.compile(r"(^|/)cdp/ingestion/")),
    ("product: ingest/ (routes)", re.compile(r"(^|/)ingest/")),
    ("product: cdp/identity", re.compile(r"(^|/)cdp/identity/")),
    ("product: cdp/ (other)", re.compile(r"(^|/)cdp/")),
    ("threading / queue", re.compile(r"threading\.py|queue\.py|concurrent/")),
]
PRODUCT = re.compile(r"(^|/)(ingest|cdp)/[\w/]+\.py")
FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::(?P<line>\d+))?\)$")


def parse(path: Path) -> list[tuple[list[tuple[str, str]], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        stack_text, _, count = line.rpartition(" ")
        frames = []
        for raw in stack_text.split(";"):
            match = FRAME.match(raw.strip())
            if match:
                frames.append((match["func"], match["file"]))
            else:
                frames.append((raw.strip(), ""))
        stacks.append((frames, int(count)))
    return stacks


def _idle(frames: list[tuple[str, str]]) -> bool:
    """Blocked in C where py-spy cannot tell: uvloop's loop, idle thread-pool workers."""
    func, file = frames[-1] if frames else ("", "")
    if func == "Runner.run" and file.endswith("asyncio/runners.py"):
        return True  # uvloop's run_forever, in C
    if re.search(r"multiprocessing/connection\.py|selectors\.py", file):
        return True  # uvicorn's supervisor and its ping pipe
    return func in ("Condition.wait", "Event.wait", "sleep")


def _waits(frames: list[tuple[str, str]]) -> bool:
    func, file = frames[-1] if frames else ("", "")
    return file.endswith("psycopg/connection.py") and func.endswith(".wait")


def layer_of(frames: list[tuple[str, str]]) -> str:
    for func, file in reversed(frames):  # innermost first
        for name, pattern in LAYERS:
            if pattern.search(file) or (name == "orjson" and "orjson" in func):
                return name
    return "other (interpreter, stdlib)"


def product_step(frames: list[tuple[str, str]]) -> str:
    for func, file in reversed(frames):
        if PRODUCT.search(file):
            short = file.split("/main/")[-1].split("/cdp_head/")[-1]
            return f"{short}:{func}"
    return "(no product frame: server, framework)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path, help="py-spy --format raw output")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--within",
        help="keep only stacks with a frame matching this regex "
        "(e.g. '_store' for the ingest worker thread)",
    )
    args = parser.parse_args()
    stacks = parse(args.profile)
    if args.within:
        keep = re.compile(args.within)
        stacks = [(f, c) for f, c in stacks if any(keep.search(func) for func, _ in f)]
    idle = sum(c for f, c in stacks if _idle(f))
    stacks = [(f, c) for f, c in stacks if not _idle(f)]
    waiting = [(f, c) for f, c in stacks if _waits(f)]
    running = [(f, c) for f, c in stacks if not _waits(f)]
    total = sum(count for _, count in stacks)
    print(
        f"left out {idle} samples of threads blocked outside PostgreSQL (event loop, idle "
        "thread-pool workers, uvicorn's supervisor)"
    )
    wait_total = sum(count for _, count in waiting)
    cpu_total = total - wait_total
    print(
        f"{total} samples; {wait_total / total:.1%} are threads blocked in psycopg's "
        "Connection.wait (PostgreSQL executing, lock waits, commit), which py-spy does not "
        "treat as idle; the rest is CPU in Python."
    )
    layers: Counter[str] = Counter()
    steps: Counter[str] = Counter()
    for frames, count in running:
        layers[layer_of(frames)] += count
        steps[product_step(frames)] += count
    print(f"\nCPU ({cpu_total} samples) by layer (innermost known frame):")
    for name, count in layers.most_common():
        print(f"  {count / cpu_total:6.1%}  {name}")
    print("\nCPU by product step (innermost product function, library work included):")
    for name, count in steps.most_common(args.top):
        print(f"  {count / cpu_total:6.1%}  {name}")
    if wait_total:
        waits: Counter[str] = Counter()
        for frames, count in waiting:
            waits[product_step(frames)] += count
        print(f"\nwaiting on PostgreSQL ({wait_total} samples) by product step:")
        for name, count in waits.most_common(12):
            print(f"  {count / wait_total:6.1%}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
