"""Runs one contender in this process until its audit collection holds every event.

    python -m bench.pipeline.contender ours --bootstrap 127.0.0.1:9092 \\
        --mongodb mongodb://127.0.0.1:27017 --prefix bench1234-ours. --database bench1234_ours \\
        --drain 4000 --final 4400 --acks /tmp/acks.json

The harness starts it, reads its JSON lines (see `bench.pipeline.tally`) and, once it has
exited, the acknowledgement times it wrote to ``--acks``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from bench.pipeline.tally import Tally
from bench.pipeline.work import prepare

# Where each contender is implemented: ``module:function``, an ``async def (Contender)``.
CONTENDERS = {
    "naive": "bench.pipeline.naive:run",
    "faststream-single": "bench.pipeline.with_faststream:run_single",
    "faststream-batch": "bench.pipeline.with_faststream:run_batch",
    "ours": "bench.pipeline.ours:run",
}


@dataclass
class Contender:
    bootstrap: str
    mongodb_uri: str
    prefix: str
    database_name: str
    tally: Tally
    _client: AsyncMongoClient[Any] | None = None

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def database(self, stage: str) -> AsyncDatabase[Any]:
        """Each stage has a database of its own, as each service has in the platform."""
        if self._client is None:
            self._client = AsyncMongoClient(self.mongodb_uri, tz_aware=True)
        return self._client[f"{self.database_name}_{stage}"]

    async def until_done(self, work: Awaitable[Any] | None = None) -> None:
        """Wait until every event is recorded; a contender that fails first fails loudly."""
        done = asyncio.ensure_future(self.tally.done.wait())
        tasks: set[asyncio.Future[Any]] = {done}
        worker = asyncio.ensure_future(work) if work is not None else None
        if worker is not None:
            tasks.add(worker)
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if worker is not None and worker.done() and not done.done():
                worker.result()
                raise RuntimeError("the contender stopped before every event was recorded")
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()


async def main(args: argparse.Namespace) -> None:
    tally = Tally(drain_target=args.drain, final_target=args.final)
    contender = Contender(args.bootstrap, args.mongodb, args.prefix, args.database, tally)
    module, function = CONTENDERS[args.name].split(":")
    work = getattr(importlib.import_module(module), function)
    prepare()
    reporter = asyncio.create_task(tally.report())
    try:
        await work(contender)
    finally:
        reporter.cancel()
        await contender.close()
    await asyncio.to_thread(Path(args.acks).write_text, json.dumps(tally.acks))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="run one benchmark contender")
    parser.add_argument("name", choices=sorted(CONTENDERS))
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--mongodb", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--drain", type=int, required=True, help="entries of the pre-load")
    parser.add_argument("--final", type=int, required=True, help="entries in all")
    parser.add_argument("--acks", required=True, help="file for acknowledgement times")
    return parser.parse_args(argv)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(parse_args()))
