"""The delivery use cases live in `notification.service.delivery`; this name stays
importable for code written against the earlier layout (the event-contract test)."""

from notification.service.delivery import Deliverer

__all__ = ["Deliverer"]
