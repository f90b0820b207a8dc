"""Prepare a Prefect server for the e-invoice deployments (idempotent; run before `prefect deploy --all`).

    PREFECT_API_URL=http://prefect.example:4200/api python -m flows.setup [--finance-limit 2]

Creates what ``prefect.yaml`` cannot declare:
* the process work pool ``einvoice-process``;
* the tag concurrency limits ``archive-writer`` = 1 (one writer appends to the archive log at a
  time: the log's conditional page PUT is a serialisation point anyway, concurrent writers only
  add 412 retries) and ``finance-connector`` = N (what the finance system accepts at once);
* the notification block ``einvoice-ops-alerts`` (custom webhook to EINVOICE_ALERT_WEBHOOK) and
  the automations in ``flows/automations/*.yaml``: archive verification failed, dead letters,
  held back (a run needs attention), and pausing the archive writers after an integrity failure.

Automations are replaced by name, so running this again changes nothing but what the files
changed. An action ``deployment: NAME/NAME`` needs that deployment: run this module once before
``prefect deploy --all`` (work pool) and once after (automations that act on deployments); an
automation whose deployments are missing is skipped with a message. Without a webhook the
notification actions are left out (the pause automation still pauses).

    python -m flows.setup --resume-archive-writers   # after an integrity failure is resolved
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

from flows.common import ARCHIVE_WRITER, FINANCE_CONNECTOR

WORK_POOL = "einvoice-process"
ALERT_BLOCK = "einvoice-ops-alerts"
AUTOMATIONS = Path(__file__).resolve().parent / "automations"


def ensure_work_pool(client, name: str = WORK_POOL) -> None:
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    try:
        client.create_work_pool(WorkPoolCreate(name=name, type="process",
                                               description="E-invoice flows run as local processes on each worker machine"))
    except ObjectAlreadyExists:
        pass


def ensure_tag_limit(client, tag: str, limit: int) -> None:
    # create_concurrency_limit upserts the limit for the tag.
    client.create_concurrency_limit(tag=tag, concurrency_limit=limit)


def ensure_alert_block(webhook_url: str) -> str:
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    block = CustomWebhookNotificationBlock(
        name=ALERT_BLOCK, url=webhook_url, method="POST",
        json_data={"subject": "{{subject}}", "text": "{{body}}"},
    )
    return str(block.save(ALERT_BLOCK, overwrite=True))


class MissingDeployment(LookupError):
    """An automation acts on a deployment that is not deployed yet."""


def load_automation(path: Path, alert_block_id: str | None, client=None):
    """The automation of ``path`` with its placeholders filled: the notification block's id
    (notification actions are dropped without one) and ``deployment: NAME`` as ``deployment_id``.
    Returns None when no action is left."""
    from prefect.events.schemas.automations import AutomationCore
    from prefect.exceptions import ObjectNotFound

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    actions = []
    for action in data.get("actions", []):
        if action.get("block_document_id") == "{{ alert_block_id }}":
            if alert_block_id is None:
                continue
            action["block_document_id"] = alert_block_id
        if "deployment" in action:
            name = action.pop("deployment")
            try:
                action["deployment_id"] = str(client.read_deployment_by_name(name).id)
            except ObjectNotFound:
                raise MissingDeployment(name) from None
        actions.append(action)
    if not actions:
        return None
    data["actions"] = actions
    return AutomationCore.model_validate(data)


def ensure_automations(client, alert_block_id: str | None) -> tuple[list[str], list[str]]:
    """Create (replace) every automation of ``flows/automations``; returns (created, skipped with why)."""
    ids, skipped = [], []
    for path in sorted(AUTOMATIONS.glob("*.yaml")):
        try:
            automation = load_automation(path, alert_block_id, client)
        except MissingDeployment as missing:
            skipped.append(f"{path.stem} (deployment {missing} not deployed yet: run this again after `prefect deploy --all`)")
            continue
        if automation is None:
            skipped.append(f"{path.stem} (only notifications, and no --alert-webhook)")
            continue
        for old in client.read_automations_by_name(automation.name):
            client.delete_automation(old.id)  # replace: the file is the source of truth
        ids.append(str(client.create_automation(automation)))
    return ids, skipped


def archive_writer_deployments() -> list[str]:
    """The deployments the pause automation pauses (read from its file: one list, not two)."""
    data = yaml.safe_load((AUTOMATIONS / "archive-pause-writers.yaml").read_text(encoding="utf-8"))
    return [a["deployment"] for a in data["actions"] if a.get("type") == "pause-deployment"]


def resume_archive_writers(client) -> list[str]:
    """Resume what the pause automation paused (the operator decides the archive is fine again)."""
    resumed = []
    for name in archive_writer_deployments():
        client.resume_deployment(client.read_deployment_by_name(name).id)
        resumed.append(name)
    return resumed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archive-writers", type=int, default=int(os.environ.get("EINVOICE_ARCHIVE_WRITERS", "1")),
                   help="archive-writer tag limit (default 1: ingest batches and checkpoints take turns; more lets "
                        "process-inbox's parallel batches run together, the archive's conditional page write keeps "
                        "the log linear)")
    p.add_argument("--finance-limit", type=int, default=int(os.environ.get("EINVOICE_FINANCE_CONCURRENCY", "2")))
    p.add_argument("--alert-webhook", default=os.environ.get("EINVOICE_ALERT_WEBHOOK"),
                   help="URL the operators' notifications are POSTed to (default: EINVOICE_ALERT_WEBHOOK)")
    p.add_argument("--resume-archive-writers", action="store_true",
                   help="only resume the deployments the automation einvoice-archive-pause-writers paused "
                        "(after an integrity failure is resolved and verify-archive passes)")
    args = p.parse_args(argv)
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        if args.resume_archive_writers:
            print("resumed " + ", ".join(resume_archive_writers(client)))
            return 0
        ensure_work_pool(client)
        ensure_tag_limit(client, ARCHIVE_WRITER, args.archive_writers)
        ensure_tag_limit(client, FINANCE_CONNECTOR, args.finance_limit)
        print(f"work pool {WORK_POOL}; tag limits {ARCHIVE_WRITER}={args.archive_writers}, "
              f"{FINANCE_CONNECTOR}={args.finance_limit}")
        block_id = None
        if args.alert_webhook:
            block_id = ensure_alert_block(args.alert_webhook)
            print(f"notification block {ALERT_BLOCK}")
        else:
            print("no --alert-webhook / EINVOICE_ALERT_WEBHOOK: automations without their notifications", file=sys.stderr)
        ids, skipped = ensure_automations(client, block_id)
        print(f"automations: {', '.join(ids) or 'none'}")
        for why in skipped:
            print(f"automation skipped: {why}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
