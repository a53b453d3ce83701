"""Real files of every supported format, written by the tests themselves."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path


def pdf_bytes(pages: list[str]) -> bytes:
    """A minimal, valid PDF with one Helvetica text page per string."""
    objects: list[bytes] = []
    n = len(pages)
    page_ids = [4 + 2 * i for i in range(n)]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{p} 0 R" for p in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, text in enumerate(pages):
        lines = textwrap.wrap(text, 80)
        ops = ["BT", "/F1 11 Tf", "14 TL", "72 740 Td"]
        for line in lines:
            esc = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({esc}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {page_ids[i] + 1} 0 R "
            "/Resources << /Font << /F1 3 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def encrypted_pdf_bytes(pages: list[str], password: str = "secret") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(pdf_bytes(pages))).pages:
        writer.add_page(page)
    writer.encrypt(user_password=password, owner_password=password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_bytes(sections: list[tuple[str, list[str]]]) -> bytes:
    import docx

    document = docx.Document()
    for heading, paragraphs in sections:
        document.add_heading(heading, level=1)
        for p in paragraphs:
            document.add_paragraph(p)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


FILLER = (
    "This paragraph is background material that does not answer any particular question. "
    "It talks about general matters, schedules, and the weather in a neutral way. "
)

CORPUS = {
    "tower.pdf": pdf_bytes(
        [
            "Travel notes. " + FILLER * 3,
            "The Eiffel Tower is 330 metres tall and was completed in 1889 for the World's Fair.",
        ]
    ),
    "pancakes.docx": docx_bytes(
        [
            ("Breakfast", [FILLER]),
            ("Pancakes", ["To make pancakes, whisk flour, eggs and milk, then fry in butter."]),
        ]
    ),
    "mars.md": (
        "# Planets\n\n" + FILLER + "\n\n## Mars\n\nMars is the fourth planet from the Sun. "
        "Its red colour comes from iron oxide dust.\n\n## Moons of Mars\n\n"
        "Phobos and Deimos are the two small moons of Mars.\n"
    ).encode(),
    "birds.html": (
        "<html><head><title>Birds</title><style>p {color: red}</style></head><body>"
        "<h1>Seabirds</h1><p>" + FILLER + "</p><h2>Penguins</h2>"
        "<p>Emperor penguins breed during the Antarctic winter and the males keep the egg warm"
        " on their feet.</p></body></html>"
    ).encode(),
    "notes.txt": b"Meeting notes.\n\nThe zorblax protocol listens on port 7431 by default.\n",
    "fib.py": (
        b'def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n'
        b"    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n"
    ),
}

BAD = {
    "locked.pdf": encrypted_pdf_bytes(["secret launch codes"]),
    "broken.pdf": b"%PDF-1.4\nthis is not really a pdf\n",
    "broken.docx": b"PK\x03\x04 not a zip",
    "picture.xyz": b"\x89PNG\r\n\x1a\n....",
    "binary.txt": b"abc\x00\x01\x02 binary",
}


def write(folder: Path, files: dict[str, bytes]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, data in files.items():
        (folder / name).write_bytes(data)
        out.append(folder / name)
    return out
