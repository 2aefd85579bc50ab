"""Files a user names are read within a cap: a device or a huge file never exhausts memory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aers_host._files import TooLarge, read_bounded

pytestmark = pytest.mark.security
DEVICE = Path("/dev/zero")  # endless, and stat says 0 bytes
AERS = str(Path(sys.executable).with_name("aers"))


def test_a_file_within_the_limit_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    assert read_bounded(path, 100) == b"x" * 100


def test_a_large_file_is_refused_from_stat_unread(tmp_path: Path) -> None:
    path = tmp_path / "big"
    with path.open("wb") as handle:
        handle.truncate(1 << 30)  # sparse: 1 GiB without writing it
    with pytest.raises(TooLarge) as info:
        read_bounded(path, 1000)
    assert info.value.size == 1 << 30


def test_an_endless_device_is_refused_after_limit_bytes() -> None:
    with pytest.raises(TooLarge) as info:
        read_bounded(DEVICE, 1000)
    assert info.value.size is None  # stat could not tell


def test_a_small_file_under_a_large_limit_costs_its_size_not_the_limit(tmp_path: Path) -> None:
    """Found by the scene fuzzer: read(limit + 1) allocated the whole limit (64 MiB a scene)."""
    import tracemalloc

    path = tmp_path / "f"
    path.write_bytes(b"x" * 1000)
    tracemalloc.start()
    try:
        assert read_bounded(path, 256 << 20) == b"x" * 1000
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_a_file_growing_past_its_stat_is_read_to_the_limit_only(tmp_path: Path) -> None:
    fifo = tmp_path / "grows"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["/bin/sh", "-c", f"head -c 300000 /dev/zero > {fifo}"])
    try:
        with pytest.raises(TooLarge):
            read_bounded(fifo, 200_000)  # stat said 0; the read stops one byte past the limit
    finally:
        writer.kill()
        writer.wait()
    fifo2 = tmp_path / "fits"
    os.mkfifo(fifo2)
    writer = subprocess.Popen(["/bin/sh", "-c", f"head -c 150000 /dev/zero > {fifo2}"])
    try:
        assert len(read_bounded(fifo2, 200_000)) == 150_000  # read in several chunks, whole
    finally:
        writer.wait()


#: Runs the command with 3 GiB of address space: a regression fails, the machine lives.
LIMITED = ["/bin/sh", "-c", 'ulimit -v 3145728 && exec "$0" "$@"', AERS]


@pytest.mark.parametrize(
    "command",
    [
        ("keys", "trust", DEVICE, "--scope", "python"),
        ("plugin", "sign", "PLUGIN", "--key", DEVICE),
        ("session", "import", DEVICE),
        ("validate", DEVICE),
    ],
)
def test_cli_refuses_an_endless_file_in_one_line(
    command: tuple[object, ...], tmp_path: Path
) -> None:
    env = {**os.environ, "AERS_HOME": str(tmp_path / "home")}
    if "PLUGIN" in command:
        new = [AERS, "plugin", "new", "fx", "--kind", "python", "--dir", str(tmp_path)]
        subprocess.run(new, env=env, check=True, capture_output=True)
        command = tuple(tmp_path / "fx" if part == "PLUGIN" else part for part in command)
    result = subprocess.run(
        [*LIMITED, *map(str, command)], env=env, capture_output=True, text=True, timeout=120
    )
    said = result.stdout + result.stderr
    assert result.returncode == 1, said
    assert "/dev/zero" in said and "Traceback" not in said and "MemoryError" not in said
    assert any(word in said for word in ("too large", "larger than", "over the")), said
