"""Every archive entry the system writes after intake, linked to the invoice's entry: the
approval trail and payment files (``records``). Posting records are written by ``einvoice.finance``;
the retention clock every entry runs on is ``einvoice.retention`` (intake uses it first, so it sits
below the pipeline).
"""
