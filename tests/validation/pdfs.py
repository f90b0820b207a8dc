"""Build small hybrid PDFs for tests (our own fixtures embedded; no corpus files)."""
from __future__ import annotations

import io

from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, NameObject

XMP = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:fx="urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#">
   <fx:DocumentType>INVOICE</fx:DocumentType>
   <fx:DocumentFileName>{name}</fx:DocumentFileName>
   <fx:Version>1.0</fx:Version>
   <fx:ConformanceLevel>{level}</fx:ConformanceLevel>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


def hybrid_pdf(xml: bytes | None, name: str = "factur-x.xml", level: str | None = "EN 16931", compress: bool = False) -> bytes:
    w = PdfWriter()
    w.add_blank_page(595, 842)
    if xml is not None:
        w.add_attachment(name, xml)
    if level is not None:
        meta = DecodedStreamObject()
        meta.set_data(XMP.format(name=name, level=level).encode("utf-8"))
        meta[NameObject("/Type")] = NameObject("/Metadata")
        meta[NameObject("/Subtype")] = NameObject("/XML")
        w._root_object[NameObject("/Metadata")] = w._add_object(meta)
    if compress:
        for i, obj in enumerate(w._objects):
            if isinstance(obj, DecodedStreamObject) and len(obj.get_data()) > 1000:
                w._objects[i] = obj.flate_encode(level=9)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()
