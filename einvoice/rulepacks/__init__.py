"""Official validator configurations (KoSIT's XRechnung configuration) as installed, versioned rule packs.

- ``store``: install a release zip/directory with a SHA-256 manifest, list, validity windows,
  verify at load time;
- ``pack``: read ``scenarios.xml``, compile the pack's XSDs and stylesheets once per process;
- ``check``: the KoSIT validator's steps (parse → scenario → XSD → Schematron → report →
  acceptance) on one document;
- ``integration``: how a pack takes part in ``einvoice.validation.validate``.

This package must never import prefect, never fetch anything from the network and never use a
pack whose files differ from what was installed.
"""
