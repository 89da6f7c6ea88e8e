"""A disk that says no (full, read-only) and a server that died mid-write: named errors, nothing lost.

The full and read-only disks are real: a small tmpfs mounted for the test, which needs root (as in
CI); elsewhere these tests are skipped, saying why.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from canvas_live.services.tasks.models import Progress, TaskInfo, TaskStatus
from canvas_live.services.tasks.store import SqliteTaskStore
from tests.support.client import RpcError, open_client
from tests.support.server import LiveServer

NODE = {"type": "text", "text": "材料", "color": "4"}
ORAL = {"agent": "oral", "input": {"concept": "导数", "material_content": "导数是函数的瞬时变化率。"}}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs, unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()}): run as root to test a full disk")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Fill the disk to the last byte; the filler file, to remove for room again."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (65536, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)
    return filler


def backups(vault: Path) -> dict[str, tuple[int, bytes]]:
    folder = vault / ".canvas-live" / "backups"
    return {path.name: (path.stat().st_ino, path.read_bytes()) for path in sorted(folder.iterdir())}


async def test_a_full_disk_refuses_edits_with_storage_and_changes_nothing(
    make_server: Callable[..., LiveServer], small_disk: Path
) -> None:
    vault = small_disk / "vault"
    live = make_server(vault=vault)
    async with open_client(live) as client:
        await client.call("canvas.create", {"name": "c"})
        for _ in range(4):
            await client.call("canvas.addNode", {"name": "c", "node": NODE})
        canvas = (vault / "c.canvas").read_bytes()
        kept = backups(vault)
        assert len(kept) == 3
        filler = fill(small_disk)
        for _ in range(3):
            with pytest.raises(RpcError) as caught:
                await client.call("canvas.addNode", {"name": "c", "node": {**NODE, "text": "x" * 100_000}})
            assert caught.value.code == -32011
            assert caught.value.data["error"] == "STORAGE"
            assert caught.value.data["errno"] == "ENOSPC"
            assert "nothing was changed" in caught.value.message
        assert (vault / "c.canvas").read_bytes() == canvas
        assert backups(vault) == kept  # every backup as it was: rotated only after a write succeeds
        assert list((vault / ".canvas-live" / "tmp").iterdir()) == []
        assert len((await client.call("canvas.read", {"name": "c"}))["nodes"]) == 4  # reads go on
        with pytest.raises(RpcError) as caught:
            await client.call("canvas.create", {"name": "d"})
        assert caught.value.data["errno"] == "ENOSPC"

        filler.unlink()
        await client.call("canvas.addNode", {"name": "c", "node": NODE})
        assert backups(vault)["c.1.canvas"][1] == canvas


async def test_a_read_only_disk_refuses_edits_with_storage_and_reads_go_on(
    make_server: Callable[..., LiveServer], small_disk: Path
) -> None:
    vault = small_disk / "vault"
    live = make_server(vault=vault)
    async with open_client(live) as client:
        await client.call("canvas.create", {"name": "c", "nodes": [NODE]})
        subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
        try:
            with pytest.raises(RpcError) as caught:
                await client.call("canvas.addNode", {"name": "c", "node": NODE})
            assert (caught.value.data["error"], caught.value.data["errno"]) == ("STORAGE", "EROFS")
            assert len((await client.call("canvas.read", {"name": "c"}))["nodes"]) == 1
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)


def left_running(data_dir: Path) -> TaskInfo:
    """The task record a server killed mid-task leaves: still `running`."""
    info = TaskInfo("0123456789abcdef", "agent.batch", TaskStatus.RUNNING, Progress(1, 5), {}, "2026-12-01T10:00:00Z")
    store = SqliteTaskStore(data_dir / "tasks.sqlite3")
    store._save([info])
    store._close()
    return info


@pytest.mark.single_process  # fills the disk under the SQLite task store
async def test_the_server_starts_on_a_full_disk_and_says_what_does_not_work(
    make_server: Callable[..., LiveServer], small_disk: Path
) -> None:
    vault, data = small_disk / "vault", small_disk / "data"
    vault.mkdir()
    (vault / "c.canvas").write_text('{"nodes":[],"edges":[]}')
    orphan = left_running(data)
    filler = fill(small_disk)
    live = make_server(vault=vault, data_dir=data)
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        health = (await http.get("/api/v1/health")).json()
        ready = await http.get("/api/v1/ready")
    assert (ready.status_code, ready.json()["error"]) == (503, "UNAVAILABLE")  # alive, but not ready for work
    assert ready.json()["details"]["problems"]["tasks"]["data"]["errno"] == "ENOSPC"
    assert health["status"] == "degraded"
    assert health["problems"]["tasks"]["error"] == "STORAGE"
    async with open_client(live) as client:
        info = await client.call("server.info")
        assert info["problems"]["tasks"]["data"]["errno"] == "ENOSPC"
        assert (await client.call("canvas.read", {"name": "c"}))["nodes"] == []
        with pytest.raises(RpcError) as caught:
            await client.call("task.get", {"id": orphan.id})
        assert caught.value.data["error"] == "STORAGE"  # the records cannot even be read: said so, by name
        with pytest.raises(RpcError) as caught:
            await client.call("agent.batch", {"calls": [ORAL]})
        assert caught.value.data["error"] == "STORAGE"

        filler.unlink()  # room again: the next task settles the old one and runs
        batch = await client.call("agent.batch", {"calls": [ORAL]})
        assert (await client.call("task.wait", {"id": batch["task_id"], "timeout": 10}))["status"] == "completed"
        assert (await client.call("server.info"))["problems"] == {}
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            assert (await http.get("/api/v1/ready")).json() == {"status": "ready"}
        task = await client.call("task.get", {"id": orphan.id})
        assert (task["status"], task["error"]["error"]) == ("failed", "INTERRUPTED")


def dead_pid() -> int:
    """The id of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


async def test_temporary_files_a_crash_left_are_removed_at_start_up(
    make_server: Callable[..., LiveServer], vault: Path
) -> None:
    temp = vault / ".canvas-live" / "tmp"
    temp.mkdir(parents=True)
    (vault / "math").mkdir()
    (vault / "math" / "c.canvas").write_text("{}")
    leftovers = [
        temp / f"{dead_pid()}-0123456789ab.tmp",
        vault / "math" / ".c.canvas.89abcdef.tmp",  # where earlier versions wrote them
    ]
    for leftover in leftovers:
        leftover.write_bytes(b"x" * 1000)
    displaced = temp / f"{dead_pid()}-fedcba987654.tmp"  # an editor's save a kill left mid-exchange
    displaced.write_text(
        '{"nodes":[{"id":"n","type":"text","text":"the learner\'s","x":0,"y":0,"width":1,"height":1}]}'
    )
    (vault / "new.canvas").write_text(displaced.read_text())
    landed = temp / f"{dead_pid()}-0a1b2c3d4e5f.tmp"  # a kill after a new canvas took its name, before the unlink
    os.link(vault / "new.canvas", landed)
    alive = temp / f"{os.getppid()}-0123456789ab.tmp"  # another live process's write in progress
    alive.write_bytes(b"x")
    unrelated = vault / "math" / ".notes.md.tmp"
    unrelated.write_bytes(b"x")
    live = make_server()
    assert not any(leftover.exists() for leftover in [*leftovers, landed])
    async with open_client(live) as client:  # a canvas with a second link would be refused as FORBIDDEN_PATH
        assert (await client.call("canvas.read", {"name": "new"}))["nodes"][0]["text"] == "the learner's"
    assert alive.exists() and unrelated.exists()
    (kept,) = (vault / ".canvas-live" / "recovered").iterdir()  # a whole canvas is never deleted, nor kept twice
    assert "the learner's" in kept.read_text() and not displaced.exists()
