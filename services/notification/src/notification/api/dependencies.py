"""What the operators' routes depend on, as `Annotated` aliases: the caller, who must
hold the operator role, and the operators' use cases the composition root put on the
application."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from chassis.auth import Principal, Role, caller_with
from notification.service.operators import Operators

__all__ = ["Operator", "Service", "operators", "require_operator"]

# The chassis's token check and role rule, with the settings of the application serving
# the request, so the routers can be declared before any settings exist.
require_operator = caller_with(Role.OPERATOR)


def operators(request: Request) -> Operators:
    service: Operators = request.app.state.operators
    return service


Operator = Annotated[Principal, Depends(require_operator)]
Service = Annotated[Operators, Depends(operators)]
