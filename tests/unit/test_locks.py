"""Locks between processes (core/locks.py) and the sweep of folders a killed process left (core/atomic.py)."""

import os

import pytest

from kagglekit.core.atomic import atomic_folder, stale_siblings
from kagglekit.core.errors import KagglekitError
from kagglekit.core.locks import claimed_folder, hold, sweep_unclaimed


def test_a_held_lock_is_refused_naming_its_holder_and_free_once_released(tmp_path):
    lock = tmp_path / "fold_0.lock"
    with hold(lock, "fold 0"):
        with pytest.raises(KagglekitError, match=rf"fold 0 is in use by process {os.getpid()} \(started 20.*\); wait"):
            with hold(lock, "fold 0"):
                pass
    with hold(lock, "fold 0"):  # released: taken again
        pass
    assert lock.read_text() == ""  # nobody holds it


def test_the_sweep_deletes_unclaimed_folders_and_spares_claimed_ones(tmp_path):
    left = tmp_path / ".run.abc.partial"
    left.mkdir()
    (left / "config.json").write_text("{}")
    made = iter([tmp_path / ".run.def.partial"])

    def make():
        path = next(made)
        path.mkdir()
        return path

    with claimed_folder(make) as busy:
        assert sweep_unclaimed(stale_siblings(tmp_path / "run")) == [left]
        assert busy.is_dir() and not left.exists()


def test_atomic_folder_sweeps_what_a_killed_process_left_beside_its_target(tmp_path):
    (tmp_path / ".run.x1.partial").mkdir()
    (tmp_path / ".run.x2.old").mkdir()
    with atomic_folder(tmp_path / "run") as tmp:
        (tmp / "a").write_text("1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
