"""Say it where operators look when a run leaves something that needs a person.

A run that rejected files, left dead letters, saw deliveries fail, found released invoices that
were never queued for posting, held payments back or could not archive its records is still a
*successful* run (nothing crashed), but it must not look green and quiet. ``finish_run`` makes
it visible in four places:

* the run's **name** ends with the counts (``...; NEEDS ATTENTION: 1 dead letter``), updated at
  the end of the run through the Prefect API;
* the run's **state** is ``Completed`` named ``Needs attention`` (state type COMPLETED, so retries,
  concurrency and "did it run" dashboards stay right, but the name shows in the run list and the
  state change is its own event, ``prefect.flow-run.Needs attention``);
* a markdown **artifact** ``needs-attention`` lists what and where (and artifact descriptions
  carry the counts, see ``Attention.describe``);
* one **event** ``einvoice.attention.needed`` per kind, resource ``einvoice.attention.<kind>.``,
  label ``einvoice.attention.group`` = ``dead-letters`` or ``held-back``: the automations in
  ``flows/automations/`` (created by ``flows.setup``) alert on them.

A condition that stands (a dead letter nobody resolved yet) would otherwise alert every minute:
the event of a kind is emitted when its set of items differs from what the same flow reported
last time (kept in the Prefect Variable ``einvoice_attention_<flow>``), and its id is derived
from that set, so even two racing runs store it once. The run name and state say it every time.

Orchestration only: which files are rejected, what is a dead letter or a payment held back is
decided by ``einvoice``; this module only counts what the domain layer reported and says it.
It never fails a run: reporting problems are logged, the run's own outcome stands.
"""
from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass, field
from typing import Iterable

from flows.common import EVENT_NAMESPACE, resource_id

ATTENTION_EVENT = "einvoice.attention.needed"
#: Name of the Completed state of a run that left something for a person.
NEEDS_ATTENTION = "Needs attention"
#: Automations react to a group: dead letters (the finance system refused or gave up) alert on their
#: own; everything else that waits for a person is "held back".
DEAD_LETTERS = "dead-letters"
HELD_BACK = "held-back"

#: kind -> (singular, plural, group), in the order run names list them.
KINDS: dict[str, tuple[str, str, str]] = {
    "dead-letters": ("dead letter", "dead letters", DEAD_LETTERS),
    "deliveries-failing": ("delivery failing", "deliveries failing", HELD_BACK),
    "released-not-queued": ("released invoice not queued", "released invoices not queued", HELD_BACK),
    "payments-held-back": ("payment held back", "payments held back", HELD_BACK),
    # a prepared payment run goes to the bank only after two persons of the Kasse released it
    "payment-runs-awaiting-release": ("payment run awaiting release", "payment runs awaiting release", HELD_BACK),
    # a receipt line the outbox could not settle (e.g. a second booking number for one record)
    "receipt-problems": ("finance receipt problem", "finance receipt problems", HELD_BACK),
    # rejected, not validated, not an e-invoice or unreadable: someone tells the supplier
    "rejected-files": ("file not accepted", "files not accepted", HELD_BACK),
    "records-not-archived": ("record not archived", "records not archived", HELD_BACK),
    # a supplier notice that could not be sent and waits for a person (dead, no address, uncertain)
    "notices-need-a-person": ("supplier notice for a person", "supplier notices for a person", DEAD_LETTERS),
    # a supplier notice whose sending failed this run and will be retried
    "notices-failing": ("supplier notice failing", "supplier notices failing", HELD_BACK),
}
#: Items listed per kind in the artifact and the event payload (the counts are always complete).
LISTED = 50

log = logging.getLogger(__name__)


@dataclass
class Attention:
    """What one run leaves for a person: per kind the keys of the items (outbox ids, invoice ids,
    file names ...) and a line per item for people."""

    items: dict[str, set[str]] = field(default_factory=dict)
    lines: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, key: object, line: str = "") -> None:
        """One item (``key`` identifies it: the same key twice counts once)."""
        if kind not in KINDS:
            raise ValueError(f"unknown attention kind {kind!r} (known: {', '.join(KINDS)})")
        keys = self.items.setdefault(kind, set())
        if str(key) not in keys:
            keys.add(str(key))
            self.lines.setdefault(kind, []).append(line or str(key))

    def add_count(self, kind: str, label: str, n: int, line: str) -> None:
        """``n`` items known only by their number (e.g. records waiting for the archive), one line."""
        if n <= 0:
            return
        for i in range(1, n + 1):
            self.add(kind, f"{label}#{i}", line if i == 1 else "")
        # only the first carries the line; the others are counted, not listed
        self.lines[kind] = [x for x in self.lines[kind] if not x.startswith(f"{label}#")]

    def __bool__(self) -> bool:
        return any(self.items.values())

    @property
    def counts(self) -> dict[str, int]:
        return {k: len(self.items[k]) for k in KINDS if self.items.get(k)}

    def summary(self) -> str:
        """``2 dead letters, 1 delivery failing`` (empty when nothing needs a person)."""
        return ", ".join(f"{n} {KINDS[k][0] if n == 1 else KINDS[k][1]}" for k, n in self.counts.items())

    def run_name(self, base: str, done: str = "") -> str:
        """``<base>: <done>; NEEDS ATTENTION: <summary>`` (parts left out when empty)."""
        name = f"{base}: {done}" if done else base
        return f"{name}; NEEDS ATTENTION: {self.summary()}" if self else name

    def describe(self, description: str) -> str:
        """An artifact description with the attention counts appended."""
        return f"{description}; needs attention: {self.summary()}" if self else description

    def digest(self, kind: str) -> str:
        """Stands for the set of items of ``kind``: the same set gives the same digest."""
        return hashlib.sha256("\n".join([kind, *sorted(self.items.get(kind, ()))]).encode()).hexdigest()[:32]

    def markdown(self, title: str) -> str:
        out = [f"### {title}: needs attention", ""]
        for kind, n in self.counts.items():
            out.append(f"**{n} {KINDS[kind][0] if n == 1 else KINDS[kind][1]}**")
            lines = self.lines.get(kind, [])
            out += [f"- {line}" for line in lines[:LISTED]]
            if len(lines) > LISTED:
                out.append(f"- … and {len(lines) - LISTED} more")
            out.append("")
        return "\n".join(out)

    def events(self, flow_name: str, run_name: str, *, kinds: Iterable[str] | None = None) -> list[dict]:
        """``emit_event`` keyword arguments: one ``einvoice.attention.needed`` per kind (of ``kinds``)."""
        out = []
        for kind, n in self.counts.items():
            if kinds is not None and kind not in kinds:
                continue
            singular, plural, group = KINDS[kind]
            out.append(dict(
                event=ATTENTION_EVENT,
                resource={"prefect.resource.id": resource_id("attention", kind),
                          "prefect.resource.name": plural, "einvoice.attention.kind": kind,
                          "einvoice.attention.group": group, "einvoice.flow": flow_name},
                payload={"kind": kind, "count": n, "summary": f"{n} {singular if n == 1 else plural}",
                         "flow": flow_name, "run": run_name, "lines": self.lines[kind][:LISTED]},
                id=uuid.uuid5(EVENT_NAMESPACE, f"attention-{flow_name}-{self.digest(kind)}"),
            ))
        return out


def _variable_name(flow_name: str) -> str:
    return "einvoice_attention_" + "".join(c if c.isalnum() else "_" for c in flow_name.lower())


def _new_kinds(attention: Attention, flow_name: str) -> set[str]:
    """Kinds whose item set changed since this flow last reported (and remember the current sets)."""
    from prefect.variables import Variable

    name = _variable_name(flow_name)
    current = {k: attention.digest(k) for k in attention.counts}
    try:
        before = Variable.get(name, default=None) or {}
    except Exception:  # noqa: BLE001 - without the memory, alert (better twice than never)
        log.warning("could not read the Prefect variable %s; emitting every attention event", name, exc_info=True)
        before = {}
    if not isinstance(before, dict):
        before = {}
    if current != before:
        try:
            Variable.set(name, current, overwrite=True)
        except Exception:  # noqa: BLE001 - see docstring of the module: reporting never fails the run
            log.warning("could not store the Prefect variable %s", name, exc_info=True)
    return {k for k, d in current.items() if before.get(k) != d}


def _rename(name: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.runtime import flow_run

    run_id = flow_run.id
    if not run_id:
        return
    with get_client(sync_client=True) as client:
        client.update_flow_run(run_id, name=name)


def finish_run(attention: Attention, *, flow_name: str, base_name: str, done: str = "", result=None):
    """End a flow: rename the run, and when something needs a person, say so (artifact, events)
    and return a Completed state named ``Needs attention`` carrying ``result``; else ``result``.

    Called last in the flow function: ``return finish_run(...)``.
    """
    from prefect import get_run_logger
    from prefect.artifacts import create_markdown_artifact
    from prefect.states import Completed

    from flows.common import emit_events

    name = attention.run_name(base_name, done)
    logger = get_run_logger()
    try:
        _rename(name)
    except Exception:  # noqa: BLE001 - a name must never fail the run; the log and state still say it
        logger.warning("could not rename the run to %r", name, exc_info=True)
    if not attention:
        return result
    logger.warning("needs attention: %s", attention.summary())
    create_markdown_artifact(key="needs-attention", markdown=attention.markdown(name),
                             description=attention.summary())
    try:
        emit_events(attention.events(flow_name, name, kinds=_new_kinds(attention, flow_name)))
    except Exception:  # noqa: BLE001 - events are telemetry; the state below still shows it
        logger.warning("could not emit the attention events", exc_info=True)
    return Completed(name=NEEDS_ATTENTION, message=attention.summary(), data=result)
