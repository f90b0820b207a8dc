"""``released_without_outbox``: released invoices that have no outbox record are found (the
post-released flow counts them as needing a person); queued ones are not."""
from __future__ import annotations

from einvoice.finance.outbox import released_without_outbox
from tests.approval.conftest import add_invoice
from tests.finance.conftest import approve_all, released_invoice


def test_released_invoice_without_outbox_record_is_listed(db, org):
    queued = released_invoice(db, org, number="Q-2026-1")
    waiting = add_invoice(db, org, number="W-2026-1")  # still in approval: not released, not listed
    # released without the finance release hook: the invoice is never queued for posting
    lost = add_invoice(db, org, number="L-2026-1", seller_vat_id="DE213456786", seller_name="Bürobedarf Meyer KG")
    assert approve_all(db, org, lost, hooks=[]) == "released"
    with db.sessions() as s:
        assert released_without_outbox(s) == [lost]
    assert queued != lost != waiting
