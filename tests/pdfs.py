"""Reading back the PDFs the app makes: the fonts they use and their outline (bookmarks)."""

from __future__ import annotations

import io

import pypdf
from pypdf.generic import DictionaryObject


def fonts(pdf: bytes) -> dict[str, DictionaryObject]:
    """Every font the PDF's pages use, by its base name (with its subset tag), looked for in each page's
    resources and in those of the forms (XObjects) it draws, however deep."""
    found: dict[str, DictionaryObject] = {}
    seen: set[int] = set()

    def visit(resources: DictionaryObject | None) -> None:
        if resources is None or id(resources) in seen:
            return
        seen.add(id(resources))
        for font in (resources.get("/Font") or {}).values():
            font = font.get_object()
            found[f"{font['/BaseFont']} ({font['/Subtype']}, {font.indirect_reference})"] = font
        for xobject in (resources.get("/XObject") or {}).values():
            xobject = xobject.get_object()
            if "/Resources" in xobject:
                visit(xobject["/Resources"].get_object())
        for pattern in (resources.get("/Pattern") or {}).values():
            pattern = pattern.get_object()
            if "/Resources" in pattern:
                visit(pattern["/Resources"].get_object())

    for page in pypdf.PdfReader(io.BytesIO(pdf)).pages:
        visit(page.get("/Resources") and page["/Resources"].get_object())
    return found


def not_embedded(pdf: bytes) -> list[str]:
    """The fonts of the PDF whose file is not in it (no FontFile, FontFile2 or FontFile3 in the font's
    descriptor, or in its descendant's for a composite font)."""
    missing = []
    for name, font in fonts(pdf).items():
        if font["/Subtype"] == "/Type3":  # drawn by the PDF's own procedures: nothing to embed
            continue
        described = font["/DescendantFonts"][0].get_object() if font["/Subtype"] == "/Type0" else font
        descriptor = described.get("/FontDescriptor")
        descriptor = descriptor.get_object() if descriptor is not None else {}
        if not any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")):
            missing.append(name)
    return missing


def outline(pdf: bytes) -> list[tuple[int, str, int]]:
    """The PDF's outline in order, each entry as (depth, title, page number from 1)."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    entries: list[tuple[int, str, int]] = []

    def walk(items: list, depth: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, depth + 1)
            else:
                entries.append((depth, item.title, reader.get_destination_page_number(item) + 1))

    walk(reader.outline, 0)
    return entries
