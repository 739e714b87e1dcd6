"""Imported by the server process that the layout processes of the PDFs start from
(`paper_layout._layout_context`): a small document laid out there first, so that every process forked
from it starts with WeasyPrint's own stylesheets read and the fonts found, instead of spending 0.1 s of
processor time on that for each part (docs/BENCHMARKS.md, "Documents")."""

from . import paper_layout

paper_layout.warm_up()
