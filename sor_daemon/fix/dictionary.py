"""The FIX 4.4 data dictionary every session validates against.

It is quickfix's own FIX44.xml with one change: TargetStrategy (847) loses its enum
(1=VWAP, 2=Participate, 3=MinimizeImpact) so that the user-defined values FIX reserves
(1000 and up), which select this router's strategies, pass validation. The file is
derived from the installed one at first use, so it follows the quickfix version.
"""

from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

_OPEN_ENUMS = ("TargetStrategy",)


def installed_fix44() -> Path:
    return Path(sys.prefix) / "share" / "quickfix" / "FIX44.xml"


def patch(text: str) -> str:
    for name in _OPEN_ENUMS:
        pattern = re.compile(
            rf"(<field number='\d+' name='{name}' type='\w+')>.*?</field>", re.S)
        text, count = pattern.subn(r"\1 />", text, count=1)
        if count != 1:
            raise RuntimeError(f"FIX44.xml: field {name} not found to patch")
    return text


@functools.cache
def data_dictionary_path() -> str:
    """Written once per process into a directory of its own (``mkdtemp``: mode 0700,
    ours), removed at exit: never a file someone else could have put in the shared
    temporary directory, and no name another user's daemon could hold."""
    patched = patch(installed_fix44().read_text())
    directory = tempfile.mkdtemp(prefix="sor-daemon-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    target = Path(directory) / "FIX44.xml"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(patched)
    return str(target)
