"""One writer per embedded store: the lock, its holder's pid, stale locks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from matforge.errors import StoreBusyError
from matforge.settings import load_settings
from matforge.stores import StoreFactory
from matforge.stores.lock import lock_path, store_writer


def test_a_second_writer_is_refused_with_the_first_ones_pid(tmp_path, lock_holder):
    home = tmp_path / "home"
    holder = lock_holder(home)
    with (
        StoreFactory(load_settings(home=home)) as factory,
        pytest.raises(StoreBusyError, match=f"pid {holder.pid}: a test holder"),
        store_writer(factory, "second"),
    ):
        pass


def test_the_lock_of_a_dead_process_is_taken_over(tmp_path, lock_holder):
    home = tmp_path / "home"
    holder = lock_holder(home)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with StoreFactory(load_settings(home=home)) as factory:
        assert lock_path(factory).read_text().startswith(f"pid {holder.pid}")
        with store_writer(factory, "next") as path:
            assert path.read_text() == f"pid {os.getpid()}: next\n"


def test_the_lock_is_reentrant_in_one_process(embedded_settings):
    with StoreFactory(embedded_settings) as factory:
        with store_writer(factory, "outer"), store_writer(factory, "inner") as path:
            assert path.read_text().endswith(": outer\n")
        # released by the outer one only
        code = (
            "import sys\nfrom matforge.settings import load_settings\n"
            "from matforge.stores import StoreFactory\n"
            "from matforge.stores.lock import store_writer\n"
            "f = StoreFactory(load_settings(home=sys.argv[1]))\n"
            "with store_writer(f, 'other'):\n    print('took it')\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code, str(embedded_settings.home_dir)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.strip() == "took it"


def test_memory_and_mongodb_stores_take_no_lock(memory_settings):
    with StoreFactory(memory_settings) as factory, store_writer(factory, "x") as path:
        assert path is None


def test_two_campaigns_at_once_the_second_stops_at_once(tmp_path: Path, shared_data):
    """`matforge run --quick` twice on one home: the second names the first's pid."""
    env = {
        **os.environ,
        "MATFORGE_HOME": str(tmp_path / "home"),
        "MATFORGE_SHARED_DATA": str(shared_data),
    }
    command = [sys.executable, "-m", "matforge.cli", "run", "--quick"]
    first = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        lock_dir = tmp_path / "home" / "locks"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            held = [p.read_text() for p in lock_dir.glob("writer-*")]
            if any(text.startswith(f"pid {first.pid}") for text in held):
                break
            assert first.poll() is None, first.stderr.read() if first.stderr else ""
            time.sleep(0.2)
        else:
            pytest.fail("the first campaign never took the lock")
        second = subprocess.run(
            command, env=env, capture_output=True, text=True, check=False
        )
        still_running = first.poll() is None
    finally:
        first.kill()
        first.wait()
    assert second.returncode == 1
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1, second.stderr
    assert f"pid {first.pid}: matforge run --quick" in lines[0]
    assert still_running  # it did not wait for the first to finish
    assert "[1/9]" not in second.stderr  # nor start a stage
