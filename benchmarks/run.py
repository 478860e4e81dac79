"""Run every benchmark and report: ``python benchmarks/run.py [--quick]``.

1. Starts :mod:`server` in its own process (uvloop, pre-encoded responses).
2. Runs each client kind x scenario of :mod:`clients` in a fresh process of its
   own (so ``getrusage`` and the peak RSS are that client's alone), the tight
   comparisons (``orq_async`` and the ``raw`` floor) several times, interleaved,
   keeping each client's median and the median of the run-by-run ratios (each
   ``orq_async`` run over the ``raw`` run just before it), on which the "raw
   floor" targets are judged: on a shared machine the speed drifts by up to
   ±20 % over minutes, which a pair run back to back mostly cancels.
3. Runs :mod:`bench_parser` and :mod:`bench_chat_accumulator` (in process).
4. Prints a table with ratios against the raw aiohttp + msgspec floor and the
   performance targets, and writes ``benchmarks/results.json``,
   ``benchmarks/results.png`` (matplotlib) and ``benchmarks/RESULTS.md`` (the
   results page, with this run's numbers and the machine they came from).

Also runs the ``latency`` scenario of :mod:`clients` (paced streams stamped by
the server: delivery delay percentiles) at 64 and 1000 streams on both loops.

The chat scenarios (``chat``, ``chat_tools``) run every client against
``/v2/router/chat/completions``; ``orq_async`` takes part once its installed
version has ``client.router.chat.completions`` (otherwise only its peers run, and
the chat targets are not judged).

``--merge`` runs only the scenarios named by ``--scenarios`` (and the parser
and chat accumulation benchmarks, unless ``--no-parser`` / ``--no-accumulation``)
and writes their rows into the existing ``results.json`` / ``RESULTS.md``, keeping
every other row of the earlier run (the page says which rows came from which
date): for example
``run.py --merge --scenarios chat,chat_tools --no-latency --no-parser``.

Needs the ``bench`` extra: ``pip install -e ".[bench]"``. About 4-5 minutes on a
2-core machine (``--quick``: about a minute, numbers noisier).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS_JSON = HERE / "results.json"
RESULTS_PNG = HERE / "results.png"
RESULTS_MD = HERE / "RESULTS.md"

CLIENT_ORDER = ("orq_async", "raw", "openai", "orq_sdk")
LABELS = {
    "orq_async": "orq_async",
    "raw": "raw aiohttp+msgspec (floor)",
    "openai": "openai AsyncOpenAI",
    "orq_sdk": "orq-ai-sdk (async)",
}
#: scenario -> (metric key, unit, title)
METRICS = {
    "stream": ("us_per_chunk", "µs CPU/chunk", "Streaming, 64 × 100 tokens"),
    "json": ("us_per_request", "µs CPU/request", "Non-streaming, 64 concurrent"),
    "memory": ("kb_per_stream", "KiB/stream", "Memory, 1000 slow streams in flight"),
    "paced": ("us_per_chunk", "µs CPU/chunk", "Paced streaming, 1 chunk/2 ms"),
    "paced_uvloop": (
        "us_per_chunk",
        "µs CPU/chunk",
        "Paced streaming, 1 chunk/2 ms, uvloop",
    ),
    "chat": ("us_per_chunk", "µs CPU/chunk", "Chat streaming, 64 × 100 deltas"),
    "chat_tools": (
        "us_per_chunk",
        "µs CPU/chunk",
        "Chat tool call, 64 × 50 argument chunks",
    ),
}
#: Scenarios in which each client reads ``chat.completion.chunk``s.
CHAT_SCENARIOS = ("chat", "chat_tools")
#: Latency settings: (concurrent streams, ms between chunks, chunks per stream).
LATENCY = ((64, 20, 50), (1000, 50, 20))
COMMAND = (
    'python3 -m venv .venv && .venv/bin/pip install -e ".[bench]" '
    "&& .venv/bin/python benchmarks/run.py"
)
PACKAGES = (
    "orq-async",
    "aiohttp",
    "msgspec",
    "anyio",
    "uvloop",
    "openai",
    "httpx2",
    "httpx",
    "httpx-sse",
    "orq-ai-sdk",
    "pydantic",
    "matplotlib",
)


# --- running things -------------------------------------------------------------


class Server:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "server.py"), "--port", "0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "READY":
            self.proc.kill()
            raise RuntimeError(f"the benchmark server did not start: {line}")
        self.url = f"http://127.0.0.1:{line[1]}"
        self.loop = line[2]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def run_client(
    client: str, scenario: str, url: str, extra: list[str]
) -> dict[str, Any]:
    loop = "asyncio"
    for name in ("asyncio", "uvloop"):
        if scenario.endswith("_" + name):
            scenario, loop = scenario[: -len(name) - 1], name
    cmd = [sys.executable, str(HERE / "clients.py"), client, scenario, "--url", url]
    cmd += ["--loop", loop]
    out = subprocess.run(
        cmd + extra, capture_output=True, text=True, timeout=600, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"{client} {scenario} failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def orq_async_has_chat() -> bool:
    """Whether the installed ``orq_async`` offers ``router.chat.completions``."""
    import orq_async

    client = orq_async.AsyncOrq(api_key="bench-key")
    chat = getattr(client.router, "chat", None)
    return hasattr(getattr(chat, "completions", None), "create")


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False)
        for line in lscpu.stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    versions = {name: _version(name) for name in PACKAGES}
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "os": f"{platform.system()} {platform.release()}",
        "packages": versions,
    }


def latency_runs(url: str, quick: bool) -> list[dict[str, Any]]:
    """Each latency setting x loop, raw then orq_async, interleaved."""
    out = []
    for streams, interval, tokens in LATENCY:
        for loop in ("asyncio", "uvloop"):
            for _ in range(1 if quick else 2):
                for client in ("raw", "orq_async"):
                    extra = [
                        "--concurrency", str(streams),
                        "--tokens", str(tokens),
                        "--interval-ms", str(interval),
                        "--min-rounds", "1",
                    ]  # fmt: skip
                    r = run_client(client, f"latency_{loop}", url, extra)
                    out.append(r)
                    print(
                        f"  latency {streams:4d} streams {loop:7s} {client:10s} "
                        f"p50 {r['p50_us']:8.0f} µs  p99 {r['p99_us']:8.0f} µs"
                    )
    return out


def latency_md(runs: list[dict[str, Any]]) -> str:
    head = (
        "| streams | ms between chunks | loop | client | p50 µs | p90 µs | p99 µs "
        "| max µs | CPU µs/chunk |\n|---:|---:|---|---|---:|---:|---:|---:|---:|"
    )
    rows = [
        f"| {r['streams']} | {r['interval_ms']} | {r['loop']} | "
        f"{LABELS[r['client']]} | {r['p50_us']:.0f} | {r['p90_us']:.0f} | "
        f"{r['p99_us']:.0f} | {r['max_us']:.0f} | {r['us_per_chunk']:.1f} |"
        for r in runs
    ]
    return "\n".join([head, *rows])


def spreads_md(results: dict[str, Any]) -> str:
    lines = [
        "| scenario | pairs | min | median | max | every pair, lowest to highest |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for scenario, (_key, _unit, title) in METRICS.items():
        paired = results["paired"].get(scenario)
        if not paired:
            continue
        v = sorted(paired["values"])
        lines.append(
            f"| {title} | {len(v)} | {v[0]:.2f} | {paired['median']:.2f} | "
            f"{v[-1]:.2f} | {', '.join(f'{x:.2f}' for x in v)} |"
        )
    return "\n".join(lines)


# --- reporting ---------------------------------------------------------------------


def ratio_rows(results: dict[str, Any]) -> list[tuple[str, str, float, float]]:
    """(scenario title, client label, value, value / raw floor), in table order."""
    rows = []
    for scenario, (key, _unit, title) in METRICS.items():
        per = results["clients"].get(scenario)
        if not per:
            continue
        floor = per["raw"]["median"]
        for client in [c for c in CLIENT_ORDER if c in per]:
            value = per[client]["median"]
            rows.append((title, client, value, value / floor))
        del key
    return rows


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    c = results["clients"]
    med = {s: {k: v["median"] for k, v in per.items()} for s, per in c.items()}
    out = []

    def add(
        name: str, value: float, op: str, bound: float, of_medians: float | None = None
    ) -> None:
        ok = value <= bound if op == "<=" else value >= bound
        out.append(
            {
                "target": name,
                "value": value,
                "op": op,
                "bound": bound,
                "met": ok,
                "ratio_of_medians": of_medians,
            }
        )

    def add_floor(name: str, scenario: str) -> None:
        """orq_async within 1.25x the raw floor, judged on the median of the
        run-by-run ratios (each pair ran back to back, so the machine's drift
        cancels); the ratio of the two medians is kept alongside."""
        per = med.get(scenario, {})
        if "orq_async" not in per or scenario not in results["paired"]:
            return  # not measured (e.g. orq_async without chat)
        paired = results["paired"][scenario]["median"]
        add(name, paired, "<=", 1.25, per["orq_async"] / per["raw"])

    s = med["stream"]
    add_floor("stream: orq_async / raw floor CPU per chunk", "stream")
    add(
        "stream: openai / orq_async CPU per chunk",
        s["openai"] / s["orq_async"],
        ">=",
        25,
    )
    add(
        "stream: orq-ai-sdk / orq_async CPU per chunk",
        s["orq_sdk"] / s["orq_async"],
        ">=",
        100,
    )
    add_floor("json: orq_async / raw floor CPU per request", "json")
    add_floor("memory: orq_async / raw floor KiB per stream", "memory")
    p = results["parser"]["us_per_chunk"]
    add(
        "parser: orq_async parse+msgspec / naive split+msgspec",
        p["orq_async parse+msgspec"] / p["naive split+msgspec"],
        "<=",
        1.5,
    )
    add_floor("chat: orq_async / raw floor CPU per chunk", "chat")
    add_floor("chat tool call: orq_async / raw floor CPU per chunk", "chat_tools")
    accumulation = results.get("chat_accumulator")
    if accumulation:
        for name, r in accumulation["streams"].items():
            add(
                f"chat accumulation ({name} stream): µs per chunk of add()",
                r["us_per_chunk"]["add"],
                "<=",
                accumulation["target_us"],
            )
    return out


def table_md(results: dict[str, Any]) -> str:
    lines = [
        "| scenario | client | CPU per chunk / request, or memory | × raw floor |",
        "|---|---|---:|---:|",
    ]
    for scenario, (key, unit, title) in METRICS.items():
        per = results["clients"].get(scenario)
        if not per:
            continue
        floor = per["raw"]["median"]
        for client in [c for c in CLIENT_ORDER if c in per]:
            v = per[client]["median"]
            extra = ""
            if scenario == "stream":
                extra = f" ({per[client]['per_request_median']:.0f} µs/request)"
            cells = (
                title,
                LABELS[client],
                f"{v:.2f} {unit}{extra}",
                f"{v / floor:.2f}×",
            )
            lines.append("| " + " | ".join(cells) + " |")
        del key
    p = results["parser"]["us_per_chunk"]
    floor = p["naive split+msgspec"]
    mb = results["parser"]["bytes"] / 1e6
    for name, us in p.items():
        lines.append(
            f"| SSE parser, {mb:.0f} MB in 1–16 KiB reads | {name} | "
            f"{us:.3f} µs/chunk | {us / floor:.2f}× (vs naive split+msgspec) |"
        )
    return "\n".join(lines)


def accumulator_md(results: dict[str, Any]) -> str:
    """The chat accumulation table (µs per chunk), or nothing if not run."""
    accumulation = results.get("chat_accumulator")
    if not accumulation:
        return ""
    head = (
        "| stream | chunks | `add()` | `add()` + `result()` | "
        "openai `handle_chunk` + `get_final_completion()` |"
    )
    lines = [head, "|---|---:|---:|---:|---:|"]
    for name, r in accumulation["streams"].items():
        us = r["us_per_chunk"]
        lines.append(
            f"| {name.replace('_', ' ')} | {r['chunks']} | {us['add']:.3f} µs | "
            f"{us['add+result']:.3f} µs | {us['openai handle_chunk']:.1f} µs |"
        )
    return "\n".join(lines)


def print_report(results: dict[str, Any]) -> None:
    print()
    for scenario, (_key, unit, title) in METRICS.items():
        per = results["clients"].get(scenario)
        if not per:
            continue
        floor = per["raw"]["median"]
        print(f"{title}  [{unit}, median; ratio to the raw floor]")
        paired = results["paired"].get(scenario)
        if paired:
            print(
                "  orq_async / raw run by run: median "
                f"{paired['median']:.2f} of "
                + ", ".join(f"{x:.2f}" for x in sorted(paired["values"]))
            )
        for client in [c for c in CLIENT_ORDER if c in per]:
            v = per[client]["median"]
            runs = ", ".join(f"{x:.2f}" for x in per[client]["values"])
            extra = ""
            if scenario == "stream":
                extra = f"  {per[client]['per_request_median']:8.0f} µs/request"
            rss = per[client]["peak_rss_kb"] / 1024
            print(
                f"  {LABELS[client]:30s} {v:10.2f}  {v / floor:7.2f}x"
                f"{extra}  peak RSS {rss:5.0f} MiB  runs [{runs}]"
            )
    p = results["parser"]["us_per_chunk"]
    floor = p["naive split+msgspec"]
    print(
        f"SSE parser alone, {results['parser']['bytes'] / 1e6:.0f} MB in "
        f"{results['parser']['reads']} random 1-16 KiB reads  [µs/chunk]"
    )
    for name, us in p.items():
        print(f"  {name:30s} {us:10.3f}  {us / floor:7.2f}x naive split+msgspec")
    accumulation = results.get("chat_accumulator")
    if accumulation:
        for name, r in accumulation["streams"].items():
            print(f"Chat accumulation alone, {name} stream  [µs CPU/chunk]")
            for contender, us in r["us_per_chunk"].items():
                print(f"  {contender:30s} {us:10.3f}")
    print("\nPerformance targets:")
    for t in results["targets"]:
        mark = "MET   " if t["met"] else "MISSED"
        also = ""
        if t["ratio_of_medians"] is not None:
            also = f"; ratio of the medians {t['ratio_of_medians']:.2f}"
        print(
            f"  {mark} {t['target']}: {t['value']:.2f} "
            f"(want {t['op']} {t['bound']}{also})"
        )


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [s for s in METRICS if s in results["clients"]] + ["parser"]
    cols_n = 3
    rows_n = -(-len(panels) // cols_n)
    fig, grid = plt.subplots(rows_n, cols_n, figsize=(12, 4.2 * rows_n), squeeze=False)
    axes = list(grid.flat)
    for spare in axes[len(panels) :]:
        spare.set_visible(False)
    axes = axes[: len(panels)]
    colors = {
        "orq_async": "#2b8a3e",
        "raw": "#868e96",
        "openai": "#1c7ed6",
        "orq_sdk": "#e8590c",
    }
    for ax, scenario in zip(axes, panels, strict=True):
        if scenario == "parser":
            p = results["parser"]["us_per_chunk"]
            names = [n for n in p if n.endswith("msgspec")]
            values = [p[n] for n in names]
            cols = ["#2b8a3e", "#868e96", "#1c7ed6", "#7048e8"]
            labels = [
                n.replace(" parse+msgspec", "").replace(" split+msgspec", "")
                for n in names
            ]
            ax.set_title(
                "SSE parse + msgspec decode\n(20 MB, random reads)", fontsize=10
            )
            ax.set_ylabel("µs CPU/chunk")
        else:
            key, unit, title = METRICS[scenario]
            per = results["clients"][scenario]
            present = [c for c in CLIENT_ORDER if c in per]
            values = [per[c]["median"] for c in present]
            cols = [colors[c] for c in present]
            names = {"raw": "raw floor", "orq_sdk": "orq-ai-sdk"}
            labels = [names.get(c, c) for c in present]
            ax.set_title(title.replace(", ", ",\n", 1), fontsize=10)
            ax.set_ylabel(unit)
            del key
        bars = ax.bar(labels, values, color=cols)
        ax.set_yscale("log")
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        for bar, v in zip(bars, values, strict=True):
            ax.annotate(
                f"{v:.3g}",
                (bar.get_x() + bar.get_width() / 2, v),
                ha="center",
                va="bottom",
                fontsize=8,
            )
    m = results["machine"]
    fig.suptitle(
        f"orq_async benchmarks (lower is better, log scale) — {m['cpu']}, "
        f"{m['cores']} cores, Python {m['python']}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def results_md(results: dict[str, Any]) -> str:
    m = results["machine"]
    pk = m["packages"]
    versions = ", ".join(f"{k} {v}" for k, v in pk.items())
    target_lines = "\n".join(
        f"| {t['target']} | {t['op']} {t['bound']} | {t['value']:.2f} | "
        + ("" if t["ratio_of_medians"] is None else f"{t['ratio_of_medians']:.2f}")
        + f" | {'met' if t['met'] else '**missed**'} |"
        for t in results["targets"]
    )
    cfg = results["config"]
    stream_pairs = results["paired"].get("stream", {}).get("values", [])
    paired_stream = ", ".join(f"{x:.2f}" for x in sorted(stream_pairs)) or "n/a"
    return f"""# Benchmark results

`benchmarks/` compares `orq_async` with the official `orq-ai-sdk`, `openai`'s
`AsyncOpenAI` (pointed at the router's `/v2/router` base) and a raw aiohttp +
msgspec loop, the practical floor (no errors, timeouts, retries or spec-compliant
SSE parsing). One command runs everything in about 4–5 minutes on a 2-core machine:

```sh
{COMMAND}
```

(`--quick` for a shorter, noisier run.) It starts `benchmarks/server.py`, a fake
router in its own process (uvloop, pre-encoded ~250-byte chunks, every chunk with
`"finish_reason": "stop"` because the official SDK rejects `null`), then runs every
client × scenario in a fresh process of its own (`benchmarks/clients.py`): client CPU
time is `ru_utime + ru_stime` from `resource.getrusage`, taken around the measured
rounds only (imports, client set-up and a warm-up round excluded). Memory per
in-flight stream is the RSS growth (`/proc/self/statm`) while 1000 slow streams are
held open after their first chunk, over a baseline taken right before they are
opened, divided by 1000. The SSE parser is timed alone by `benchmarks/bench_parser.py`.
Results go to `benchmarks/results.json`, `benchmarks/results.png` and this page
(`benchmarks/RESULTS.md`).

Scenarios: **streaming**, {cfg["concurrency"]} concurrent streams × {cfg["tokens"]}
tokens, whole body written at once by the server (many events per read: the
client's own cost per chunk); **paced streaming**, the same with one chunk every
2 ms (about one event per read, as from a real model: the event loop's wake-up per
chunk dominates); **non-streaming**, {cfg["concurrency"]} concurrent completions of
{cfg["tokens"]} tokens; **memory**, {cfg["streams"]} concurrent slow streams. The
`orq_async` and raw-floor numbers are medians of {cfg["repeats"]} interleaved runs;
run by run (each `orq_async` run over the raw run just before it), the streaming
ratios were {paired_stream} (lowest to highest).

![benchmark chart](results.png)

Run-by-run ratios, `orq_async` over the raw floor (each pair ran back to back; a wide
or two-humped spread means the machine's speed moved between runs):

{spreads_md(results)}

{table_md(results)}
{chat_md(results)}
Latency the client adds, paced streams: the server stamps each chunk with its
write time (`time.monotonic_ns()`, `CLOCK_MONOTONIC`), the client takes delivery by
`async for` minus that stamp, every chunk but each stream's first (the raw floor's
delay is the loop's and the kernel's own; compare clients within this run):

{latency_md(results.get("latency", []))}

Performance targets (ratios from this run):

| target | want | got | ratio of the medians | |
|---|---|---:|---:|---|
{target_lines}

"got" for the three "raw floor" targets is the median of the run-by-run ratios
(each `orq_async` run over the raw run just before it), so that the machine's
drift between runs cancels; the ratio of the two clients' medians is shown next
to it.

Taken on {results["date"]} on {m["cores"]} cores of {m["cpu"]}, {m["os"]},
{m["implementation"]} {m["python"]}; the client processes use the default asyncio
event loop unless the scenario says uvloop, the server uvloop. Packages: {versions}.
{load_md(results)}{note_md(results)}{merged_md(results)}"""


def chat_md(results: dict[str, Any]) -> str:
    """What the chat rows measure, and the chat accumulation table."""
    if not set(CHAT_SCENARIOS) & set(results["clients"]):
        return ""
    cfg = results["config"]
    text = f"""
The chat rows stream `POST /v2/router/chat/completions` with
`stream_options.include_usage`: **chat streaming**, {cfg["concurrency"]}
concurrent streams of a role chunk, {cfg["tokens"]} `delta.content` chunks, a
finish chunk and a usage-only chunk (`choices: []`); **chat tool call**, the same
around one tool call whose JSON arguments arrive over
{cfg.get("tool_pieces", 50)} chunks (the request carries a `tools` definition).
Every client reads `chunk.choices[0].delta.content` (and the tool-call argument
pieces) of each chunk whose `choices` is not empty and joins them; CPU per chunk
counts every chunk read, usage-only included. `orq_async` calls
`client.router.chat.completions.create(..., stream=True)`, openai
`client.chat.completions.create(stream=True)` and the official SDK
`orq.router.chat.completions.create_async(stream=True)`."""
    if "orq_async" not in results["clients"].get("chat", {}):
        text += (
            "\n\n`orq_async` has no chat rows yet: the version measured had no "
            "`router.chat.completions`."
        )
    accumulation = accumulator_md(results)
    if accumulation:
        text += f"""

Chat accumulation alone (`benchmarks/bench_chat_accumulator.py`, in process, the
chunks decoded beforehand): CPU per chunk of `ChatCompletionAccumulator.add()`
(what `final_completion()` adds per chunk), with `result()` once per stream spread
over its chunks, and `openai`'s `ChatCompletionStreamState` (behind
`AsyncOpenAI`'s `chat.completions.stream()`) on the same chunks:

{accumulation}"""
    return text + "\n"


def merged_md(results: dict[str, Any]) -> str:
    merged = results.get("merged")
    if not merged:
        return ""
    head = (
        "\nSome rows come from later, partial runs merged into this page (compare "
        "clients within one run: absolute numbers of different runs, possibly on "
        "different machines, do not compare):\n"
    )
    lines = [head]
    for m in merged:
        load = ", ".join(f"{x:.2f}" for x in m["load_avg"]["start"])
        quick = " (`--quick`)" if m.get("quick") else ""
        lines.append(
            f"- {m['date']}{quick}: {', '.join(m['parts'])}, on {m['cpu']} "
            f"(load averages {load} at the start)"
        )
    return "\n".join(lines) + "\n"


def note_md(results: dict[str, Any]) -> str:
    note = results.get("note")
    return f"\n{note}\n" if note else ""


def load_md(results: dict[str, Any]) -> str:
    load = results.get("load_avg")
    if not load:
        return ""
    start = ", ".join(f"{x:.2f}" for x in load["start"])
    end = ", ".join(f"{x:.2f}" for x in load["end"])
    return (
        f"\nMachine load (1, 5, 15-minute load averages): {start} when the run "
        f"started, {end} when it ended; with {results['machine']['cores']} cores, a "
        "load near the core count means other work shared the CPUs.\n"
    )


# --- main ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter, noisier run")
    parser.add_argument(
        "--scenarios",
        default=",".join(METRICS),
        help=f"comma-separated subset of {','.join(METRICS)}",
    )
    parser.add_argument("--no-parser", action="store_true")
    parser.add_argument(
        "--no-accumulation",
        action="store_true",
        help="skip the chat accumulation benchmark",
    )
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="write this run's rows into the existing results, keeping the others",
    )
    args = parser.parse_args()

    quick = args.quick
    cfg = {
        "concurrency": 64,
        "tokens": 100,
        "tool_pieces": 50,
        "streams": 300 if quick else 1000,
        "min_cpu": 0.3 if quick else 1.0,
        "repeats": 1 if quick else 7,
        "quick": quick,
    }
    common = [
        "--concurrency", str(cfg["concurrency"]),
        "--tokens", str(cfg["tokens"]),
        "--tool-pieces", str(cfg["tool_pieces"]),
        "--streams", str(cfg["streams"]),
        "--min-cpu", str(cfg["min_cpu"]),
    ]  # fmt: skip
    scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = sorted(set(scenarios) - set(METRICS))
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    with_chat = orq_async_has_chat()
    if not with_chat and set(scenarios) & set(CHAT_SCENARIOS):
        print("orq_async has no router.chat.completions: chat runs its peers only")
    started = time.perf_counter()
    load_at_start = os.getloadavg()
    results: dict[str, Any] = {
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "config": cfg,
        "clients": {},
        "paired": {},
    }
    server = Server()
    results["server_loop"] = server.loop
    print(f"server on {server.url} ({server.loop}); {results['machine']['cpu']}")
    try:
        for scenario in scenarios:
            key = METRICS[scenario][0]
            runs: dict[str, list[dict[str, Any]]] = {c: [] for c in CLIENT_ORDER}
            # The tight pair is repeated and interleaved; the far slower peers run
            # once (their ratios are tens to hundreds, far from any noise).
            pair = ("raw", "orq_async")
            if scenario in CHAT_SCENARIOS and not with_chat:
                pair = ("raw",)
            plan = [c for _ in range(cfg["repeats"]) for c in pair]
            if not scenario.endswith("_uvloop"):
                plan += ["openai", "orq_sdk"]
            for client in plan:
                extra = list(common)
                if client in ("openai", "orq_sdk") and scenario != "memory":
                    extra += ["--min-rounds", "1"]
                r = run_client(client, scenario, server.url, extra)
                runs[client].append(r)
                unit = METRICS[scenario][1]
                print(f"  {scenario:10s} {client:10s} {r[key]:10.2f} {unit}")
            if runs["orq_async"]:
                # Each orq_async run over the raw run just before it: the
                # machine's drift over minutes (±20 % seen on shared VMs) mostly
                # cancels out.
                paired = [
                    o[key] / r[key]
                    for r, o in zip(runs["raw"], runs["orq_async"], strict=True)
                ]
                results["paired"][scenario] = {
                    "median": statistics.median(paired),
                    "values": paired,
                }
            results["clients"][scenario] = {
                c: {
                    "median": statistics.median(r[key] for r in rs),
                    "values": [r[key] for r in rs],
                    "per_request_median": statistics.median(
                        r.get("us_per_request", 0.0) for r in rs
                    ),
                    "peak_rss_kb": max(r["peak_rss_kb"] for r in rs),
                    "runs": rs,
                }
                for c, rs in runs.items()
                if rs
            }
        if not args.no_latency:
            results["latency"] = latency_runs(server.url, quick)
    finally:
        server.stop()

    if not args.no_parser:
        print("  parser  (in process)")
        sys.path.insert(0, str(HERE))
        import bench_parser

        results["parser"] = bench_parser.run(quick)
    if not args.no_accumulation:
        print("  chat accumulation  (in process)")
        sys.path.insert(0, str(HERE))
        import bench_chat_accumulator

        results["chat_accumulator"] = bench_chat_accumulator.run(quick)
    results["elapsed_s"] = time.perf_counter() - started
    results["load_avg"] = {"start": load_at_start, "end": os.getloadavg()}
    if args.merge:
        results = merge(json.loads(RESULTS_JSON.read_text()), results, scenarios)
    complete = set(METRICS) <= set(results["clients"]) and "parser" in results
    if complete:
        results["targets"] = targets(results)
        print_report(results)
        RESULTS_JSON.write_text(json.dumps(results, indent=1) + "\n")
        chart(results, RESULTS_PNG)
        RESULTS_MD.write_text(results_md(results))
        print(f"\nwrote {RESULTS_JSON.name}, {RESULTS_PNG.name}, {RESULTS_MD.name}")
    else:
        print(json.dumps(results["clients"], indent=1, default=str)[:5000])
        print("(partial run: results.json, the chart and RESULTS.md left unchanged)")
    print(f"total {results['elapsed_s']:.0f} s")


def merge(
    earlier: dict[str, Any], new: dict[str, Any], scenarios: list[str]
) -> dict[str, Any]:
    """``earlier`` with the scenarios (and in-process benchmarks) of ``new``
    replacing or adding theirs; ``merged`` records which rows came from when."""
    out = dict(earlier)
    out["clients"] = {**earlier["clients"]}
    out["paired"] = {**earlier["paired"]}
    parts = list(scenarios)
    for scenario in scenarios:
        out["clients"][scenario] = new["clients"][scenario]
        if scenario in new["paired"]:
            out["paired"][scenario] = new["paired"][scenario]
        else:
            out["paired"].pop(scenario, None)
    for name in ("latency", "parser", "chat_accumulator"):
        if name in new:
            out[name] = new[name]
            parts.append(name)
    out["config"] = {**new["config"], **earlier["config"]}
    out["merged"] = [
        *earlier.get("merged", []),
        {
            "date": new["date"],
            "parts": parts,
            "load_avg": new["load_avg"],
            "quick": new["config"]["quick"],
            "cpu": f"{new['machine']['cores']} cores of {new['machine']['cpu']}",
            "packages": new["machine"]["packages"],
        },
    ]
    return out


if __name__ == "__main__":
    main()
