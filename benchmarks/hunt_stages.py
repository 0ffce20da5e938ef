"""Where a hunt's time goes, per event: parsing, the raw verdict, decoding, matching.

Runs the same steps `stockade hunt` runs for an EVTX file, in one process, with every SigmaHQ
rule loaded, and prints the microseconds each step costs per event of the file (steps that
only some events take are averaged over all of them). The first corpus file warms the engine
(its scans come from the rule cache, as in any second run); the second is measured.

    python benchmarks/hunt_stages.py [--corpus .stockade/bench-corpus]

Make the corpus first with `benchmarks/hunt_throughput.py`.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from evtx import PyEvtxParser

from stockade.detection import DetectionEngine, load_rule_paths
from stockade.detection.cache import ScanCache
from stockade.telemetry.sources import EVTX_BATCH as BATCH
from stockade.telemetry.sources import evtx_event

HERE = Path(__file__).resolve().parent
SIGMA = HERE.parents[1] / "shared" / "data" / "sigma"
RULE_DIRS = [SIGMA / "rules", SIGMA / "rules-emerging-threats", SIGMA / "rules-threat-hunting"]


def records(path: Path) -> Iterator[dict[str, Any]]:
    return PyEvtxParser(str(path), number_of_threads=0, indent=False).records_json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path(".stockade/bench-corpus"))
    args = parser.parse_args()
    files = sorted(args.corpus.glob("corpus-*.evtx"))
    if len(files) < 2:
        raise SystemExit("no corpus: run benchmarks/hunt_throughput.py first")
    cache_dir = args.corpus / "data" / "rule-cache"
    rules = load_rule_paths(RULE_DIRS, cache_dir=cache_dir)
    engine = DetectionEngine(
        rules.rules, rules.correlations, scan_cache=ScanCache(cache_dir, rules.fingerprint)
    )
    for record in records(files[0]):
        verdict = engine.raw_verdict(record["data"])
        if verdict != ():
            engine.match_rules(evtx_event(record["data"]), verdict)

    clock = time.perf_counter_ns
    parse = judge = decode = match = 0
    events = kept = matches = 0
    iterator = iter(records(files[1]))
    started = clock()
    while True:
        # As `stockade hunt` reads EVTX (telemetry.sources): parse a batch, judge it, then
        # decode and match what it kept.
        before = clock()
        batch = [record["data"] for record in islice(iterator, BATCH)]
        if not batch:
            break
        parsed = clock()
        verdicts = [engine.raw_verdict(raw) for raw in batch]
        judged = clock()
        parse += parsed - before
        judge += judged - parsed
        events += len(batch)
        for raw, verdict in zip(batch, verdicts, strict=True):
            if verdict == ():
                continue
            kept += 1
            before = clock()
            event = evtx_event(raw)
            decoded = clock()
            matches += len(engine.match_rules(event, verdict))
            decode += decoded - before
            match += clock() - decoded
    total = clock() - started
    print(
        f"{events:,} events, {kept / events:.0%} decoded, {matches:,} matches: "
        f"{total / events / 1000:.1f} us per event ({events / (total / 1e9):,.0f} events/s)"
    )
    for name, spent in (
        ("parse (EVTX parser)", parse),
        ("raw verdict", judge),
        ("decode + flatten", decode),
        ("match candidates", match),
    ):
        print(f"  {name:<20} {spent / events / 1000:6.2f} us per event")


if __name__ == "__main__":
    main()
