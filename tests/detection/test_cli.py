"""`stockade hunt` and `stockade rules check`, run as the real CLI on the SigmaHQ samples."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from stockade.cli import app

SIGMA = Path(__file__).resolve().parents[3] / "shared" / "data" / "sigma"
RULES = SIGMA / "rules" / "windows" / "process_creation"
SAMPLES = SIGMA / "regression_data" / "rules" / "windows" / "process_creation"
JSONL_FIELDS = {
    "type",
    "rule_id",
    "rule_title",
    "level",
    "file",
    "record_id",
    "timestamp",
    "channel",
    "event_id",
    "computer",
}

runner = CliRunner()


@pytest.fixture(autouse=True, scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The rule cache of these runs lives in a temporary data dir (shared by the module)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STOCKADE_DATA_DIR", str(tmp_path_factory.mktemp("data")))
        yield


def hunt(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, ["hunt", *args], input=input)
    return result.exit_code, result.stdout, result.stderr


def expected_pairs(folder: Path) -> set[tuple[str, str]]:
    """(rule id, sample file) of every regression test under the folder, .evtx samples."""
    pairs: set[tuple[str, str]] = set()
    for info_path in folder.rglob("info.yml"):
        info = yaml.safe_load(info_path.read_text(encoding="utf-8"))
        for entry in info["regression_tests_info"]:
            pairs.add((str(info["rule_metadata"][0]["id"]), str(SIGMA / entry["path"])))
    return pairs


@pytest.fixture(scope="module")
def jsonl_run() -> list[dict[str, object]]:
    code, out, err = hunt(str(SAMPLES), "--rules", str(RULES), "--format", "jsonl")
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def test_hunt_jsonl_finds_every_regression_sample(jsonl_run: list[dict[str, object]]) -> None:
    found = {(str(f["rule_id"]), str(f["file"])) for f in jsonl_run}
    wanted = expected_pairs(SAMPLES)

    assert len(wanted) > 100
    assert wanted - found == set()
    assert all(set(finding) == JSONL_FIELDS for finding in jsonl_run)
    evtx = next(f for f in jsonl_run if str(f["file"]).endswith(".evtx"))
    assert isinstance(evtx["record_id"], int)
    assert evtx["channel"] == "Microsoft-Windows-Sysmon/Operational"
    assert evtx["event_id"] == 1


def test_hunt_with_two_workers_finds_the_same(jsonl_run: list[dict[str, object]]) -> None:
    code, out, err = hunt(
        str(SAMPLES), "--rules", str(RULES), "--format", "jsonl", "--workers", "2"
    )

    assert code == 0, err
    parallel = sorted(json.dumps(json.loads(line), sort_keys=True) for line in out.splitlines())
    assert parallel == sorted(json.dumps(f, sort_keys=True) for f in jsonl_run)


def test_min_level_drops_lower_levels(jsonl_run: list[dict[str, object]]) -> None:
    code, out, _ = hunt(
        str(SAMPLES), "--rules", str(RULES), "--format", "jsonl", "--min-level", "high"
    )

    levels = {json.loads(line)["level"] for line in out.splitlines()}
    assert code == 0
    assert levels <= {"high", "critical"}
    assert len(out.splitlines()) < len(jsonl_run)


def test_csv_json_and_table_formats_and_output_file(tmp_path: Path) -> None:
    sample = next(SAMPLES.rglob("*.evtx"))
    code, out, _ = hunt(str(sample), "--rules", str(RULES), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and rows and rows[0]["file"] == str(sample)

    target = tmp_path / "findings.json"
    code, _, err = hunt(
        str(sample), "--rules", str(RULES), "--format", "json", "--output", str(target)
    )
    assert code == 0
    assert [f["file"] for f in json.loads(target.read_text("utf-8"))] == [
        row["file"] for row in rows
    ]
    assert "Rules that fired" in err
    assert "Matches by level" in err

    code, out, _ = hunt(str(sample), "--rules", str(RULES))
    assert code == 0
    assert rows[0]["rule_title"][:20] in out


def test_stdin_and_bad_input_lines_are_reported_not_fatal() -> None:
    record = json.loads((next(SAMPLES.rglob("*.json"))).read_text("utf-8"))
    text = json.dumps(record) + "\n{broken\n"

    code, out, err = hunt("-", "--rules", str(RULES), "--format", "jsonl", input=text)

    assert code == 0
    assert out.strip()
    assert "-:line 2" in err


@pytest.mark.parametrize(
    "args",
    [
        ["--format", "xml"],
        ["--min-level", "severe"],
        ["--rules", "/nonexistent/rules"],
        ["--workers", "0"],
    ],
)
def test_bad_arguments_exit_2(args: list[str]) -> None:
    code, _, _ = hunt(str(SAMPLES), *args)

    assert code == 2


def test_unreadable_rules_exit_2(tmp_path: Path) -> None:
    (tmp_path / "broken.yml").write_text("title: [\n", "utf-8")

    code, _, err = hunt(str(SAMPLES), "--rules", str(tmp_path))

    assert code == 2
    assert "broken.yml:" in err


def test_correlation_findings_name_their_events(tmp_path: Path) -> None:
    sample = next(SAMPLES.rglob("*.evtx"))
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "base.yml").write_text(
        "title: Any process\nid: 00000000-0000-4000-8000-000000000001\nname: anyproc\n"
        "logsource: {product: windows, category: process_creation}\n"
        "detection:\n  sel:\n    Image|contains: '\\'\n  condition: sel\nlevel: low\n"
        "---\n"
        "title: Two processes\nid: 00000000-0000-4000-8000-000000000002\nlevel: high\n"
        "correlation:\n  type: event_count\n  rules: [anyproc]\n  timespan: 1d\n"
        "  condition: {gte: 1}\n",
        "utf-8",
    )

    code, out, err = hunt(str(sample), "--rules", str(rules), "--format", "jsonl", "--no-cache")

    findings = [json.loads(line) for line in out.splitlines()]
    assert code == 0, err
    assert {f["type"] for f in findings} == {"correlation"}
    assert all(f["events"][0].startswith(f"{sample}#") for f in findings)


def test_rules_check_reports_errors_and_counts_by_logsource(tmp_path: Path) -> None:
    for rule in sorted(RULES.glob("*.yml"))[:20]:
        (tmp_path / rule.name).write_text(rule.read_text("utf-8"), "utf-8")

    good = runner.invoke(app, ["rules", "check", str(tmp_path)])
    (tmp_path / "zz_broken.yml").write_text("title: x\ndetection: [\n", "utf-8")
    bad = runner.invoke(app, ["rules", "check", str(tmp_path)])

    assert good.exit_code == 0, good.stdout
    assert "windows/process_creation" in good.stdout
    assert "20 rules" in good.stdout
    assert bad.exit_code == 1
    assert f"{tmp_path / 'zz_broken.yml'}:" in bad.stdout
    assert runner.invoke(app, ["rules", "check", "/nonexistent"]).exit_code == 2


def test_the_installed_command_runs_as_a_process() -> None:
    sample = next(SAMPLES.rglob("*.evtx"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "stockade.cli",
            "hunt",
            str(sample),
            "--rules",
            str(RULES),
            "--format",
            "jsonl",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert all(json.loads(line)["file"] == str(sample) for line in result.stdout.splitlines())
    assert result.stdout
