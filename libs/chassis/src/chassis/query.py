"""Unknown query parameters are refused, on every route of every service.

FastAPI reads the parameters a route declares and silently drops the rest, so
``?$where=1`` or ``?status[$ne]=x`` would answer 200 as if the caller had asked for
nothing odd: a caller who mistypes a filter gets everything, and a probe looks like it
worked. `create_app` installs `refuse_unknown_query` as an app-wide dependency; it runs
before any other dependency (authentication included) and before the handler, so a
refused request has read or changed nothing.

The declared names are the route's own: its query parameters, those of its
dependencies (an auth dependency, a shared filter) and the fields of a query model
(``Annotated[Model, Query()]``), under their aliases. A parameter that is not a list
may also be given only once: ``?limit=1&limit=500`` has no single meaning.
"""

from __future__ import annotations

import collections.abc
import types
import typing
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel

from chassis.problems import Problem

__all__ = ["DeclaredQuery", "declared_query", "refuse_unknown_query", "unknown_query_problem"]

_SEQUENCES: tuple[type, ...] = (list, tuple, set, frozenset, collections.abc.Sequence)
_UNKNOWN = "unknown query parameter"
_REPEATED = "given more than once"


@dataclass(frozen=True, slots=True)
class DeclaredQuery:
    names: frozenset[str]
    # Parameters whose value is a list: repeating them is how a list is sent.
    repeatable: frozenset[str]


def _unwrapped(annotation: Any) -> list[Any]:
    """The types an annotation admits, Annotated and Optional taken apart."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrapped(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _unwrapped(arg)]
    return [annotation]


def _is_sequence(annotation: Any) -> bool:
    for candidate in _unwrapped(annotation):
        kind = typing.get_origin(candidate) or candidate
        if isinstance(kind, type) and issubclass(kind, _SEQUENCES) and kind is not str:
            return True
    return False


def _query_model(annotation: Any) -> type[BaseModel] | None:
    for candidate in _unwrapped(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _walk(dependant: Dependant, names: set[str], repeatable: set[str]) -> None:
    for param in dependant.query_params:
        model = _query_model(param.field_info.annotation)
        # ``Annotated[Model, Query()]``: each field of the model is a parameter.
        fields = (
            [(f.alias or n, f.annotation) for n, f in model.model_fields.items()]
            if model is not None
            else [(param.alias, param.field_info.annotation)]
        )
        for name, annotation in fields:
            names.add(name)
            if _is_sequence(annotation):
                repeatable.add(name)
    for sub in dependant.dependencies:
        _walk(sub, names, repeatable)


_declared: dict[int, tuple[APIRoute, DeclaredQuery]] = {}


def declared_query(route: APIRoute) -> DeclaredQuery:
    """The query parameters `route` accepts, its dependencies' included; computed once."""
    cached = _declared.get(id(route))
    if cached is not None and cached[0] is route:
        return cached[1]
    names: set[str] = set()
    repeatable: set[str] = set()
    _walk(route.dependant, names, repeatable)
    declared = DeclaredQuery(frozenset(names), frozenset(repeatable))
    # The route is held beside its answer so that its id cannot pass to another object.
    _declared[id(route)] = (route, declared)
    return declared


def unknown_query_problem(pairs: list[tuple[str, str]], declared: DeclaredQuery) -> Problem | None:
    """The 422 problem for `pairs` (the request's query, in order), or None if fine."""
    errors: list[dict[str, str]] = []
    unknown: list[str] = []
    seen: set[str] = set()
    for name, _ in pairs:
        if name not in declared.names:
            if name not in unknown:
                unknown.append(name)
                errors.append({"pointer": f"query:/{_escape(name)}", "detail": _UNKNOWN})
        elif name in seen and name not in declared.repeatable:
            errors.append({"pointer": f"query:/{_escape(name)}", "detail": _REPEATED})
        seen.add(name)
    if not errors:
        return None
    if unknown:
        detail = "unknown query parameter(s): " + ", ".join(unknown)
    else:
        detail = f"query parameter given more than once: {errors[0]['pointer']}"
    return Problem(422, "Request is not valid", detail, errors=errors)


def _escape(name: str) -> str:
    # RFC 6901, as chassis.problems.json_pointer writes the other pointers.
    return name.replace("~", "~0").replace("/", "~1")


async def refuse_unknown_query(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    problem = unknown_query_problem(request.query_params.multi_items(), declared_query(route))
    if problem is not None:
        raise problem
