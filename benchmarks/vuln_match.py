"""Vulnerability matching at fleet scale: 10,000 devices x 300 packages against a synthetic
250,000-record catalog in the NVD CVE JSON 2.0 and OSV shapes.

The catalog is generated as the JSON documents the importers read (200,000 NVD records with CPE
configurations and version ranges, a tenth of them bound to a platform, some for Android only,
some needing two applications; 50,000 OSV records for PyPI, npm and Debian 12), parsed by the
real parsers and indexed. Product popularity follows a Zipf-like law, so popular products carry
thousands of CVEs, as browsers do. Devices are 70% Windows (Windows apps, npm, PyPI) and 30%
Debian 12 (dpkg, PyPI); each runs 300 packages drawn by popularity, each package in one of the
eight versions in circulation.

Prints: catalog build time, full match time (every device), findings, peak resident memory of
the process (everything: catalog documents, index, inventories), and the time to re-match one
device whose inventory changed (5 packages upgraded), warm (verdicts of unchanged packages
shared) and cold (no shared verdicts).

    .venv/bin/python benchmarks/vuln_match.py [--devices 10000] [--packages 300] [--records 250000]

With `--service`, it also measures the whole use case on the embedded default (SQLite in a
temporary directory): a catalog of `--service-records` records imported through
`VulnerabilityService.import_catalog`, `--service-devices` devices reporting their inventory, then
one device reporting 5 changed packages (`report_inventory`: diff stored, device re-matched,
findings and exposure written).
"""

from __future__ import annotations

import argparse
import itertools
import random
import resource
import statistics
import time
from typing import Any

from stockade.vulnerability.catalog import CatalogProblem, parse_catalog
from stockade.vulnerability.match import CatalogIndex, match_device
from stockade.vulnerability.model import Platform, SoftwareItem, SoftwareSource

WINDOWS = Platform("windows", (("microsoft", "windows_11", "10.0.22631"),))
WINDOWS10 = Platform("windows", (("microsoft", "windows_10", "10.0.19045"),))
DEBIAN = Platform("linux", (("debian", "debian_linux", "12"),), "debian:12")
HISTORY = 60
IN_CIRCULATION = 8


def zipf_weights(n: int) -> list[float]:
    # Offset so the most popular product carries a few hundred CVEs, the top hundred a sixth.
    return [1.0 / (rank + 50) for rank in range(n)]


def recent(rng: random.Random, count: int) -> int:
    """Index of a version in circulation: most devices run the newest, fewer each older one."""
    return count - 1 - min(int(rng.expovariate(1.5)), IN_CIRCULATION - 1, count - 1)


def _history(rng: random.Random, length: int) -> list[str]:
    major, minor, patch = rng.randint(1, 5), 0, 0
    out = []
    for _ in range(length):
        roll = rng.random()
        if roll < 0.1:
            major, minor, patch = major + 1, 0, 0
        elif roll < 0.4:
            minor, patch = minor + 1, 0
        else:
            patch += rng.randint(1, 3)
        out.append(f"{major}.{minor}.{patch}")
    return out


class Universe:
    """Products, their versions in circulation, and how popular they are."""

    def __init__(self, rng: random.Random, apps: int, pkgs: int) -> None:
        self.apps = [(f"vendor{i}", f"product{i}") for i in range(apps)]
        self.pypi = [f"pylib{i}" for i in range(pkgs)]
        self.npm = [f"jslib{i}" for i in range(pkgs)]
        self.deb = [f"libdeb{i}" for i in range(pkgs)]
        # Release history per product; devices run one of the last few (see `recent`).
        self.app_versions = [_history(rng, HISTORY) for _ in self.apps]
        self.pkg_versions = [_history(rng, HISTORY // 3) for _ in range(pkgs)]
        self.deb_versions = [
            [f"{v}-{rng.randint(1, 5)}+deb12u{u}" for u, v in enumerate(vs)]
            for vs in self.pkg_versions
        ]
        self.app_weights = zipf_weights(apps)
        self.pkg_weights = zipf_weights(pkgs)
        self.app_cum = list(itertools.accumulate(self.app_weights))
        self.pkg_cum = list(itertools.accumulate(self.pkg_weights))


def _cpe(vendor: str, product: str, target_sw: str = "*") -> str:
    return f"cpe:2.3:a:{vendor}:{product}:*:*:*:*:*:{target_sw}:*:*"


def _range(rng: random.Random, versions: list[str]) -> dict[str, Any]:
    """Affected versions of one CVE: fixed somewhere in the product's history, rarely (0.5%) not
    fixed yet."""
    n = len(versions)
    hi = n if n < 2 or rng.random() < 0.005 else rng.randint(1, n - 1)
    lo = rng.randint(0, hi - 1) if hi > 0 else 0
    fix = versions[hi] if hi < n else "99.0.0"
    kind = rng.random()
    if kind < 0.6:
        return {"versionEndExcluding": fix}
    if kind < 0.85:
        return {"versionStartIncluding": versions[lo], "versionEndExcluding": fix}
    if kind < 0.95:
        return {"versionEndIncluding": versions[hi - 1] if hi > 0 else versions[0]}
    return {"exact": versions[lo]}


def nvd_document(rng: random.Random, u: Universe, start: int, count: int) -> dict[str, Any]:
    picks = rng.choices(range(len(u.apps)), cum_weights=u.app_cum, k=count)
    vulns = []
    for n, p in enumerate(picks):
        vendor, product = u.apps[p]
        versions = u.app_versions[p]
        roll = rng.random()
        target = "android" if roll < 0.03 else "*"
        matches = []
        for _ in range(1 if rng.random() < 0.8 else 2):
            r = _range(rng, versions)
            if "exact" in r:
                criteria = f"cpe:2.3:a:{vendor}:{product}:{r.pop('exact')}:*:*:*:*:{target}:*:*"
            else:
                criteria = _cpe(vendor, product, target)
            matches.append({"vulnerable": True, "criteria": criteria, **r})
        nodes: list[dict[str, Any]] = [{"operator": "OR", "negate": False, "cpeMatch": matches}]
        config: dict[str, Any] = {"nodes": nodes}
        if 0.03 <= roll < 0.13:
            config["operator"] = "AND"
            nodes.append(
                {
                    "operator": "OR",
                    "negate": False,
                    "cpeMatch": [
                        {
                            "vulnerable": False,
                            "criteria": "cpe:2.3:o:microsoft:windows_10:-:*:*:*:*:*:*:*",
                        }
                    ],
                }
            )
        elif 0.13 <= roll < 0.14:
            other_v, other_p = u.apps[rng.randrange(len(u.apps))]
            config["operator"] = "AND"
            nodes.append(
                {
                    "operator": "OR",
                    "negate": False,
                    "cpeMatch": [{"vulnerable": False, "criteria": _cpe(other_v, other_p)}],
                }
            )
        score = round(rng.uniform(2.0, 10.0), 1)
        vulns.append(
            {
                "cve": {
                    "id": f"CVE-{2000 + (start + n) % 25}-{start + n:07d}",
                    "published": "2024-01-10T10:00:00.000",
                    "lastModified": "2024-02-01T10:00:00.000",
                    "vulnStatus": "Analyzed",
                    "descriptions": [{"lang": "en", "value": f"Synthetic flaw in {product}."}],
                    "metrics": {
                        "cvssMetricV31": [{"type": "Primary", "cvssData": {"baseScore": score}}]
                    },
                    "configurations": [config],
                }
            }
        )
    return {"format": "NVD_CVE", "version": "2.0", "vulnerabilities": vulns}


def osv_documents(rng: random.Random, u: Universe, start: int, count: int) -> list[dict[str, Any]]:
    docs = []
    picks = rng.choices(range(len(u.pypi)), cum_weights=u.pkg_cum, k=count)
    for n, p in enumerate(picks):
        eco = rng.choice(("PyPI", "npm", "Debian:12"))
        name = {"PyPI": u.pypi, "npm": u.npm, "Debian:12": u.deb}[eco][p]
        versions = u.deb_versions[p] if eco == "Debian:12" else u.pkg_versions[p]
        fixed = versions[rng.randrange(len(versions))]
        docs.append(
            {
                "id": f"OSV-{start + n:07d}",
                "modified": "2024-03-01T00:00:00Z",
                "aliases": [f"CVE-2025-{start + n:07d}"],
                "affected": [
                    {
                        "package": {"ecosystem": eco, "name": name},
                        "ranges": [
                            {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}
                        ],
                    }
                ],
            }
        )
    return docs


def build_catalog(rng: random.Random, u: Universe, records: int) -> tuple[CatalogIndex, int]:
    index = CatalogIndex()
    problems: list[CatalogProblem] = []
    nvd_count = records * 4 // 5
    parsed = 0
    chunk = 2000
    for start in range(0, nvd_count, chunk):
        doc = nvd_document(rng, u, start, min(chunk, nvd_count - start))
        for record in parse_catalog(doc, "nvd.json", problems):
            parsed += 1
            for rule in record.rules:
                index.add(record.vulnerability.id, rule)
    for start in range(0, records - nvd_count, chunk):
        docs = osv_documents(rng, u, start, min(chunk, records - nvd_count - start))
        for record in parse_catalog(docs, "osv.json", problems):
            parsed += 1
            for rule in record.rules:
                index.add(record.vulnerability.id, rule)
    assert not problems, problems[:3]
    return index, parsed


def build_fleet(
    rng: random.Random, u: Universe, devices: int, packages: int
) -> list[tuple[Platform, list[SoftwareItem]]]:
    apps: dict[tuple[int, int], SoftwareItem] = {}
    pkgs: dict[tuple[str, int, int], SoftwareItem] = {}

    def app(p: int, v: int) -> SoftwareItem:
        if (p, v) not in apps:
            vendor, product = u.apps[p]
            apps[(p, v)] = SoftwareItem(
                f"{product} app",
                u.app_versions[p][v],
                SoftwareSource.WINDOWS_UNINSTALL,
                vendor,
                vendor,
                product,
            )
        return apps[(p, v)]

    def pkg(kind: str, p: int, v: int) -> SoftwareItem:
        if (kind, p, v) not in pkgs:
            source = SoftwareSource(kind)
            name = {"pypi": u.pypi, "npm": u.npm, "dpkg": u.deb}[kind][p]
            version = (u.deb_versions if kind == "dpkg" else u.pkg_versions)[p][v]
            pkgs[(kind, p, v)] = SoftwareItem(name, version, source, "", name, name)
        return pkgs[(kind, p, v)]

    fleet = []
    for d in range(devices):
        windows = d % 10 < 7
        platform = (WINDOWS if d % 2 else WINDOWS10) if windows else DEBIAN
        items: dict[str, SoftwareItem] = {}
        while len(items) < packages:
            app_picks = iter(rng.choices(range(len(u.apps)), cum_weights=u.app_cum, k=packages))
            pkg_picks = iter(rng.choices(range(len(u.pypi)), cum_weights=u.pkg_cum, k=packages))
            for _ in range(packages):
                if len(items) >= packages:
                    break
                roll = rng.random()
                if windows and roll < 0.7:
                    p = next(app_picks)
                    item = app(p, recent(rng, len(u.app_versions[p])))
                else:
                    if windows:
                        kind = "npm" if roll < 0.85 else "pypi"
                    else:
                        kind = "dpkg" if roll < 0.8 else "pypi"
                    p = next(pkg_picks)
                    item = pkg(kind, p, recent(rng, len(u.pkg_versions[p])))
                items[f"{item.source}:{item.name}"] = item
        fleet.append((platform, list(items.values())))
    return fleet


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--packages", type=int, default=300)
    parser.add_argument("--records", type=int, default=250_000)
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--service", action="store_true")
    parser.add_argument("--service-only", action="store_true")
    parser.add_argument("--service-records", type=int, default=25_000)
    parser.add_argument("--service-devices", type=int, default=50)
    args = parser.parse_args()
    if args.service_only:
        service_rematch(args)
        return
    rng = random.Random(args.seed)
    u = Universe(rng, args.products, args.products // 4)

    t0 = time.perf_counter()
    index, parsed = build_catalog(rng, u, args.records)
    t_catalog = time.perf_counter() - t0
    print(
        f"catalog: {parsed} records parsed and indexed in {t_catalog:.1f} s "
        f"({len(index.rules)} product keys)"
    )

    fleet = build_fleet(rng, u, args.devices, args.packages)
    print(f"fleet: {len(fleet)} devices x {args.packages} packages")

    t0 = time.perf_counter()
    findings = 0
    exposed = 0
    for platform, items in fleet:
        found = match_device(index, items, platform)
        findings += len(found)
        exposed += bool(found)
    t_full = time.perf_counter() - t0
    print(
        f"full match: {t_full:.1f} s for {len(fleet)} devices "
        f"({findings} findings, {exposed} exposed devices, {len(index.memo)} shared verdicts)"
    )
    print(f"peak memory (max RSS of the process): {peak_mb():.0f} MB")

    # One device's inventory changes: 5 packages move to another version in circulation.
    warm: list[float] = []
    cold: list[float] = []
    for d in rng.sample(range(len(fleet)), 200):
        platform, items = fleet[d]
        changed = list(items)
        for i in rng.sample(range(len(changed)), 5):
            old = changed[i]
            changed[i] = SoftwareItem(
                old.name,
                _bump(old.version),
                old.source,
                old.vendor,
                old.cpe_vendor,
                old.cpe_product,
            )
        t0 = time.perf_counter()
        match_device(index, changed, platform)
        warm.append((time.perf_counter() - t0) * 1000)
    memo = index.memo
    for d in rng.sample(range(len(fleet)), 50):
        platform, items = fleet[d]
        index.memo = {}
        t0 = time.perf_counter()
        match_device(index, items, platform)
        cold.append((time.perf_counter() - t0) * 1000)
    index.memo = memo
    print(
        f"re-match one changed device (5 of {args.packages} packages upgraded), 200 devices: "
        f"p50 {statistics.median(warm):.2f} ms, p95 {_p95(warm):.2f} ms, max {max(warm):.2f} ms"
    )
    print(
        f"re-match one device with no shared verdicts (cold), 50 devices: "
        f"p50 {statistics.median(cold):.1f} ms, p95 {_p95(cold):.1f} ms"
    )
    if args.service:
        del fleet, index
        service_rematch(args)


def service_rematch(args: argparse.Namespace) -> None:
    import tempfile
    from pathlib import Path

    from stockade.services import Services
    from stockade.settings import Settings

    rng = random.Random(args.seed + 1)
    u = Universe(rng, args.products, args.products // 4)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/bench.db", _env_file=None
        )
        services = Services.build(settings)
        try:
            tenant, _ = services.directory.create_tenant("bench")
            nvd_count = args.service_records * 4 // 5
            docs: list[tuple[str, Any]] = []
            for start in range(0, nvd_count, 2000):
                docs.append(("nvd.json", nvd_document(rng, u, start, min(2000, nvd_count - start))))
            rest = args.service_records - nvd_count
            for start in range(0, rest, 2000):
                docs.append(("osv.json", osv_documents(rng, u, start, min(2000, rest - start))))
            t0 = time.perf_counter()
            report = services.vulnerability.import_catalog(tenant.id, docs)
            t_import = time.perf_counter() - t0
            t0 = time.perf_counter()
            services.vulnerability.index(tenant.id)
            t_index = time.perf_counter() - t0
            print(
                f"service: imported {report.added} records in {t_import:.1f} s, "
                f"index loaded from the database in {t_index:.1f} s"
            )
            fleet = build_fleet(rng, u, args.service_devices, args.packages)
            devices = []
            for n, (platform, items) in enumerate(fleet):
                reg = services.directory.register_device(
                    tenant.id,
                    display_name=f"D{n}",
                    operating_system="Windows",
                    operating_system_version="10.0.22631",
                    trust_type="AzureAd",
                    owner_id=None,
                )
                raw = [_raw(i) for i in items]
                distro = platform.distro
                services.vulnerability.report_inventory(
                    tenant.id,
                    reg.id,
                    raw,
                    os_platform=_os(platform),
                    os_version=platform.cpes[0][2] if platform.cpes else "",
                    distro=distro,
                )
                devices.append((reg.id, platform, raw))
            timings = []
            for device_id, platform, raw in devices:
                changed = list(raw)
                for i in rng.sample(range(len(changed)), 5):
                    old = changed[i]
                    changed[i] = SoftwareItem(old.name, _bump(old.version), old.source, old.vendor)
                t0 = time.perf_counter()
                diff = services.vulnerability.report_inventory(
                    tenant.id,
                    device_id,
                    changed,
                    os_platform=_os(platform),
                    os_version=platform.cpes[0][2] if platform.cpes else "",
                    distro=platform.distro,
                )
                timings.append((time.perf_counter() - t0) * 1000)
                assert len(diff.changes) == 5
            print(
                f"service: report_inventory with 5 changed packages (diff, re-match, findings "
                f"written), {len(timings)} devices: p50 {statistics.median(timings):.1f} ms, "
                f"p95 {_p95(timings):.1f} ms"
            )
        finally:
            services.close()


def _raw(item: SoftwareItem) -> SoftwareItem:
    """The item as a device reports it (names before normalisation)."""
    if item.source is SoftwareSource.WINDOWS_UNINSTALL:
        return SoftwareItem(item.cpe_product, item.version, item.source, item.cpe_vendor)
    return SoftwareItem(item.name, item.version, item.source)


def _os(platform: Platform) -> str:
    if platform.family == "windows":
        return "Windows11" if platform.cpes[0][1] == "windows_11" else "Windows10"
    return "Linux"


def _bump(version: str) -> str:
    head, sep, tail = version.rpartition(".")
    digits = "".join(c for c in tail if c.isdigit()) or "0"
    return f"{head}{sep}{int(digits) + 1}" if sep else f"{version}.1"


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


if __name__ == "__main__":
    main()
