"""Which error codes an API operation can answer, read from the raise sites of its view's call graph.

The OpenAPI document lists them per operation and status (``ErrorCodes`` in server/extensions.py), so the
list is made from the code that raises, not kept by hand. From the view (and every decorator around it) the
reader follows each call it can resolve statically: a name or ``module.name`` of the function's globals or
closure that is a function of this project's packages. A call of an ``AppError`` class with a literal code
records that code under the class's status; a code passed in by the caller (``_require(wish, "approved",
"WISH_NOT_APPROVED")``) is resolved at each call site. A code the reader cannot resolve (read from a value,
like a request's value) leaves that status *open*: the document then lists the codes it found without
claiming they are all (no enum), so the document never promises less than the server answers.

A code can also travel in a value: a class with ``CARRIES_ERROR_CODE = True`` (the ledger's ``Refused`` and
``LedgerResult``) records the literal codes it is made with, and a raise of ``something.code`` (or
``result.code or "CONFLICT"``) can answer any code carried in the graph below the operation. Functions passed
as arguments (a posting's plan) are read as called.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from server.errors import AppError

PACKAGES = frozenset({"server", "checkin", "points", "store", "wishes", "reports"})


@dataclass
class Codes:
    """What a function can raise: codes by status, codes its parameters carry, statuses left open."""

    by_status: dict[int, set[str]] = field(default_factory=dict)
    by_parameter: dict[str, set[int]] = field(default_factory=dict)  # parameter name -> statuses
    open_statuses: set[int] = field(default_factory=set)
    carried: set[str] = field(default_factory=set)  # codes made into values (a refusal, a ledger result)
    carrying_statuses: set[int] = field(default_factory=set)  # statuses raised with a carried code

    def add(self, status: int, code: str) -> None:
        """Record that ``code`` can come with ``status``."""
        self.by_status.setdefault(status, set()).add(code)

    def merge(self, other: Codes) -> None:
        """Take in a callee's codes and open statuses (its parameters are bound by the caller)."""
        for status, codes in other.by_status.items():
            self.by_status.setdefault(status, set()).update(codes)
        self.open_statuses |= other.open_statuses
        self.carried |= other.carried
        self.carrying_statuses |= other.carrying_statuses

    def resolved(self) -> dict[int, set[str]]:
        """Codes by status, a status raised with a carried code taking every code carried below."""
        codes = {status: set(values) for status, values in self.by_status.items()}
        for status in self.carrying_statuses:
            codes.setdefault(status, set()).update(self.carried)
        return codes


def _names_of(func: types.FunctionType) -> dict[str, Any]:
    names = dict(func.__globals__)
    if func.__closure__:
        for name, cell in zip(func.__code__.co_freevars, func.__closure__, strict=True):
            try:
                names[name] = cell.cell_contents
            except ValueError:  # an empty cell: a name assigned later in the enclosing function
                continue
    return names


def _resolve(node: ast.expr, names: dict[str, Any]) -> Any:
    """The object a call's target names, when a name or ``module.attribute`` chain gives it."""
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, names)
        if isinstance(owner, (types.ModuleType, type)):
            return inspect.getattr_static(owner, node.attr, None)
    return None


def _literal(expression: ast.expr) -> str | None:
    """The string a literal expression is, else None."""
    if isinstance(expression, ast.Constant) and isinstance(expression.value, str):
        return expression.value
    return None


def _error_class_code(error: type[AppError]) -> str | None:
    """The code an error class raised without one carries (``Forbidden()`` is FORBIDDEN)."""
    try:
        return error().code  # type: ignore[call-arg]
    except TypeError:
        return None


class Reader:
    """Reads functions once each (a cycle reads as nothing more)."""

    def __init__(self, packages: frozenset[str] = PACKAGES) -> None:
        self.packages = packages
        self.read: dict[Callable[..., Any], Codes] = {}

    def _ours(self, func: Any) -> bool:
        module = getattr(func, "__module__", None) or ""
        return module.split(".", 1)[0] in self.packages

    def codes_of(self, func: Any) -> Codes:
        """The codes ``func`` and what it calls can raise."""
        func = getattr(func, "__func__", func)
        if isinstance(func, (staticmethod, classmethod)):
            func = func.__func__
        if not isinstance(func, types.FunctionType):
            return Codes()
        if not self._ours(
            func
        ):  # a library's decorator (flask-smorest's, Flask-Limiter's): read what it wraps
            wrapped = getattr(func, "__wrapped__", None)
            return Codes() if wrapped is None else self.codes_of(wrapped)
        if func in self.read:
            return self.read[func]
        found = self.read[func] = Codes()
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(func.__code__)))  # not unwrapped
        except (OSError, TypeError, SyntaxError):
            return found
        definition = tree.body[0]
        if not isinstance(definition, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return found
        parameters = {arg.arg for arg in (*definition.args.posonlyargs, *definition.args.args)}
        parameters |= {arg.arg for arg in definition.args.kwonlyargs}
        names = _names_of(func)
        for node in ast.walk(definition):
            if isinstance(node, ast.Call):
                self._read_call(node, names, parameters, found)
        wrapped = getattr(func, "__wrapped__", None)
        if wrapped is not None:
            found.merge(self.codes_of(wrapped))
        return found

    def _read_call(self, call: ast.Call, names: dict[str, Any], parameters: set[str], found: Codes) -> None:
        target = _resolve(call.func, names)
        for argument in (*call.args, *(keyword.value for keyword in call.keywords)):
            passed = _resolve(argument, names) if isinstance(argument, (ast.Name, ast.Attribute)) else None
            if isinstance(passed, types.FunctionType):
                found.merge(self.codes_of(passed))  # a callback: read as called
        if isinstance(target, type) and issubclass(target, AppError):
            self._read_raise(target, call, parameters, found)
        elif isinstance(target, type) and getattr(target, "CARRIES_ERROR_CODE", False):
            given = [*call.args, *(k.value for k in call.keywords if k.arg == "code")]
            # upper case: a code, not a result's status ("refused")
            found.carried |= {text for text in map(_literal, given) if text and text.isupper()}
        elif target is not None:
            callee = self.codes_of(target)
            found.merge(callee)
            for parameter, statuses in callee.by_parameter.items():
                passed_code = _argument(target, call, parameter)
                for status in statuses:
                    self._bind(status, passed_code, parameters, found)

    def _read_raise(self, error: type[AppError], call: ast.Call, parameters: set[str], found: Codes) -> None:
        status: int = error.status
        for keyword in call.keywords:
            if keyword.arg == "status":
                if isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, int):
                    status = keyword.value.value
                else:
                    found.open_statuses.add(0)  # a status read from a value: any status may be open
        code: ast.expr | None = (
            call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "code"), None)
        )
        if code is None:
            default = _error_class_code(error)
            if default is None:
                found.open_statuses.add(status)
            else:
                found.add(status, default)
            return
        self._bind(status, code, parameters, found)

    @classmethod
    def _bind(cls, status: int, code: ast.expr | None, parameters: set[str], found: Codes) -> None:
        if isinstance(code, ast.BoolOp) and isinstance(code.op, ast.Or):  # result.code or "CONFLICT"
            for operand in code.values:
                cls._bind(status, operand, parameters, found)
        elif isinstance(code, ast.Attribute) and code.attr == "code":
            found.carrying_statuses.add(status)
        elif isinstance(code, ast.Constant) and isinstance(code.value, str):
            found.add(status, code.value)
        elif isinstance(code, ast.Name) and code.id in parameters:
            found.by_parameter.setdefault(code.id, set()).add(status)
        else:
            found.open_statuses.add(status)


def _argument(func: Any, call: ast.Call, parameter: str) -> ast.expr | None:
    """The expression a call passes for ``parameter`` of ``func`` (its default: None, read as open)."""
    for keyword in call.keywords:
        if keyword.arg == parameter:
            return keyword.value
    func = getattr(func, "__func__", func)
    try:
        names = list(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return None
    if parameter in names and names.index(parameter) < len(call.args):
        argument = call.args[names.index(parameter)]
        return None if isinstance(argument, ast.Starred) else argument
    default = inspect.signature(func).parameters[parameter].default if parameter in names else None
    if isinstance(default, str):
        return ast.Constant(default)
    return None
