"""The periodic deadline scan, as a worker of the service's runtime."""

from __future__ import annotations

import asyncio
import logging

from processing import metrics
from processing.service import ProcessingService

log = logging.getLogger(__name__)


class DeadlineScanner:
    def __init__(self, service: ProcessingService, interval_s: float) -> None:
        self._service = service
        self._interval_s = interval_s

    async def run(self) -> None:
        # The first pass runs at start-up, so deadlines missed while the service was
        # down are reported without waiting a whole interval.
        while True:
            report = await self._service.scan_deadlines()
            if report.overdue:
                log.info("deadline scan: %d overdue", report.overdue)
            metrics.set_dossiers_overdue(await self._service.overdue_by_agency())
            await asyncio.sleep(self._interval_s)
