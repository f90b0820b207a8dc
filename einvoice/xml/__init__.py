"""XML foundations of the pipeline: safe parsing of untrusted documents (``safe``) and the one
table of namespace URIs (``namespaces``).

Imported absolutely (``einvoice.xml``), so it never shadows the standard library's ``xml``. This
package must never import any other part of ``einvoice``.
"""
