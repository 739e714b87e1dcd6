"""Laying out a long document as PDF in parts, and joining the parts into one numbered document.

WeasyPrint keeps every box of a document in memory until its last page is laid out, and lays the pages
out one after another: a board pack of 2,000 plans took 38 s and 800 MB as one document. Laid out in
parts of a few hundred rows, each part in a process of its own (at most `processes` at a time, each
ended after its part so that what it grew to is given back), the time is shared between the
processors and no process holds more than one part. The parts are joined with pypdf, and only then is
each page numbered ("Page N of M"), since no part knows how many pages the others have. The head and
foot of every page (the protective marking, the title, the date) are each part's own, from the same
stylesheet.

Nothing here reads Django: the layout processes start from a small server process that has imported
only this module and WeasyPrint (`forkserver`), not from the web process with its threads and
database connections. That server imports the main module of the program that starts it, as
multiprocessing does: a script that makes PDFs must keep its work under `if __name__ == "__main__":`
(manage.py, gunicorn and the measuring scripts do).
"""

from __future__ import annotations

import functools
import io
import multiprocessing
import resource
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

MM = 72 / 25.4  # PDF points in a millimetre
# Widths of Helvetica's characters in thousandths of the font size, for the characters of "Page N of M"
# (the page number is printed in Helvetica, which every PDF reader has, so that nothing needs embedding).
HELVETICA_WIDTHS = {"P": 667, "a": 556, "g": 556, "e": 556, " ": 278, "o": 556, "f": 278} | dict.fromkeys(
    "0123456789", 556
)
PAGE_NUMBER_FONT = "/PaperPageNumber"


@dataclass
class Part:
    """One part laid out: its PDF, how many pages it has, and on which of them (from 0) each element with
    an id starts."""

    pdf: bytes
    pages: int
    anchors: dict[str, int] = field(default_factory=dict)
    peak_resident: int = 0  # bytes, of the process that laid it out
    cpu: float = 0.0  # seconds of processor time it took there


def lay_out(html: str, stylesheets: list[str], base_url: str) -> Part:
    """`html` laid out as PDF with `stylesheets` (CSS text). Nothing is fetched while rendering, whatever
    the markup says, so no document can make the server reach another address or read a file."""
    import weasyprint

    started = time.process_time()
    nothing = _fetch_nothing()
    document = weasyprint.HTML(string=html, base_url=base_url, url_fetcher=nothing).render(
        stylesheets=[weasyprint.CSS(string=css, url_fetcher=nothing) for css in stylesheets]
    )
    anchors: dict[str, int] = {}
    for number, page in enumerate(document.pages):
        for name in page.anchors:
            anchors.setdefault(name, number)
    pdf = document.write_pdf()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
    return Part(pdf=pdf, pages=len(document.pages), anchors=anchors, peak_resident=peak,
                cpu=time.process_time() - started)  # fmt: skip


@functools.cache
def _fetch_nothing() -> Any:
    """A fetcher that allows no protocol at all (made once a process: making one sets up TLS)."""
    import weasyprint

    return weasyprint.urls.URLFetcher(allowed_protocols=())


_context: multiprocessing.context.BaseContext | None = None


def _layout_context() -> multiprocessing.context.BaseContext:
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(["tracker.paper_layout", "weasyprint"])
    return _context


def lay_out_parts(htmls: Iterable[str], *, stylesheets: list[str], base_url: str, processes: int) -> list[Part]:
    """Each of `htmls` laid out, in order. With more than one process, the parts are laid out side by side,
    each in a fresh process; `htmls` may be a generator, so a part is being laid out while the next is
    still being written."""
    if processes <= 1:
        return [lay_out(html, stylesheets, base_url) for html in htmls]
    with ProcessPoolExecutor(max_workers=processes, mp_context=_layout_context(), max_tasks_per_child=1) as pool:
        futures = [pool.submit(lay_out, html, stylesheets, base_url) for html in htmls]
        return [future.result() for future in futures]


def text_width(text: str, size: float) -> float:
    return sum(HELVETICA_WIDTHS.get(c, 556) for c in text) * size / 1000


def join(parts: list[Part], *, metadata: dict[str, str], right_mm: float, bottom_mm: float, size: float = 8) -> bytes:
    """The parts as one PDF, each page numbered "Page N of M" at the foot on the right (its right edge
    `right_mm` from the paper's, in the middle of a bottom margin of `bottom_mm`), with `metadata`."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import ArrayObject, DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    for part in parts:
        writer.append(PdfReader(io.BytesIO(part.pdf)))
    writer.add_metadata(metadata)
    total = len(writer.pages)
    font = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
                NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
            }
        )
    )

    def stream(data: str) -> object:
        content = DecodedStreamObject()
        content.set_data(data.encode("ascii"))
        return writer._add_object(content)

    # The page's own drawing is wrapped in q ... Q so that whatever it leaves set (a flipped axis, a
    # colour) does not move or colour the number.
    save, restore = stream("q\n"), stream("\nQ\n")
    for number, page in enumerate(writer.pages, start=1):
        text = f"Page {number} of {total}"
        box = page.mediabox
        x = float(box.right) - right_mm * MM - text_width(text, size)
        y = float(box.bottom) + bottom_mm * MM / 2 - size * 0.35
        resources = page.setdefault(NameObject("/Resources"), DictionaryObject()).get_object()
        fonts = resources.setdefault(NameObject("/Font"), DictionaryObject()).get_object()
        fonts[NameObject(PAGE_NUMBER_FONT)] = font
        contents = page.get("/Contents")
        if contents is None:
            existing = []
        elif isinstance(contents.get_object(), ArrayObject):
            existing = list(contents.get_object())
        else:
            existing = [contents]
        draw = stream(f"BT {PAGE_NUMBER_FONT} {size} Tf 0.043 0.047 0.047 rg {x:.2f} {y:.2f} Td ({text}) Tj ET\n")
        page[NameObject("/Contents")] = ArrayObject([save, *existing, restore, draw])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
