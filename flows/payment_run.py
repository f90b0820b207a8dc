"""Prefect flow ``payment-run``: build the SEPA credit-transfer file (pain.001) for posted invoices due soon.

Which invoices are paid, Skonto, the file itself: ``einvoice.finance.payment_run``. The flow passes
a date and an output directory, archives the new pain.001 with the invoices it pays
(``einvoice.followups.records``) and shows the result (file path, message id, count, control sum) as a
markdown artifact; the payment file never goes through Prefect.

Invoices the payment run holds back (``PaymentRun.skipped``: credit notes, a missing IBAN ...)
and follow-up records it could not archive make the run end ``Completed`` named ``Needs
attention`` with the counts in its name (``flows.attention``); the archive is opened only by the
archiving step, so paying never waits for S3.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from flows.archive_flows import archive_records_reported
from flows.attention import Attention, finish_run
from flows.common import BERLIN, app, retry_on_transient, stamp


@task(name="payment-run", retries=2, retry_delay_seconds=[10, 60], retry_condition_fn=retry_on_transient)
def make_payment_run(due_by: str, output_dir: str, execution_date: str | None) -> dict:
    from einvoice.finance import payment_run as build

    a = app()
    run = build(a.db, a.organisation, due_by=dt.date.fromisoformat(due_by), output_dir=Path(output_dir),
                execution_date=dt.date.fromisoformat(execution_date) if execution_date else None)
    from einvoice.finance.sepa import runs_awaiting_release

    return run.as_dict() | {"invoices": list(run.invoices),
                            "skipped": [{"invoice id": i, "problem": str(p)} for i, p in run.skipped],
                            "awaiting_release": runs_awaiting_release(a.db)}


def attention_of(result: dict, archived: dict | None) -> Attention:
    """Payments held back and records not archived (pure: from the run's and the archiving's results)."""
    att = Attention()
    for x in result.get("skipped") or []:
        att.add("payments-held-back", x["invoice id"], f"invoice {x['invoice id']}: {x['problem']}")
    for r in result.get("awaiting_release") or []:
        who = f"first release by {r['first_release_by']}; a second person must release it" if r["first_release_by"] \
            else "two persons of the Kasse must release it"
        att.add("payment-runs-awaiting-release", r["id"],
                f"payment run {r['id']} ({r['message_id']}, {r['count']} transfers, {r['control_sum']} EUR): {who} "
                f"(`einvoice payments release {r['id']} --by PERSON`)")
    if archived and archived["problems"]:
        att.add_count("records-not-archived", "records", sum(archived.get("pending", {}).values()) or 1,
                      "; ".join(archived["problems"][:3]))
    return att


@flow(name="payment-run", flow_run_name=lambda: f"payment run {stamp()}")
def payment_run(output_dir: str, days_ahead: int = 3, execution_date: str | None = None) -> dict:
    """Prepare the payment of what is due within ``days_ahead`` days (Berlin date). The pain.001 file
    is written to ``output_dir`` only after two persons of the Kasse released the run
    (``einvoice payments release``, § 31 (3) KomHVO NRW); until then the run needs attention."""
    base = f"payment run {stamp()}"
    due_by = (dt.datetime.now(BERLIN).date() + dt.timedelta(days=days_ahead)).isoformat()
    result = make_payment_run(due_by, output_dir, execution_date)
    held = ("\n\nNot paid (need a person):\n" + "\n".join(f"- invoice {x['invoice id']}: {x['problem']}" for x in result["skipped"])
            if result and result.get("skipped") else "")
    if not result or not result["count"]:
        attention = attention_of(result or {}, None)
        get_run_logger().info("payment run: nothing due by %s", due_by)
        create_markdown_artifact(key="payment-run", markdown=f"### Payment run {stamp()}\n\nNothing due by {due_by}." + held,
                                 description=attention.describe("nothing due"))
        return finish_run(attention, flow_name="payment-run", base_name=base, done="nothing due", result=result)
    archived = archive_records_reported()  # the pain.001 goes to the archive at once (or waits, reported, while S3 is down)
    result["archived"] = archived["payment_runs"]
    attention = attention_of(result, archived)
    create_markdown_artifact(
        key="payment-run",
        markdown=(f"### Payment run {stamp()}\n\n| | |\n|---|---|\n| due by | {due_by} |\n| file | {('`' + str(result['path']) + '`') if result['path'] else 'written after the second release (`einvoice payments release ' + str(result['run_id']) + ' --by PERSON`, two persons of the Kasse)'} |\n"
                  f"| message id | `{result['message_id']}` |\n| transfers | {result['count']} |\n"
                  f"| control sum | {result['control_sum']} EUR |\n| Skonto taken | {result['skonto_taken']} EUR |\n\n"
                  f"Invoices: {', '.join(str(i) for i in result['invoices'])}" + held),
        description=attention.describe(f"{result['count']} transfers, {result['control_sum']} EUR"),
    )
    get_run_logger().info("payment run: %s transfers, %s EUR in %s", result["count"], result["control_sum"], result["path"])
    return finish_run(attention, flow_name="payment-run", base_name=base,
                      done=f"{result['count']} transfers, {result['control_sum']} EUR", result=result)
