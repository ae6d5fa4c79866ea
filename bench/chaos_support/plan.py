"""What a chaos run does (`Plan`) and what it found (`Report`), with the final table."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SERVICES = ("intake", "processing", "notification", "audit")


@dataclass(frozen=True)
class Plan:
    dossiers: int = 2000
    # Submissions offered per second, whatever the answers: a portal does not slow down
    # because the department's services are having a bad minute. 3/s keeps a 2,000-dossier
    # run near 12 minutes on the project's 2-CPU machine while every kill and restart
    # lands under load (docs/reliability.md); the pipeline itself holds far more.
    rate: float = 3.0
    # Processes of each service, sharing its databases and consumer groups.
    replicas: int = 2
    # kill -9 of each replica, one replica at a time while its siblings serve.
    kills: int = 3
    # kill -9 of every replica of one service at once (the service wholly down), each time
    # a different service where there are enough.
    outages: int = 1
    broker_restarts: int = 1
    # FerretDB alone, and PostgreSQL under it (FerretDB stays up and reconnects).
    store_restarts: int = 1
    postgres_restarts: int = 1
    # On a Kafka cluster of the run's own (bench.chaos --kafka-brokers 3): kill -9 the
    # broker leading the busiest partitions and start it again ``broker_down_s`` later,
    # then restart another broker (gracefully, as in a rolling upgrade).
    broker_kills: int = 0
    broker_rolls: int = 0
    broker_down_s: float = 10.0
    # The fail-over probe's producers and consumers (bench/chaos_support/failover.py).
    probe_producers: int = 4
    probe_consumers: int = 2
    seed: int = 7
    # Dossiers worked on at the same time by the department's officers.
    officers: int = 30
    # Whether an officer claims a dossier before starting the review (one more write and
    # one more event per dossier; the CI-sized run leaves it out to stay short).
    claim: bool = True
    # Shares of applicants who also give a mobile number and a portal account, so the SMS
    # gateway and the portal inbox are exercised beside email.
    sms_share: float = 0.3
    webhook_share: float = 0.3
    # Records the run publishes itself that no consumer can handle; they, and only they,
    # must end up on dead-letter topics.
    poison: int = 3
    # After the last submission: how long everything may take to settle.
    drain_timeout_s: float = 1800.0
    work_dir: Path = Path("bench/results/chaos")

    @property
    def load_s(self) -> float:
        return self.dossiers / self.rate


@dataclass
class Report:
    plan: dict[str, Any]
    infra: str
    submitted: int = 0
    accepted: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    submit_retries: int = 0
    finished: int = 0
    lost: int = 0
    officer_retries: dict[str, int] = field(default_factory=dict)
    replicas: int = 1
    # kill -9 one replica at a time, per replica ("intake-1": 3), and of whole services.
    kills: dict[str, int] = field(default_factory=dict)
    outages: dict[str, int] = field(default_factory=dict)
    broker_restarts: int = 0
    store_restarts: int = 0
    postgres_restarts: int = 0
    restarts_skipped: str | None = None
    broker_kills: int = 0
    broker_rolls: int = 0
    # The fewest copies any partition of the run's topics has, and what was asked.
    topic_replication: int = 0
    replication_asked: int = 1
    # The fail-over probe's figures (bench/chaos_support/failover.py ProbeFigures).
    failover: dict[str, Any] | None = None
    notices_expected: dict[str, int] = field(default_factory=dict)
    notices_delivered: dict[str, int] = field(default_factory=dict)
    notices_missing: int = 0
    duplicated_emails: int = 0
    duplicated_notices: int = 0
    retransmissions_dropped: int = 0
    interrupted_deliveries: int = 0
    operator_resends: int = 0
    events_on_topics: int = 0
    republished_events: int = 0
    audit_entries: int = 0
    duplicated_audit_entries: int = 0
    missing_from_audit: int = 0
    unknown_in_audit: int = 0
    audit_verified: bool = False
    audit_cli_verified: bool = False
    intake_projection_behind: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)
    dead_letters_injected: int = 0
    dead_letters_handled: int = 0
    unexpected_dead_letters: int = 0
    phases_s: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def check(self) -> None:
        """Turn the figures into the invariants; each broken one becomes a failure."""
        rules = [
            (self.accepted > 0, "no dossier was accepted"),
            (self.lost == 0, f"{self.lost} accepted dossier(s) did not reach result_returned"),
            (self.notices_missing == 0, f"{self.notices_missing} notice(s) never arrived"),
            (self.duplicated_emails == 0, f"{self.duplicated_emails} duplicated email(s)"),
            (
                self.duplicated_notices == 0,
                f"{self.duplicated_notices} notice(s) told the citizen twice",
            ),
            (
                self.duplicated_audit_entries == 0,
                f"{self.duplicated_audit_entries} event(s) recorded more than once in audit",
            ),
            (
                self.missing_from_audit == 0,
                f"{self.missing_from_audit} event(s) on the topics missing from audit",
            ),
            (
                self.unknown_in_audit == 0,
                f"{self.unknown_in_audit} audit entr(ies) for events not on the topics",
            ),
            (self.audit_verified, "the audit log did not verify (GET /v1/audit/verify)"),
            (
                self.topic_replication >= self.replication_asked,
                f"the run's topics keep {self.topic_replication} cop(ies) of each record, "
                f"not {self.replication_asked}",
            ),
            (
                not self.failover or self.failover["lost"] == 0,
                f"{(self.failover or {}).get('lost')} acknowledged probe record(s) lost",
            ),
            (self.audit_cli_verified, "the audit log did not verify (audit.cli verify-store)"),
            (
                self.intake_projection_behind == 0,
                f"intake's status look-up is behind for {self.intake_projection_behind} dossier(s)",
            ),
            (
                self.unexpected_dead_letters == 0,
                f"{self.unexpected_dead_letters} record(s) on dead-letter topics that should "
                "not be there",
            ),
        ]
        self.failures.extend(message for holds, message in rules if not holds)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"ok": self.ok}

    def table(self) -> str:
        kills = ", ".join(f"{name} {count}" for name, count in self.kills.items()) or "none"
        outages = ", ".join(f"{name} {n}" for name, n in self.outages.items() if n) or "none"
        notices = ", ".join(
            f"{channel} {self.notices_delivered.get(channel, 0)}/{expected}"
            for channel, expected in sorted(self.notices_expected.items())
        )
        dlq = ", ".join(f"{t} {n}" for t, n in sorted(self.dead_letters.items()) if n) or "none"
        refused = ", ".join(f"{k} {v}" for k, v in sorted(self.refused.items())) or "none"
        restarts_note = f" ({self.restarts_skipped})" if self.restarts_skipped else ""
        rows = [
            ("infrastructure", self.infra),
            ("replicas of each service", str(self.replicas)),
            ("dossiers submitted", str(self.submitted)),
            ("accepted (202)", str(self.accepted)),
            ("refused for good", refused),
            ("submissions retried (503, lost connection)", str(self.submit_retries)),
            ("finished (result_returned)", str(self.finished)),
            ("lost", str(self.lost)),
            ("kill -9 per replica, one at a time", kills),
            ("kill -9 of every replica at once", outages),
            ("broker restarts", f"{self.broker_restarts}{restarts_note}"),
            ("store (FerretDB) restarts", f"{self.store_restarts}{restarts_note}"),
            ("PostgreSQL restarts", f"{self.postgres_restarts}{restarts_note}"),
            *self._failover_rows(),
            ("notices delivered/expected", notices or "none"),
            ("notices missing", str(self.notices_missing)),
            ("duplicated emails", str(self.duplicated_emails)),
            ("duplicated notices (any channel)", str(self.duplicated_notices)),
            ("repeats dropped by SMS gateway/portal", str(self.retransmissions_dropped)),
            ("email attempts cut by a kill", str(self.interrupted_deliveries)),
            ("  of which resent by the operator", str(self.operator_resends)),
            ("distinct events on the topics", str(self.events_on_topics)),
            ("  published more than once (same id)", str(self.republished_events)),
            ("audit entries", str(self.audit_entries)),
            ("duplicated audit entries", str(self.duplicated_audit_entries)),
            ("events missing from audit", str(self.missing_from_audit)),
            (
                "audit verification (API, CLI)",
                f"{_yes(self.audit_verified)}, {_yes(self.audit_cli_verified)}",
            ),
            ("dead-letter entries", dlq),
            (
                "  poison / handled by the operator / unexpected",
                f"{self.dead_letters_injected} / {self.dead_letters_handled} / "
                f"{self.unexpected_dead_letters}",
            ),
            ("wall time", f"{self.wall_s:.0f} s"),
        ]
        width = max(len(name) for name, _ in rows)
        lines = [f"{name.ljust(width)}  {value}" for name, value in rows]
        verdict = "PASSED" if self.ok else "FAILED: " + "; ".join(self.failures)
        rule = "-" * (width + 2 + max(len(v) for _, v in rows))
        return "\n".join([rule, *lines, rule, verdict])

    def _failover_rows(self) -> list[tuple[str, str]]:
        if self.failover is None:
            return []
        f = self.failover
        return [
            (
                "kill -9 of the busiest leader / broker restarts",
                f"{self.broker_kills} / {self.broker_rolls}",
            ),
            (
                "copies of each record (asked)",
                f"{self.topic_replication} ({self.replication_asked})",
            ),
            (
                "probe records offered / acknowledged / lost",
                f"{f['offered']} / {f['acknowledged']} / {f['lost']}",
            ),
            ("  sent again after a failed send", str(f["resent"])),
            (
                "producer fail-over p50 / p99 / max",
                f"{f['producer_p50_s']:.2f} / {f['producer_p99_s']:.2f} / "
                f"{f['producer_max_s']:.2f} s",
            ),
            (
                "consumer fail-over p50 / p99 / max",
                f"{f['consumer_p50_s']:.2f} / {f['consumer_p99_s']:.2f} / "
                f"{f['consumer_max_s']:.2f} s",
            ),
        ]


def _yes(value: bool) -> str:
    return "ok" if value else "FAILED"
