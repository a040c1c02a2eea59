"""The FIX data dictionary the sessions validate against is the daemon's own."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from pathlib import Path

from sor_daemon.fix.dictionary import data_dictionary_path, installed_fix44, patch


def test_the_dictionary_is_written_privately_and_never_taken_from_the_shared_directory(
        tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(shared))  # the shared temporary directory
    patched = patch(installed_fix44().read_text())
    digest = hashlib.sha256(patched.encode()).hexdigest()[:16]
    planted = shared / f"sor-daemon-FIX44-{digest}.xml"  # where it used to be
    planted.write_text("<fix major='4' minor='4'>planted</fix>")
    data_dictionary_path.cache_clear()
    try:
        path = Path(data_dictionary_path())
    finally:
        data_dictionary_path.cache_clear()
    assert path != planted and path.read_text() == patched
    directory = path.parent
    for made in (directory, path):
        assert made.stat().st_uid == os.getuid()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert directory.parent == shared and directory != shared
