"""What features hang on the console shell: menu entries, counters, today panels, member sections."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Blueprint, Flask
from markupsafe import Markup

from server.auth.policy import Principal
from server.users.models import User


@dataclass(frozen=True)
class MenuEntry:
    """A link in the console's menu."""

    label: str
    endpoint: str
    order: int = 50
    admin_only: bool = False


@dataclass(frozen=True)
class Counter:
    """A figure on the today page: how many things wait for this staff member, linking to their queue.

    ``waiting=False`` for a tally (what was done today), never marked as needing attention;
    ``admin_only`` for a queue only admins work (counted and shown only for them)."""

    label: str
    count: Callable[[Principal], int]
    endpoint: str
    order: int = 50
    waiting: bool = True
    admin_only: bool = False


@dataclass(frozen=True)
class Panel:
    """A live part of the today page, fetched (and refreshed) from ``endpoint`` by htmx."""

    title: str
    endpoint: str
    order: int = 50
    refresh_seconds: int = 10


@dataclass(frozen=True)
class MemberSection:
    """A box on a member's points page from another feature: its HTML, or None to leave it out."""

    title: str
    render: Callable[[Principal, User], Markup | None]
    order: int = 50


@dataclass
class ConsoleRegistry:
    """Everything features registered, kept per app."""

    menu: list[MenuEntry] = field(default_factory=list)
    counters: list[Counter] = field(default_factory=list)
    panels: list[Panel] = field(default_factory=list)
    member_sections: list[MemberSection] = field(default_factory=list)


def registry(app: Flask) -> ConsoleRegistry:
    """The app's console registry (made on first use)."""
    found: ConsoleRegistry | None = app.extensions.get("linli_console")
    if found is None:
        found = app.extensions["linli_console"] = ConsoleRegistry()
    return found


def register_pages(
    app: Flask,
    blueprint: Blueprint,
    menu: list[MenuEntry] | None = None,
    counters: list[Counter] | None = None,
    panels: list[Panel] | None = None,
    member_sections: list[MemberSection] | None = None,
) -> None:
    """A feature's console pages: its blueprint (under /console, CSRF-checked, staff only) and its entries."""
    from server.console.auth import protect

    protect(blueprint)
    app.register_blueprint(blueprint)
    found = registry(app)
    found.menu.extend(menu or [])
    found.counters.extend(counters or [])
    found.panels.extend(panels or [])
    found.member_sections.extend(member_sections or [])
