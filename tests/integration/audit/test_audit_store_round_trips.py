"""What recording a consumed batch costs the real store, counted by
``hoso_store_commands_total`` as the service's own client counts them: a recorder that
knows the chain head appends a batch of any size with one insert; a recorder that knows
no head yet (a restarted replica) and a redelivered batch add a fixed number of reads,
never one per event. A checkpoint round reads the log a page per round trip."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.adapters.checkpointer import Checkpointer
from audit.adapters.consumer import AuditRecorder
from audit.adapters.store import AuditStore
from audit.domain.chain import verify_chain
from audit.domain.personal_data import PersonalDataCipher
from audit.settings import AuditSettings
from chassis.mongo import StoreClient, connect
from tests.integration.audit.test_audit_recording import batch_of, log_of
from tests.support.infra import Infra
from tests.support.store_commands import commands_sent

pytestmark = pytest.mark.integration

# Above the server's default first batch (101 documents), where a look-up of the batch's
# event ids would otherwise need a second round trip.
SIZES = (1, 12, 250)


@dataclass
class Recording:
    client: StoreClient
    store: AuditStore
    cipher: PersonalDataCipher

    def recorder(self) -> AuditRecorder:
        return AuditRecorder(self.store, self.cipher)


@pytest.fixture
async def recording(infra: Infra, run_id: str) -> AsyncIterator[Recording]:
    name = f"{run_id}_audit_rt_{uuid.uuid4().hex[:6]}"
    settings = AuditSettings(mongodb_uri=infra.mongodb, mongodb_database=name)
    # The service's own client: the one that counts its commands.
    client, db = connect(settings)
    store = AuditStore(db)
    await store.create_indexes()
    try:
        yield Recording(client, store, PersonalDataCipher([Fernet.generate_key()]))
    finally:
        await client.drop_database(name)
        await client.close()


def commands() -> dict[str, float]:
    """The audit service's store commands so far, by command name."""
    return commands_sent("audit")


def since(before: dict[str, float]) -> dict[str, int]:
    return {
        command: int(value - before.get(command, 0))
        for command, value in commands().items()
        if value > before.get(command, 0)
    }


async def test_a_batch_costs_one_insert_whatever_its_size(recording: Recording) -> None:
    appender = recording.recorder()
    # The first batch of a recorder that knows no head: look its events up, read the
    # head, insert.
    before = commands()
    await appender.record(batch_of(5))
    assert since(before) == {"find": 2, "insert": 1}

    for size in SIZES:
        before = commands()
        await appender.record(batch_of(size))
        assert since(before) == {"insert": 1}, size

    log = await log_of(recording.store)
    assert len(log) == 5 + sum(SIZES)
    assert verify_chain(log).ok


async def test_a_restart_or_a_redelivery_adds_reads_not_per_event(recording: Recording) -> None:
    await recording.recorder().record(batch_of(3))
    for size in SIZES:
        # A restarted replica: its first batch looks the events up and reads the head.
        restarted = recording.recorder()
        batch = batch_of(size)
        before = commands()
        await restarted.record(batch)
        assert since(before) == {"find": 2, "insert": 1}, size

        # The same batch again (consumed, not committed): the insert meets the first
        # recorded event, one look-up finds them all, nothing is appended.
        before = commands()
        await restarted.record(batch)
        assert since(before) == {"insert": 1, "find": 1}, size

    log = await log_of(recording.store)
    assert len(log) == 3 + sum(SIZES)
    assert verify_chain(log).ok


async def test_a_checkpoint_round_reads_the_log_a_page_per_round_trip(
    recording: Recording,
) -> None:
    appender = recording.recorder()
    for _ in range(5):
        await appender.record(batch_of(50))
    checkpointer = Checkpointer(
        recording.store, Ed25519PrivateKey.generate(), log_id="rt", interval_s=60, read_batch=100
    )

    before = commands()
    checkpoint = await checkpointer.sign_if_grown()

    assert checkpoint is not None
    assert checkpoint.tree_size == 250
    # The newest checkpoint (none), the log in pages of 100 (find, then two getMore), the
    # new checkpoint.
    assert since(before) == {"find": 2, "getMore": 2, "insert": 1}

    # Nothing appended since: the newest checkpoint and an empty read of what follows it.
    before = commands()
    assert await checkpointer.sign_if_grown() is None
    assert since(before) == {"find": 2}
