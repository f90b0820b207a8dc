"""Every archive entry the system writes after intake, linked to the invoice's entry: the
approval trail and payment files (``records``), and the retention clock every entry runs on
(``retention``). Posting records are written by ``einvoice.finance``.
"""
