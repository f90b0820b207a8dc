"""The steps of the auditor's offline verifier (``archive.verify``), one module per subject.

Each step is a function ``step(audit) -> None`` that reads what earlier steps left in the shared
``Audit`` (``audit.py``) and adds its findings to the one ``Report``; ``archive.verify.STEPS``
runs them in order. Like ``archive.verify`` itself, these modules import only the archive's
format modules (codecs, tree, model, signing, the read-only bucket views): never the writer, the
store's write path, the export or the CLI (the ``verifier-reads-only-the-format`` contract in
``.importlinter``). They must never write, never stop at the first problem, and never skip a
check silently.
"""
