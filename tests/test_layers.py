"""The dependency rule the tree shows: core is pure, fix never reaches the service, and the
simulator meets the daemon only over FIX (its codecs and the vocabulary they speak)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IO = ("quickfix", "sqlite3", "asyncio", "prometheus_client", "structlog")
FORBIDDEN = {
    "sor_daemon/core": ("sor_daemon.fix", "sor_daemon.service", "sor_daemon.tools",
                        "sor_daemon.config", "sor_sim", *IO),
    "sor_daemon/fix": ("sor_daemon.service", "sor_daemon.tools", "sor_sim"),
    "sor_sim": ("sor_daemon",),
}
SIM_MAY_USE = ("sor_daemon.fix", "sor_daemon.core.domain", "sor_daemon.core.messages",
               "sor_daemon.core.market")


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("layer", FORBIDDEN)
def test_a_layer_imports_nothing_it_must_not(layer: str):
    bad = [f"{path.relative_to(ROOT)}: {name}" for path in sorted((ROOT / layer).rglob("*.py"))
           for name in sorted(imports(path))
           if within(name, FORBIDDEN[layer]) and not (layer == "sor_sim"
                                                      and within(name, SIM_MAY_USE))]
    assert not bad, "imports across the layering rule:\n" + "\n".join(bad)
