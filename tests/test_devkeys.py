"""The development signing key kept in the instance folder of ``local``."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from flask_ligand.devkeys import load_dev_signing_key


def test_workers_starting_together_share_one_complete_key(tmp_path: Path) -> None:
    """Eight workers creating the key at once all end up with the same key, and no temporary file is left."""
    key_file = tmp_path / "instance" / "dev-signing-key.pem"

    with ThreadPoolExecutor(max_workers=8) as pool:
        pairs = list(pool.map(lambda _: load_dev_signing_key(key_file), range(8)))

    assert len(set(pairs)) == 1
    assert pairs[0][0] == key_file.read_text()
    assert "BEGIN PRIVATE KEY" in pairs[0][0]
    assert [path.name for path in key_file.parent.iterdir()] == [key_file.name]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_an_existing_key_is_reused(tmp_path: Path) -> None:
    """A restart reads the key it created before, so earlier tokens stay valid."""
    key_file = tmp_path / "dev-signing-key.pem"

    assert load_dev_signing_key(key_file) == load_dev_signing_key(key_file)
