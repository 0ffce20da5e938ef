"""Facts of the Linux machine the agent runs on, read from the system where readable.

A fact that cannot be read is left out (the server then treats a setting needing it as not
met) rather than guessed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

SECURE_BOOT_VAR = "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"


def os_release(root: Path = Path("/")) -> dict[str, str]:
    for candidate in ("etc/os-release", "usr/lib/os-release"):
        path = root / candidate
        if path.exists():
            out = {}
            for line in path.read_text().splitlines():
                key, sep, value = line.partition("=")
                if sep:
                    out[key.strip()] = value.strip().strip('"')
            return out
    return {}


def os_version(root: Path = Path("/")) -> str:
    release = os_release(root)
    return release.get("VERSION_ID") or os.uname().release.split("-")[0]


def _run(*argv: str) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _crypt_backed(dm: str, sys_block: Path) -> bool:
    """Whether a device-mapper device is dm-crypt or sits on one (LVM on LUKS)."""
    uuid = sys_block / dm / "dm" / "uuid"
    if uuid.exists() and uuid.read_text().startswith("CRYPT-"):
        return True
    slaves = sys_block / dm / "slaves"
    return slaves.exists() and any(_crypt_backed(s.name, sys_block) for s in slaves.iterdir())


def root_encrypted(root: Path = Path("/")) -> bool | None:
    mounts = root / "proc/self/mounts"
    if not mounts.exists():
        return None
    source = next(
        (line.split()[0] for line in mounts.read_text().splitlines() if line.split()[1:2] == ["/"]),
        None,
    )
    if source is None or not source.startswith("/dev/"):
        return None  # overlay, tmpfs, network root: not this machine's disk to judge
    real = os.path.realpath(source) if root == Path("/") else source
    name = Path(real).name
    if not name.startswith("dm-"):
        return False
    return _crypt_backed(name, root / "sys/block")


def secure_boot(root: Path = Path("/")) -> bool | None:
    firmware = root / "sys/firmware"
    efi = firmware / "efi"
    if firmware.exists() and not efi.exists():
        return False  # legacy BIOS boot: no Secure Boot
    var = efi / "efivars" / SECURE_BOOT_VAR
    try:
        data = var.read_bytes()
    except OSError:
        return None
    return len(data) >= 5 and data[4] == 1  # 4 bytes of attributes, then the value


def firewall_enabled() -> bool | None:
    ufw = _run("ufw", "status")
    if ufw is not None:
        return "Status: active" in ufw
    nft = _run("nft", "list", "ruleset")
    if nft is not None:
        return "hook input" in nft
    return None


def installed_apps() -> list[dict[str, str]]:
    dpkg = _run("dpkg-query", "-W", "-f", "${db:Status-Abbrev}\t${Package}\t${Version}\n")
    if dpkg is not None:
        return [
            {"displayName": name, "version": version}
            for status, name, version in (
                line.split("\t") for line in dpkg.splitlines() if line.count("\t") == 2
            )
            if status.startswith("ii")
        ]
    rpm = _run("rpm", "-qa", "--qf", "%{NAME}\t%{VERSION}-%{RELEASE}\t%{VENDOR}\n")
    if rpm is not None:
        return [
            {"displayName": n, "version": v, "publisher": p if p != "(none)" else ""}
            for n, v, p in (line.split("\t") for line in rpm.splitlines() if line.count("\t") == 2)
        ]
    return []


def device_facts(root: Path = Path("/")) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "isEncrypted": root_encrypted(root),
        "secureBootEnabled": secure_boot(root),
        "firewallEnabled": firewall_enabled(),
        "tpmPresent": (
            (root / "sys/class/tpm/tpm0").exists() if (root / "sys/class").exists() else None
        ),
        "installedApps": installed_apps(),
    }
    return {k: v for k, v in facts.items() if v is not None}


def hostname() -> str:
    return socket.gethostname()
