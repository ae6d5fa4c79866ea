"""What the store clients `chassis.mongo.connect` built have sent: its command counter."""

from __future__ import annotations

from chassis.mongo import STORE_COMMANDS


def commands_sent(service: str) -> dict[str, float]:
    """The commands the clients of ``service`` (its settings' ``service_name``) have sent
    so far in this process, by command name."""
    return {
        sample.labels["command"]: sample.value
        for metric in STORE_COMMANDS.collect()
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels["service"] == service
    }


def all_commands_sent(service: str) -> float:
    return sum(commands_sent(service).values())
