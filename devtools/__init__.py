"""Tooling for the demo, the tests and the benchmarks; never part of the product.

Sample invoices (``samples``), a SeaweedFS server on loopback (``seaweedfs``), scratch databases
(``scratch``) and a stand-in finance system (``finance_simulator``); ``python -m devtools`` (or
``einvoice-dev``) runs their commands. ``einvoice``, ``archive`` and ``schemas`` must never import
this package (checked by ``lint-imports``); it may import them.
"""
