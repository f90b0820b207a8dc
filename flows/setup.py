"""Prepare a Prefect server for the e-invoice deployments (idempotent; run before `prefect deploy --all`).

    PREFECT_API_URL=http://prefect.example:4200/api python -m flows.setup [--finance-limit 2]

Creates what ``prefect.yaml`` cannot declare:
* the process work pool ``einvoice-process``;
* the tag concurrency limits ``archive-writer`` = 1 (one writer appends to the archive log at a
  time: the log's conditional page PUT is a serialisation point anyway, concurrent writers only
  add 412 retries) and ``finance-connector`` = N (what the finance system accepts at once);
* the notification block ``einvoice-ops-alerts`` (custom webhook to EINVOICE_ALERT_WEBHOOK) and
  the automations in ``flows/automations/*.yaml`` that use it.
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


def load_automation(path: Path, alert_block_id: str):
    from prefect.events.schemas.automations import AutomationCore

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for action in data.get("actions", []):
        if action.get("block_document_id") == "{{ alert_block_id }}":
            action["block_document_id"] = alert_block_id
    return AutomationCore.model_validate(data)


def ensure_automations(client, alert_block_id: str) -> list[str]:
    ids = []
    for path in sorted(AUTOMATIONS.glob("*.yaml")):
        automation = load_automation(path, alert_block_id)
        for old in client.read_automations_by_name(automation.name):
            client.delete_automation(old.id)  # replace: the file is the source of truth
        ids.append(str(client.create_automation(automation)))
    return ids


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archive-writers", type=int, default=int(os.environ.get("EINVOICE_ARCHIVE_WRITERS", "1")),
                   help="archive-writer tag limit (default 1: ingest batches and checkpoints take turns; more lets "
                        "process-inbox's parallel batches run together, the archive's conditional page write keeps "
                        "the log linear)")
    p.add_argument("--finance-limit", type=int, default=int(os.environ.get("EINVOICE_FINANCE_CONCURRENCY", "2")))
    p.add_argument("--alert-webhook", default=os.environ.get("EINVOICE_ALERT_WEBHOOK"),
                   help="URL the archive-failure notification is POSTed to (default: EINVOICE_ALERT_WEBHOOK)")
    args = p.parse_args(argv)
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        ensure_work_pool(client)
        ensure_tag_limit(client, ARCHIVE_WRITER, args.archive_writers)
        ensure_tag_limit(client, FINANCE_CONNECTOR, args.finance_limit)
        print(f"work pool {WORK_POOL}; tag limits {ARCHIVE_WRITER}={args.archive_writers}, "
              f"{FINANCE_CONNECTOR}={args.finance_limit}")
        if args.alert_webhook:
            block_id = ensure_alert_block(args.alert_webhook)
            ids = ensure_automations(client, block_id)
            print(f"notification block {ALERT_BLOCK}; automations: {', '.join(ids)}")
        else:
            print("no --alert-webhook / EINVOICE_ALERT_WEBHOOK: automations not created", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
