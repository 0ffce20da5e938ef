"""Linux facts read from a system tree (a fabricated root, so every case can be shown)."""

from __future__ import annotations

from pathlib import Path

from stockade.agent import facts


def _write(root: Path, rel: str, data: str | bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)


def test_os_release_version(tmp_path: Path) -> None:
    _write(tmp_path, "etc/os-release", 'NAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\n')
    assert facts.os_release(tmp_path)["NAME"] == "Ubuntu"
    assert facts.os_version(tmp_path) == "24.04"


def test_root_on_lvm_on_luks_is_encrypted(tmp_path: Path) -> None:
    _write(tmp_path, "proc/self/mounts", "/dev/dm-1 / ext4 rw 0 0\nproc /proc proc rw 0 0\n")
    _write(tmp_path, "sys/block/dm-1/dm/uuid", "LVM-abc\n")
    (tmp_path / "sys/block/dm-1/slaves/dm-0").mkdir(parents=True)
    _write(tmp_path, "sys/block/dm-0/dm/uuid", "CRYPT-LUKS2-0123-root\n")
    assert facts.root_encrypted(tmp_path) is True
    _write(tmp_path, "sys/block/dm-0/dm/uuid", "LVM-plain\n")
    assert facts.root_encrypted(tmp_path) is False


def test_plain_disk_and_overlay_roots(tmp_path: Path) -> None:
    _write(tmp_path, "proc/self/mounts", "/dev/sda2 / ext4 rw 0 0\n")
    assert facts.root_encrypted(tmp_path) is False
    _write(tmp_path, "proc/self/mounts", "overlay / overlay rw 0 0\n")
    assert facts.root_encrypted(tmp_path) is None  # a container: not ours to judge


def test_secure_boot_from_the_efi_variable(tmp_path: Path) -> None:
    var = f"sys/firmware/efi/efivars/{facts.SECURE_BOOT_VAR}"
    _write(tmp_path, var, b"\x06\x00\x00\x00\x01")
    assert facts.secure_boot(tmp_path) is True
    _write(tmp_path, var, b"\x06\x00\x00\x00\x00")
    assert facts.secure_boot(tmp_path) is False


def test_legacy_boot_has_no_secure_boot_and_a_hidden_firmware_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "sys/firmware").mkdir(parents=True)
    assert facts.secure_boot(tmp_path) is False
    assert facts.secure_boot(tmp_path / "elsewhere") is None


def test_unreadable_facts_are_left_out(tmp_path: Path) -> None:
    reported = facts.device_facts(tmp_path)
    assert "isEncrypted" not in reported and "secureBootEnabled" not in reported
    assert "tpmPresent" not in reported
    (tmp_path / "sys/class/tpm/tpm0").mkdir(parents=True)
    assert facts.device_facts(tmp_path)["tpmPresent"] is True
