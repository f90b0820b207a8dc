"""`make demo`: a complete local run with no network and no set-up.

Starts a throw-away SeaweedFS (S3 with Object Lock) on free loopback ports, uses SQLite and
Prefect's ephemeral API, generates the project's sample invoices, runs the ``process-inbox`` flow
over them twice (the second run shows idempotency), lets a supplier e-mail one invoice through a
loopback SMTP server into the mailbox that ``process-mailbox`` reads (``flows.demo_mail``: Dovecot
when installed, else a local Maildir read through the same intake path), sends the supplier notices
through that SMTP server (``send-notices``), prints a summary and stops what it started.
"""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

from einvoice.settings import REPO_EXAMPLE_ORG
from flows.demo_mail import INTAKE_ADDRESS, DemoMail, describe_notice

#: the sample that arrives by e-mail instead of through the inbox directory (a hybrid PDF, as
#: suppliers typically mail them)
MAILED_SAMPLE = "04-facturx-en16931.pdf"


def _demo_organisation(base: Path, webhook_url: str, mail: DemoMail) -> Path:
    """The example town's organisation file, posting to the demo's loopback finance system and
    sending notices through (and, with Dovecot, reading its mailbox from) the demo's mail servers."""
    data = yaml.safe_load(REPO_EXAMPLE_ORG.read_text(encoding="utf-8"))
    data["finance"]["connector"] = "webhook"
    data["finance"]["webhook"]["url"] = webhook_url
    data["notices"]["smtp"] = {**data["notices"]["smtp"], "host": "127.0.0.1", "port": mail.smtp_port,
                               "security": "none", "username": None}  # loopback only
    if mail.mail_settings() is not None:
        data["mail"] = {**data["mail"], **mail.mail_settings()}
    path = base / "organisation.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _say(result, who: str, what: str) -> None:
    if result.ok:
        print(f"  {who:10} {what}: done, invoice now {result.invoice_state}" + (f", next step {result.next_step}" if result.next_step else ""))
    else:
        print(f"  {who:10} {what}: REFUSED [{result.refusal.rule}] {result.refusal.message}")


def approval_and_payment(app, outcomes, base: Path) -> None:
    """Walk two sample invoices through the approval chain, post one and pay it."""
    from einvoice.finance import outbox_for_app, payment_run

    ids = {o.name: o.invoice_id for o in outcomes}
    svc = app.approval

    print("\napproval (sachlich → rechnerisch → Anordnung → Freigabe), enforced by the domain layer:")
    inv = ids["03-xrechnung-cii-invoice.xml"]
    task = svc.open_task_of(inv)
    print(f" invoice {task.invoice_number} ({task.seller_name}, {task.amount_due} {task.currency}) in department {task.department}:")
    _say(svc.approve(task.task_id, "f.becker", comment="Lieferung vollständig"), "f.becker", "sachlich richtig")
    task = svc.open_task_of(inv)
    _say(svc.approve(task.task_id, "f.becker", amount=task.amount_due), "f.becker", "rechnerisch richtig")

    inv = ids["01-xrechnung-ubl-invoice.xml"]
    task = svc.open_task_of(inv)
    print(f" invoice {task.invoice_number} ({task.seller_name}, {task.amount_due} {task.currency}) in department {task.department}, "
          f"Skonto {task.skonto_percent} % until {task.skonto_until}:")
    _say(svc.approve(task.task_id, "a.schulz"), "a.schulz", "sachlich richtig")
    task = svc.open_task_of(inv)
    _say(svc.approve(task.task_id, "b.keller", amount=task.amount_due), "b.keller", f"rechnerisch richtig mit {task.amount_due} EUR")
    task = svc.open_task_of(inv)
    _say(svc.approve(task.task_id, "b.keller"), "b.keller", "Anordnung")
    _say(svc.approve(task.task_id, "c.wagner"), "c.wagner", "Anordnung")
    task = svc.open_task_of(inv)
    _say(svc.approve(task.task_id, "j.krause"), "j.krause", "Freigabe (second person, § 31 KomHVO NRW)")

    print("\nposting to the finance system (webhook on loopback, HMAC-signed, exactly once):")
    report = outbox_for_app(app).deliver_pending()
    for r in report.results:
        print(f"  invoice #{r.invoice_id}: {r.outcome}" + (f", booking number {r.booking_number}" if r.booking_number else "")
              + (f" ({r.problem})" if r.problem else "") + f", idempotency key {r.idempotency_key}")
    print(f"  delivered {report.delivered}, failed {report.failed}, dead letters {report.dead_lettered}")
    again = outbox_for_app(app).deliver_pending()
    print(f"  delivering again: {again.delivered} delivered (nothing is posted twice)")

    print("\nSEPA payment run (pain.001.001.09, validated against the XSD):")
    run = payment_run(app.db, app.organisation, due_by=dt.date.today() + dt.timedelta(days=60), output_dir=base / "payments",
                      actor="j.krause")
    print(f"  {run.count} payment(s), control sum {run.control_sum} EUR, Skonto taken {run.skonto_taken} EUR, "
          f"prepared by j.krause, waiting for two releases (§ 31 (3) KomHVO NRW)")
    if run.count:
        from einvoice.finance import release_payment_run

        for who in ("c.wagner", "j.krause", "j.krause", "v.koenig"):  # c.wagner gave the Anordnung; j.krause twice
            r = release_payment_run(app.db, app.organisation, run.run_id, who, output_dir=base / "payments")
            print(f"  {who:10} release: " + (f"done, run {r.status}" + (f", file for the bank {r.path}" if r.path else "")
                                             if r.ok else f"REFUSED [{r.problem.rule}] {r.problem.message}"))

    print("\nfollow-up archive entries (approval trail of the released invoice, the pain.001 with its invoices):")
    from einvoice.followups.records import RecordArchiver

    archived = RecordArchiver(app.db, app.archive).archive_pending()
    for e in archived.entries:
        about = f"invoice #{e['invoice_id']}" if e["invoice_id"] else "payment run"
        print(f"  {e['kind']:15} {about:12} leaf {e['sequence']}, entry {e['entry_id']}")
    for p in archived.problems:
        print(f"  NOT archived: {p}")


def email_intake(app, mail: DemoMail, filename: str, data: bytes) -> None:
    """One invoice arrives by e-mail: SMTP on loopback, then the mailbox's intake path."""
    print(f"\ne-mail intake: a supplier mails {filename} to {INTAKE_ADDRESS} ...", flush=True)
    message_id = mail.send_invoice(filename, data)
    print(f"  SMTP server (aiosmtpd, 127.0.0.1:{mail.smtp_port}) accepted {message_id} and delivered it to "
          f"{mail.imap_description()}")
    if mail.dovecot is not None:
        from flows.process_mailbox import process_mailbox

        print("  running flow process-mailbox (reads the mailbox over IMAPS, as it reads the town's) ...", flush=True)
        messages = process_mailbox()
    else:
        from einvoice.intake.mail import classify

        print("  Dovecot (IMAP) is not installed here (`make mailserver`): the demo reads the message from the "
              "Maildir and hands it to the mailbox's intake path (einvoice.intake.mail.classify, then the pipeline) "
              "without IMAP; tests/intake run the IMAP part against a real Dovecot")
        messages = []
        for raw in mail.maildir_messages():
            c = classify(raw)
            files = app.intake.ingest(c.items)
            messages.append({"message_id": c.message_id, "sender": c.meta.get("from"), "kind": c.kind,
                             "folder": None, "files": [f.as_dict() for f in files]})
    for m in messages:
        print(f"  message {m['message_id']} from {m['sender']}: {m['kind']}"
              + (f", moved to folder {m['folder']}" if m["folder"] else ""))
        for f in m["files"]:
            print(f"    {f['name']} (channel {f['channel']}): {f['state']}, {f['verdict']}; archived as "
                  f"{f['archive_key']} together with the raw message (e-mail.eml)")


def supplier_notices(mail: DemoMail) -> None:
    """The notices to suppliers of rejected files and of files that are not e-invoices go out."""
    from flows.send_notices import send_notices

    print("\nsupplier notices: running flow send-notices (SMTP to the loopback server; each notice at most once) ...",
          flush=True)
    result = send_notices()
    print(f"  sent {result['sent']}, no address known {result['no_address']} (they wait for a person in the web "
          f"inbox), failing {result['failed']}")
    # Approver notifications (new task, Skonto ending, escalation) go through the same outbox and server.
    parsed = [(recipients, raw, email.message_from_bytes(raw, policy=email.policy.default))
              for recipients, raw in mail.sent_to_suppliers]
    to_suppliers = [(r, raw, m) for r, raw, m in parsed if not (m["X-Einvoice-Notice"] or "").startswith("task_")]
    for recipients, _, m in to_suppliers:
        print(f"  to {', '.join(recipients)}: {m['Subject']}")
    if to_suppliers:
        print("  what the first supplier received:")
        print("\n".join(describe_notice(to_suppliers[0][1])))
    to_staff = [m for _, _, m in parsed if (m["X-Einvoice-Notice"] or "").startswith("task_")]
    if to_staff:
        print(f"  and {len(to_staff)} e-mail(s) to approvers about their tasks, e.g. to {to_staff[0]['To']}: "
              f"{to_staff[0]['Subject']}")


def main(workdir: str | None = None, serve_port: int | None = None) -> int:
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The ephemeral API server needs longer than the default to start on a busy 2-core machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from devtools.finance_simulator import FinanceSimulator
    from devtools.seaweedfs import SeaweedFS

    base = Path(workdir or tempfile.mkdtemp(prefix="einvoice-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    inbox = base / "inbox"
    key_file = base / "archive-signing-key.pem"
    key = Ed25519PrivateKey.generate()
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (base / "archive-signing-key.pub.pem").write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    print(f"demo directory: {base}")
    print("starting SeaweedFS (S3 with Object Lock) on free loopback ports ...", flush=True)
    secret = secrets.token_hex(16)
    os.environ["EINVOICE_FINANCE_HMAC_SECRET"] = secret
    with SeaweedFS(data_dir=base / "seaweedfs") as s3server, FinanceSimulator(secret) as finance_system, \
            DemoMail(base) as mail:
        os.environ["EINVOICE_ORGANISATION"] = str(_demo_organisation(base, finance_system.url, mail))
        if mail.password is not None:
            os.environ["EINVOICE_MAIL_PASSWORD"] = mail.password
        os.environ.update(s3server.env())
        os.environ["EINVOICE_DATABASE_URL"] = f"sqlite:///{base / 'einvoice.sqlite'}"
        os.environ["EINVOICE_ARCHIVE_SIGNING_KEY"] = str(key_file)
        os.environ["PREFECT_HOME"] = str(base / "prefect")
        from archive import Archive
        from devtools.samples import write_samples
        from einvoice.app import App

        app = App.from_env()
        from devtools.web_demo import mark_demo_database

        mark_demo_database(app.db)  # a fresh database: einvoice-dev seed-web-demo may give everyone the demo password later
        Archive.init_bucket(app.s3, app.archive_bucket)
        samples = write_samples(inbox)
        (inbox / "manifest.json").unlink(missing_ok=True)  # the generator's index, not a received file
        mailed = (inbox / MAILED_SAMPLE).read_bytes()
        (inbox / MAILED_SAMPLE).unlink()  # it comes by e-mail below
        print(f"S3 endpoint {s3server.endpoint}, bucket {app.archive_bucket}; {len(samples) - 1} sample files in {inbox} "
              f"({MAILED_SAMPLE} comes by e-mail)")

        from einvoice.intake.cli import print_outcomes
        from einvoice.intake.inbox import IngestOutcome
        from flows.process_inbox import process_inbox

        print("running flow process-inbox (Prefect ephemeral API) ...", flush=True)
        outcomes = [IngestOutcome(**o) for o in process_inbox(str(inbox))]
        print_outcomes(outcomes)
        print("running it again: every file is recognised as already received (idempotent) ...", flush=True)
        again = [IngestOutcome(**o) for o in process_inbox(str(inbox))]
        repeated = sum(o.already_received for o in again)
        print(f"second run: {repeated} of {len(again)} files already received, nothing stored twice")
        email_intake(app, mail, MAILED_SAMPLE, mailed)
        approval_and_payment(app, outcomes, base)
        supplier_notices(mail)

        from devtools.web_demo import DEMO_PASSWORD, seed_demo_accounts

        seed_demo_accounts(app.db, app.organisation)
        if serve_port is None:
            print("\nweb inbox: `make demo-web` runs this demo and then serves http://127.0.0.1:8000/ until Ctrl-C;")
        else:
            print(f"\nweb inbox: http://127.0.0.1:{serve_port}/ (Ctrl-C stops it and the demo's services);")
        print(f"  sign in with password {DEMO_PASSWORD!r} as a.schulz / b.keller / c.wagner (Tiefbauamt), f.becker (Hauptamt,")
        print("  Jugendamt), h.wolf (central desk), j.krause (Stadtkasse: Freigabe, treasury view), k.lange (auditor, read only)")

        print("\nverifying the archive as an auditor would (every hash, the chain, the tree, signatures, locks) ...", flush=True)
        from archive.store import S3Store
        from archive.verify import verify

        report = verify(S3Store(app.s3, app.archive_bucket), key.public_key(), check_lock=True)
        print(report.to_text())
        if not report.ok:
            return 1
        if serve_port is not None:
            import uvicorn

            from einvoice.web.app import create_app
            from einvoice.web.auth import AuthConfig

            # Plain HTTP on loopback, said explicitly: the default (Secure cookies, HSTS) is for HTTPS.
            # access_log=False: the app logs requests itself, without query strings (no invoice content).
            uvicorn.run(create_app(app, auth_config=AuthConfig(cookie_secure=False)), host="127.0.0.1", port=serve_port,
                        access_log=False)
        app.db.dispose()
    print("SeaweedFS stopped.")
    if workdir is None and os.environ.get("EINVOICE_DEMO_KEEP") != "1":
        shutil.rmtree(base, ignore_errors=True)
        print(f"removed {base}; keep the demo's files with: .venv/bin/python -m flows.demo DIR")
    return 0


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workdir", nargs="?", help="keep the demo's data here (default: a temporary directory, removed)")
    parser.add_argument("--serve", type=int, metavar="PORT", help="afterwards serve the web inbox on this port until Ctrl-C")
    args = parser.parse_args()
    sys.exit(main(args.workdir, args.serve))
