"""The kinds of problem notification's API answers with, beyond the chassis's
(docs/problems.md)."""

from __future__ import annotations

from chassis.problems import problem_kind

__all__ = ["DELIVERY_NOT_FAILED", "DELIVERY_NOT_FOUND", "TEMPLATE_NOT_RENDERABLE"]

DELIVERY_NOT_FOUND = problem_kind(
    "delivery-not-found", 404, "Delivery not found", "No delivery has this identifier."
)
DELIVERY_NOT_FAILED = problem_kind(
    "delivery-not-failed",
    409,
    "Delivery is not failed",
    "Only a delivery that has failed for good can be resent; this one is sent, pending or "
    "being retried.",
)
TEMPLATE_NOT_RENDERABLE = problem_kind(
    "template-not-renderable",
    422,
    "Template cannot be rendered",
    "The notice's template cannot be rendered for this language, channel and status.",
)
