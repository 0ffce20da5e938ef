"""Hunt throughput end to end from EVTX, and streaming latency, with every SigmaHQ rule loaded.

Generates (once) a corpus of realistic Sysmon and Security events as EVTX files
(`benchmarks/corpus.py`), then runs the real `stockade hunt` command over it with one and with
several workers, and prints events/s and the peak RSS of the largest process. Then it feeds
the same events one by one to an engine, as the live ingest does, and prints per-event latency.

    python benchmarks/hunt_throughput.py [--events 200000] [--files 4] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIGMA = HERE.parents[1] / "shared" / "data" / "sigma"
RULE_DIRS = [SIGMA / "rules", SIGMA / "rules-emerging-threats", SIGMA / "rules-threat-hunting"]
SUMMARY = re.compile(r"([\d,]+) events in (\d+) files, ([\d.]+) s \(([\d,]+) events/s\), ([\d,]+)")


def corpus(directory: Path, events: int, files: int) -> list[Path]:
    marker = directory / f".complete-{events}-{files}"
    if not marker.exists():
        subprocess.run(
            [
                sys.executable,
                str(HERE / "corpus.py"),
                str(directory),
                "--events",
                str(events),
                "--files",
                str(files),
            ],
            check=True,
        )
        marker.touch()
    return sorted(directory.glob("corpus-*.evtx"))


def hunt(paths: list[Path], workers: int, data_dir: Path) -> dict[str, float]:
    """One `stockade hunt` process; its peak RSS (largest process of the tree) comes from a
    wrapper process, so that runs do not see each other's peaks."""
    command = [
        sys.executable,
        "-m",
        "stockade.cli",
        "hunt",
        *map(str, paths),
        *[arg for folder in RULE_DIRS for arg in ("--rules", str(folder))],
        "--format",
        "jsonl",
        "--output",
        "/dev/null",
        "--workers",
        str(workers),
    ]
    wrapper = (
        "import resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "print(time.perf_counter() - start)\n"
        "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(usage.ru_maxrss, usage.ru_utime + usage.ru_stime)\n"
        "sys.stderr.write(done.stderr)\n"
        "sys.exit(done.returncode)\n"
    )
    env_prefix = {"STOCKADE_DATA_DIR": str(data_dir)}
    import os

    done = subprocess.run(
        [sys.executable, "-c", wrapper, *command],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env_prefix},
    )
    if done.returncode != 0:
        raise SystemExit(f"hunt failed:\n{done.stderr}")
    wall, peak_kib, cpu = done.stdout.split()
    summary = SUMMARY.search(done.stderr)
    if summary is None:
        raise SystemExit(f"no summary in:\n{done.stderr}")
    return {
        "events": float(summary.group(1).replace(",", "")),
        "hunt_seconds": float(summary.group(3)),
        "hunt_rate": float(summary.group(4).replace(",", "")),  # from the unrounded seconds
        "matches": float(summary.group(5).replace(",", "")),
        "wall_seconds": float(wall),
        "peak_rss_mb": int(peak_kib) / 1024,
        "cpu_seconds": float(cpu),
    }


def rule_loading(data_dir: Path) -> tuple[float, float, int]:
    """Seconds to load every SigmaHQ rule in a fresh process: parsed, then from the cache."""
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "start = time.perf_counter()\n"
        "from stockade.detection import load_rule_paths\n"
        "cache = Path(sys.argv[1]) if sys.argv[1] else None\n"
        "rules = load_rule_paths([Path(p) for p in sys.argv[2:]], cache_dir=cache)\n"
        "print(time.perf_counter() - start, len(rules.rules))\n"
    )
    folders = [str(folder) for folder in RULE_DIRS]
    fresh = subprocess.run(
        [sys.executable, "-c", script, "", *folders], capture_output=True, text=True, check=True
    )
    cache = str(data_dir / "rule-cache")
    subprocess.run([sys.executable, "-c", script, cache, *folders], check=True, capture_output=True)
    cached = subprocess.run(
        [sys.executable, "-c", script, cache, *folders], capture_output=True, text=True, check=True
    )
    fresh_seconds, count = fresh.stdout.split()
    return float(fresh_seconds), float(cached.stdout.split()[0]), int(count)


def latency(paths: list[Path], data_dir: Path, count: int) -> dict[str, float]:
    """Per-event latency of `DetectionEngine.match`, as the live ingest calls it."""
    from stockade.detection import DetectionEngine, load_rule_paths
    from stockade.telemetry.sources import InputFile, SourceEvent, read_file

    rules = load_rule_paths(RULE_DIRS, cache_dir=data_dir / "rule-cache")
    engine = DetectionEngine(rules.rules, rules.correlations)
    events = []
    for item in read_file(InputFile(str(paths[0]), paths[0])):
        if isinstance(item, SourceEvent):
            events.append(item.event)
        if len(events) >= count:
            break
    for event in events[:2000]:  # builds the buckets, as the first minutes of a server would
        engine.match(event)
    timings: list[int] = []
    clock = time.perf_counter_ns
    for event in events:
        started = clock()
        engine.match(event)
        timings.append(clock() - started)
    timings.sort()
    return {
        "events": len(timings),
        "p50_us": timings[len(timings) // 2] / 1000,
        "p99_us": timings[int(len(timings) * 0.99)] / 1000,
        "max_us": timings[-1] / 1000,
        "mean_us": statistics.fmean(timings) / 1000,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--corpus", type=Path, default=Path(".stockade/bench-corpus"))
    parser.add_argument("--latency-events", type=int, default=20_000)
    args = parser.parse_args()

    paths = corpus(args.corpus, args.events, args.files)
    data_dir = args.corpus / "data"
    size = sum(path.stat().st_size for path in paths) / 1e6
    print(f"corpus: {args.events:,} events in {len(paths)} EVTX files ({size:.0f} MB)")
    fresh, cached, count = rule_loading(data_dir)
    print(
        f"rules: {count:,} ready in {fresh:.2f} s parsed, {cached:.2f} s from the cache "
        "(fresh process, imports included)"
    )
    hunt(paths[:1], 1, data_dir)  # fills the rule cache, as any second run would find it
    for workers in args.workers:
        result = hunt(paths, workers, data_dir)
        print(
            f"hunt --workers {workers}: {result['events']:,.0f} events, "
            f"{result['hunt_rate']:,.0f} events/s hunting "
            f"({result['hunt_seconds']:.1f} s), {result['events'] / result['wall_seconds']:,.0f} "
            f"events/s end to end with rule loading ({result['wall_seconds']:.1f} s), "
            f"{result['matches']:,.0f} matches, peak RSS {result['peak_rss_mb']:.0f} MB, "
            f"{result['events'] / result['cpu_seconds']:,.0f} events per CPU second "
            f"(rule loading included; the machine is shared, see docs/detection.md)"
        )
    result = latency(paths, data_dir, args.latency_events)
    print(
        f"streaming: {result['events']:,} events, p50 {result['p50_us']:.0f} us, "
        f"p99 {result['p99_us']:.0f} us, max {result['max_us']:.0f} us, "
        f"mean {result['mean_us']:.0f} us, RSS {result['rss_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
