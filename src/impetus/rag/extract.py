"""Files to text: PDF (pypdf), DOCX (python-docx), Markdown, HTML, plain text and code.

Each format becomes one `Extracted`: the document's full text and its sections (a page, or the
text under a heading), each with its character offset in that text. Parsers are imported lazily.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import PurePath

CODE_SUFFIXES = {
    ".py", ".js", ".ts", ".tsx", ".jsx", ".go", ".rs", ".java", ".kt", ".c", ".h", ".cc",
    ".cpp", ".hpp", ".cs", ".rb", ".php", ".swift", ".scala", ".sh", ".bash", ".sql", ".r",
    ".lua", ".pl", ".toml", ".yaml", ".yml", ".json", ".css", ".scss", ".ini", ".cfg",
}  # fmt: skip
TEXT_SUFFIXES = {".txt", ".text", ".rst", ".log", ".csv", ".tsv", ""}
MARKDOWN_SUFFIXES = {".md", ".markdown", ".mdx"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}


class ExtractError(ValueError):
    """The file cannot be read as a document: unknown format, corrupt, encrypted, or empty."""


@dataclass
class Section:
    text: str
    start: int  # character offset in `Extracted.text`
    page: int | None = None  # 1-based, for paged formats
    heading: str | None = None


@dataclass
class Extracted:
    type: str  # pdf, docx, markdown, html, text, code
    sections: list[Section] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n\n".join(s.text for s in self.sections)


def file_type(name: str) -> str:
    suffix = PurePath(name).suffix.lower()
    if suffix == ".pdf":
        return "pdf"
    if suffix == ".docx":
        return "docx"
    if suffix in MARKDOWN_SUFFIXES:
        return "markdown"
    if suffix in HTML_SUFFIXES:
        return "html"
    if suffix in CODE_SUFFIXES:
        return "code"
    if suffix in TEXT_SUFFIXES:
        return "text"
    raise ExtractError(f"unsupported format '{suffix}'")


def extract(name: str, data: bytes) -> Extracted:
    kind = file_type(name)
    parts: list[tuple[str, int | None, str | None]] = {
        "pdf": _pdf,
        "docx": _docx,
        "markdown": lambda d: _markdown(_decode(d)),
        "html": lambda d: _html(_decode(d)),
        "code": lambda d: [(_decode(d), None, None)],
        "text": lambda d: [(_decode(d), None, None)],
    }[kind](data)
    out = Extracted(kind)
    pos = 0
    for text, page, heading in parts:
        text = text.strip()
        if not text:
            continue
        out.sections.append(Section(text, pos, page, heading))
        pos += len(text) + 2  # the "\n\n" joining sections
    if not out.sections:
        raise ExtractError("no text found in the file")
    return out


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise ExtractError("the file is binary, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _pdf(data: bytes) -> list[tuple[str, int | None, str | None]]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ExtractError("the PDF is encrypted")
        return [(p.extract_text() or "", i + 1, None) for i, p in enumerate(reader.pages)]
    except ExtractError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        if "decrypt" in str(exc).lower() or "encrypt" in str(exc).lower():
            raise ExtractError("the PDF is encrypted") from exc
        raise ExtractError(f"the PDF is corrupt or unreadable: {exc}") from exc


def _docx(data: bytes) -> list[tuple[str, int | None, str | None]]:
    import zipfile

    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ExtractError(f"the DOCX is corrupt or unreadable: {exc}") from exc
    parts: list[tuple[str, int | None, str | None]] = []
    heading: str | None = None
    lines: list[str] = []
    for para in document.paragraphs:
        style = (para.style.name if para.style is not None else "") or ""
        if style.lower().startswith(("heading", "title")) and para.text.strip():
            parts.append(("\n\n".join(lines), None, heading))
            heading, lines = para.text.strip(), [para.text.strip()]
        elif para.text.strip():
            lines.append(para.text)
    parts.append(("\n\n".join(lines), None, heading))
    return parts


_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)


def _markdown(text: str) -> list[tuple[str, int | None, str | None]]:
    parts: list[tuple[str, int | None, str | None]] = []
    last, heading = 0, None
    for m in _MD_HEADING.finditer(text):
        parts.append((text[last : m.start()], None, heading))
        last, heading = m.start(), m.group(2)
    parts.append((text[last:], None, heading))
    return parts


class _HtmlText(HTMLParser):
    BLOCK = frozenset(
        {"p", "div", "li", "tr", "br", "section", "article", "pre", "blockquote", "table"}
    )
    HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
    SKIP = frozenset({"script", "style", "head", "noscript", "template"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[tuple[str, int | None, str | None]] = []
        self.buf: list[str] = []
        self.heading: str | None = None
        self.in_heading: list[str] | None = None
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skip += 1
        elif tag in self.HEADINGS:
            self.parts.append(("".join(self.buf), None, self.heading))
            self.buf, self.in_heading = [], []
        elif tag in self.BLOCK:
            self.buf.append("\n\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in self.HEADINGS and self.in_heading is not None:
            self.heading = " ".join("".join(self.in_heading).split())
            self.buf.append(self.heading + "\n\n")
            self.in_heading = None
        elif tag in self.BLOCK:
            self.buf.append("\n\n")

    def handle_data(self, data):
        if self.skip:
            return
        if self.in_heading is not None:
            self.in_heading.append(data)
        else:
            self.buf.append(data)


def _html(text: str) -> list[tuple[str, int | None, str | None]]:
    parser = _HtmlText()
    parser.feed(text)
    parser.close()
    parser.parts.append(("".join(parser.buf), None, parser.heading))
    out = []
    for body, page, heading in parser.parts:
        lines = [" ".join(line.split()) for line in body.split("\n")]
        out.append((re.sub(r"\n{3,}", "\n\n", "\n".join(lines)), page, heading))
    return out
