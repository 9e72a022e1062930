"""The design's arrows (DESIGN.md, "The parts"), checked on every import statement of the application.

Floors, lowest first: ``server`` (the core), ``points`` (the ledger), the features ``checkin``, ``wishes``
and ``store``, and ``reports`` on top. An import may only point down, and:

- inside ``server/`` only the app factory (``server/app.py``) imports ``points`` or a feature;
- ``points`` imports no feature;
- a feature reaches ``points`` only through ``points.services`` and never imports another feature;
- ``reports`` reads the features' models and points' services, and nothing imports it;
- no module imports another module's ``_private`` name, nor reads one off a module it imported.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = "server"
LEDGER = "points"
FEATURES = ("checkin", "wishes", "store")
TOP = "reports"
PACKAGES = (CORE, LEDGER, *FEATURES, TOP)


@dataclass(frozen=True)
class Import:
    """One imported name: ``from module import name`` (name None for ``import module``)."""

    importer: str
    path: str
    line: int
    module: str
    name: str | None


def module_name(path: Path) -> str:
    """``checkin/console.py`` → ``checkin.console``; ``store/__init__.py`` → ``store``."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def application_files() -> list[Path]:
    """Every Python file of the application's packages (not tests, benches or migrations)."""
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def _is_module(dotted: str) -> bool:
    base = ROOT.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(path: Path, text: str | None = None) -> list[Import]:
    """Every import in a file, at the top or inside a function, with relative imports resolved."""
    importer = module_name(path)
    package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
    found: list[Import] = []
    source = path.read_text(encoding="utf-8") if text is None else text
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Import):
            found += [Import(importer, str(path), node.lineno, alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                found.append(Import(importer, str(path), node.lineno, base, alias.name))
    return found


def targets(imported: Import) -> str:
    """The module an import reaches: ``from points import services`` reaches ``points.services``."""
    if imported.name is not None and _is_module(f"{imported.module}.{imported.name}"):
        return f"{imported.module}.{imported.name}"
    return imported.module


def top(module: str) -> str:
    return module.split(".")[0]


def broken_arrow(imported: Import) -> str | None:
    """Why an import breaks the design's arrows, or None when it keeps them."""
    source, target = top(imported.importer), targets(imported)
    to = top(target)
    if to not in PACKAGES or to == source:
        return None
    if source == CORE:
        if imported.importer == "server.app":
            return None
        return "inside server/ only the app factory (server/app.py) imports points or a feature"
    if source == LEDGER:
        return "points imports no feature" if to != CORE else None
    if to == TOP:
        return "nothing imports reports"
    if source in FEATURES:
        if to == CORE:
            return None
        if to == LEDGER and target != "points.services":
            return "a feature reaches points only through points.services"
        if to == LEDGER:
            return None
        return "features do not import each other"
    if source == TOP:
        if to == CORE or target == "points.services":
            return None
        if to in (*FEATURES, LEDGER) and target.endswith(".models"):
            return None
        return "reports reads only the features' models and points.services"
    return None


def private_reach(path: Path, text: str | None = None) -> list[str]:
    """``from x import _y`` of another module, and ``mod._y`` read off an imported module."""
    problems: list[str] = []
    importer = module_name(path)
    source = path.read_text(encoding="utf-8") if text is None else text
    modules: dict[str, str] = {}  # local name → module it is bound to
    for imported in imports_of(path, source):
        target = targets(imported)
        if imported.name is None:
            modules[imported.module.split(".")[0]] = imported.module.split(".")[0]
        elif target != imported.module:
            modules[imported.name] = target
        elif imported.name.startswith("_") and not imported.name.startswith("__") and target != importer:
            problems.append(f"{path}:{imported.line}: imports {imported.module}.{imported.name}")
    problems.extend(
        f"{path}:{node.lineno}: reads {modules[node.value.id]}.{node.attr}"
        for node in ast.walk(ast.parse(source, str(path)))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in modules
        and top(modules[node.value.id]) in PACKAGES
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
    )
    return problems


def test_every_import_points_down_the_floors_of_the_design():
    broken = [
        f"{i.path}:{i.line}: {i.importer} imports {targets(i)}: {why}"
        for path in application_files()
        for i in imports_of(path)
        if (why := broken_arrow(i)) is not None
    ]
    assert broken == []


def test_no_module_reaches_into_another_modules_private_names():
    assert [problem for path in application_files() for problem in private_reach(path)] == []


def test_only_wsgi_and_tests_build_the_app():
    builders = [
        f"{path}:{i.line}"
        for path in [*application_files(), *sorted((ROOT / "bench").rglob("*.py"))]
        for i in imports_of(path)
        if targets(i) == "server.app" and not (i.importer.startswith("bench.") and i.name == "create_app")
    ]
    assert builders == []


# --- the check itself: each rule catches what it is there for -------------------------------------------


@pytest.mark.parametrize(
    ("importer", "line", "why"),
    [
        ("server.users.console", "from points.services import balance_of", "only the app factory"),
        ("server.jobs", "from server.app import create_app", None),
        ("server.app", "import checkin", None),
        ("points.services", "from store.models import Redemption", "points imports no feature"),
        ("store.services", "from points.ledger import post", "only through points.services"),
        ("store.services", "from points import services", None),
        ("store.services", "from points.services import hold", None),
        ("checkin.console", "from wishes.services import claim_wish", "do not import each other"),
        ("checkin.console", "import wishes.services", "do not import each other"),
        ("wishes.services", "from reports import services", "nothing imports reports"),
        ("reports.services", "from checkin.models import CheckIn", None),
        ("reports.services", "from checkin.services import list_activities", "reports reads only"),
        ("store.console", "from .models import StoreItem", None),
        ("store.console", "from ..wishes import services", "do not import each other"),
    ],
)
def test_the_arrow_check_knows_each_rule(importer, line, why):
    path = ROOT.joinpath(*importer.split(".")).with_suffix(".py")
    reasons = [broken_arrow(i) for i in imports_of(path, line)]
    if why is None:
        assert reasons == [None]
    else:
        assert len(reasons) == 1 and reasons[0] is not None and why in reasons[0]


def test_the_private_check_catches_both_ways_of_reaching_in():
    sample = (
        "from checkin.checkins import _check_range\n"
        "from points import services\n"
        "services._user(1)\n"
        "services.award(1)\n"
        "from store.services import get_item, _lock_redemption\n"
    )
    problems = private_reach(ROOT / "store" / "console.py", sample)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "imports checkin.checkins._check_range",
        "imports store.services._lock_redemption",
        "reads points.services._user",
    ]
    own = private_reach(ROOT / "store" / "services.py", "from store.services import _lock_redemption\n")
    assert own == []


def test_the_time_is_read_from_the_one_clock():
    """``clock.now()`` only: a name imported from server.clock, or a clock of its own, escapes a freeze."""
    escapes = [
        f"{path}:{i.line}: from server.clock import {i.name}"
        for path in [*application_files(), *sorted((ROOT / "tests").rglob("*.py"))]
        for i in imports_of(path)
        if i.module == "server.clock" and i.name in ("now", "wall", "local_today", "today_bounds")
    ]
    own_clocks = [
        f"{path}:{number}: {line.strip()}"
        for path in application_files()
        if path != ROOT / "server" / "clock.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "datetime.now(" in line or "datetime.utcnow(" in line or "date.today(" in line
    ]
    assert escapes == []
    assert own_clocks == []


def test_routes_and_console_pages_read_through_services():
    """A blueprint or console module loads input, calls a service and renders: it runs no query itself."""
    reads = [
        f"{path}:{node.lineno}: db.session.{node.attr}"
        for path in application_files()
        if path.name in ("blueprint.py", "console.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        if isinstance(node, ast.Attribute)
        and node.attr in ("execute", "scalar", "scalars", "get", "query", "add", "delete")
        and ast.unparse(node.value) == "db.session"
    ]
    assert reads == []
