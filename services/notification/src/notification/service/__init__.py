"""The use cases, each taking its dependencies as parameters and reaching the outside
world only through the protocols of `notification.service.ports`:

* `NoticeHandler.handle_batch`: lifecycle notices → deliveries planned, claimed and
  given their first attempt (`notices`);
* `Deliverer.attempt`, `Deliverer.give_up_interrupted`, `Deliverer.publish_outcomes`:
  one attempt and its recorded outcome, and telling audit (`delivery`);
* `RetryWorker.fill`: the retry worker's pass (`retries`);
* `Operators`: the delivery log, resend, templates and previews (`operators`).
"""

from notification.service.delivery import ACTOR, GROUP, SOURCE, Deliverer, InlineGate
from notification.service.notices import (
    HANDLED_EVENTS,
    LifecycleNotice,
    NoticeHandler,
    PlannedDelivery,
    Rejected,
)
from notification.service.operators import (
    DeliveryNotFound,
    NotResendable,
    Operators,
    StatusNotApplicable,
    TemplatePreview,
)
from notification.service.retries import RetryWorker

__all__ = [
    "ACTOR",
    "GROUP",
    "HANDLED_EVENTS",
    "SOURCE",
    "Deliverer",
    "DeliveryNotFound",
    "InlineGate",
    "LifecycleNotice",
    "NotResendable",
    "NoticeHandler",
    "Operators",
    "PlannedDelivery",
    "Rejected",
    "RetryWorker",
    "StatusNotApplicable",
    "TemplatePreview",
]
