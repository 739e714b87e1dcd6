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
# "Page N of M" is printed in the documents' own font, DejaVu Sans, embedded in the PDF as a subset of the
# characters it needs (every font of a PDF that is to be kept, printed or archived must be in it).
PAGE_NUMBER_FONT = "/PaperPageNumber"
PAGE_NUMBER_CHARACTERS = "Page of 0123456789"
FONT_FILES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",  # Debian's fonts-dejavu-core, which .ci/run installs
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
)


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


def warm_up() -> None:
    """A small page in the documents' fonts laid out and thrown away (see tracker/paper_warm.py). A failure
    here is left for the real layout to report."""
    try:
        lay_out(
            "<p style=\"font-family: 'DejaVu Sans'\">Page 0123456789 <b>of</b></p>",
            ["@page { @top-center { content: 'x' } }"],
            "http://localhost/",
        )
    except Exception:  # noqa: BLE001 - nothing to do about it here
        pass


_context: multiprocessing.context.BaseContext | None = None


def _layout_context() -> multiprocessing.context.BaseContext:
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(["tracker.paper_layout", "weasyprint", "tracker.paper_warm"])
    return _context


def start_server(processes: int) -> None:
    """Start the server the layout processes fork from, if it is not running yet, without waiting for it:
    called before a document's queries, it imports WeasyPrint and lays its small page out (0.7 s the first
    time in a process) while they run. With one process nothing is laid out elsewhere."""
    if processes > 1:
        _layout_context()
        from multiprocessing import forkserver

        forkserver.ensure_running()


def lay_out_parts(htmls: Iterable[str], *, stylesheets: list[str], base_url: str, processes: int) -> list[Part]:
    """Each of `htmls` laid out, in order. With more than one process, the parts are laid out side by side,
    each in a fresh process; `htmls` may be a generator, so a part is being laid out while the next is
    still being written."""
    if processes <= 1:
        return [lay_out(html, stylesheets, base_url) for html in htmls]
    with ProcessPoolExecutor(max_workers=processes, mp_context=_layout_context(), max_tasks_per_child=1) as pool:
        futures = [pool.submit(lay_out, html, stylesheets, base_url) for html in htmls]
        return [future.result() for future in futures]


@dataclass
class EmbeddedFont:
    """A subset of DejaVu Sans holding PAGE_NUMBER_CHARACTERS, as a TrueType font file, with the widths of
    its characters in thousandths of the font size and what the font descriptor of a PDF needs."""

    data: bytes
    widths: dict[str, int]
    bbox: tuple[int, int, int, int]
    ascent: int
    descent: int
    cap_height: int

    def text_width(self, text: str, size: float) -> float:
        return sum(self.widths[c] for c in text) * size / 1000


def font_file() -> str:
    """DejaVu Sans, the documents' font, where fontconfig finds it (or where Debian puts it)."""
    import shutil
    import subprocess
    from pathlib import Path

    if shutil.which("fc-match"):
        found = subprocess.run(["fc-match", "--format=%{file}", "DejaVu Sans:style=Book"], capture_output=True,
                               text=True, check=False).stdout.strip()  # fmt: skip
        if found.endswith("DejaVuSans.ttf") and Path(found).is_file():
            return found
    for path in FONT_FILES:
        if Path(path).is_file():
            return path
    raise RuntimeError("DejaVu Sans is not installed (Debian's fonts-dejavu-core): the PDFs need it.")


@functools.cache
def page_number_font() -> EmbeddedFont:
    from fontTools import subset, ttLib

    font = ttLib.TTFont(font_file())
    options = subset.Options()
    options.name_IDs = ["*"]  # keep the font's names and licence
    options.drop_tables += ["FFTM"]  # a FontForge timestamp, which fontTools cannot subset
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=PAGE_NUMBER_CHARACTERS)
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    scale = 1000 / font["head"].unitsPerEm
    cmap, metrics = font.getBestCmap(), font["hmtx"].metrics
    head, hhea = font["head"], font["hhea"]
    return EmbeddedFont(
        data=out.getvalue(),
        widths={c: round(metrics[cmap[ord(c)]][0] * scale) for c in PAGE_NUMBER_CHARACTERS},
        bbox=tuple(round(v * scale) for v in (head.xMin, head.yMin, head.xMax, head.yMax)),
        ascent=round(hhea.ascent * scale),
        descent=round(hhea.descent * scale),
        cap_height=round(getattr(font["OS/2"], "sCapHeight", 0) * scale) or round(hhea.ascent * scale),
    )


def _add_page_number_font(writer: Any) -> Any:
    """The subset of DejaVu Sans added to `writer` as a TrueType font with its file embedded (FontFile2)."""
    from pypdf.generic import (
        ArrayObject,
        DecodedStreamObject,
        DictionaryObject,
        FloatObject,
        NameObject,
        NumberObject,
    )

    embedded = page_number_font()
    file = DecodedStreamObject()
    file.set_data(embedded.data)
    file = file.flate_encode()
    file[NameObject("/Length1")] = NumberObject(len(embedded.data))
    first, last = 32, 121  # from the space to "y": every character of PAGE_NUMBER_CHARACTERS
    descriptor = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/FontDescriptor"),
            NameObject("/FontName"): NameObject("/PAPERN+DejaVuSans"),
            NameObject("/Flags"): NumberObject(32),  # non-symbolic: the characters are WinAnsiEncoding's
            NameObject("/FontBBox"): ArrayObject(NumberObject(v) for v in embedded.bbox),
            NameObject("/ItalicAngle"): NumberObject(0),
            NameObject("/Ascent"): NumberObject(embedded.ascent),
            NameObject("/Descent"): NumberObject(embedded.descent),
            NameObject("/CapHeight"): NumberObject(embedded.cap_height),
            NameObject("/StemV"): NumberObject(80),
            NameObject("/FontFile2"): writer._add_object(file),
        }
    )
    return writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/TrueType"),
                NameObject("/BaseFont"): NameObject("/PAPERN+DejaVuSans"),
                NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
                NameObject("/FirstChar"): NumberObject(first),
                NameObject("/LastChar"): NumberObject(last),
                NameObject("/Widths"): ArrayObject(
                    FloatObject(embedded.widths.get(chr(code), 0)) for code in range(first, last + 1)
                ),
                NameObject("/FontDescriptor"): writer._add_object(descriptor),
            }
        )
    )


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
    font = _add_page_number_font(writer)
    widths = page_number_font()

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
        x = float(box.right) - right_mm * MM - widths.text_width(text, size)
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
