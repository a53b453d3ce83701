"""Embedding throughput and end-to-end ingestion on real documents, for `impetus bench rag`.

Embedding: the bundled all-MiniLM-L6-v2 through llama.cpp (`rag/embed.py`), ~200-token chunks
of English prose, `encode` called with 1, 16 and 64 chunks at a time. Ingestion: a multi-page
PDF (fpdf2), a DOCX (python-docx) and a Markdown file of the same report, each written to disk
and indexed through the real `Ingestor` (extract, chunk, embed, store in LanceDB), timed per file
with the embedding share split out.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

# A report's worth of plain English: sentences are shuffled into paragraphs (seeded), so the
# tokenizer, chunker and extractor see ordinary prose, not random letters.
SENTENCES = [
    "The committee reviewed the annual maintenance report before the spring meeting.",
    "Most of the repairs scheduled for the north wing were finished ahead of time.",
    "Heating costs rose by eleven percent, mainly because of the cold winter.",
    "The roof inspection found two leaks above the library and one near the gym.",
    "A contractor replaced the damaged gutters in March at a cost of 4,200 euros.",
    "Several members asked whether the budget could cover new windows next year.",
    "The treasurer explained that reserves are kept for emergencies, not upgrades.",
    "Energy use per square metre fell after the insulation work was completed.",
    "Visitors reported that the elevator in building C stopped twice in January.",
    "The lift was serviced the following week, and no faults have been seen since.",
    "Cleaning staff now follow a rota that covers the weekends as well.",
    "A survey of tenants showed that most are satisfied with the shared garden.",
    "Complaints about noise from the car park were discussed at length.",
    "The board agreed to install signs asking drivers to keep their engines off.",
    "Water pressure on the top floors remains low during the morning peak.",
    "An engineer recommended a booster pump, which would take two days to fit.",
    "The fire alarm system passed its yearly test without any remarks.",
    "New smoke detectors were fitted in the storage rooms of the basement.",
    "Bicycle storage is full, and a second shelter has been proposed.",
    "The proposal includes a covered rack for forty bicycles near the east gate.",
    "Quotes from three suppliers will be compared before the next meeting.",
    "The playground surface will be renewed once the weather allows it.",
    "Some residents would like more benches along the path to the bus stop.",
    "The caretaker keeps a log of every repair request and its outcome.",
    "On average a request was closed within six working days last year.",
    "Requests about doors and locks were the most common, followed by lighting.",
    "The chair thanked the volunteers who organised the autumn clean-up day.",
    "Minutes of each meeting are published on the notice board within a week.",
    "The accounts for the year were approved by a clear majority.",
    "The next general meeting will take place in the community hall in June.",
]


def prose(rng: np.random.Generator, sentences: int) -> str:
    picks = rng.choice(len(SENTENCES), sentences)
    return " ".join(SENTENCES[i] for i in picks)


def report_sections(n_sections: int = 24, seed: int = 5) -> list[tuple[str, list[str]]]:
    """(heading, paragraphs) of a long report: about 600 words per section."""
    rng = np.random.default_rng(seed)
    return [
        (f"{i + 1}. Section {i + 1}", [prose(rng, 8) for _ in range(6)]) for i in range(n_sections)
    ]


def write_pdf(path: Path, sections: list[tuple[str, list[str]]]) -> int:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_page()
    for heading, paragraphs in sections:
        pdf.set_font("Helvetica", "B", 14)
        pdf.multi_cell(0, 8, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=11)
        for p in paragraphs:
            pdf.multi_cell(0, 6, p, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
    pdf.output(str(path))
    return pdf.page_no()


def write_docx(path: Path, sections: list[tuple[str, list[str]]]) -> None:
    import docx

    document = docx.Document()
    for heading, paragraphs in sections:
        document.add_heading(heading, level=1)
        for p in paragraphs:
            document.add_paragraph(p)
    document.save(str(path))


def write_markdown(path: Path, sections: list[tuple[str, list[str]]]) -> None:
    parts = [f"## {h}\n\n" + "\n\n".join(ps) for h, ps in sections]
    path.write_text("# Annual report\n\n" + "\n\n".join(parts) + "\n")


class _Timed:
    """The embedder, with the time spent in `encode` added up (the rest of ingestion is
    extraction, chunking and the store)."""

    def __init__(self, embedder) -> None:
        self.embedder = embedder
        self.seconds = 0.0

    def encode(self, texts, **kw):
        t = time.perf_counter()
        try:
            return self.embedder.encode(texts, **kw)
        finally:
            self.seconds += time.perf_counter() - t

    def count_tokens(self, text: str) -> int:
        return self.embedder.count_tokens(text)


def embedding_throughput(embedder, batches=(1, 16, 64), seconds: float = 15.0) -> list[dict]:
    rng = np.random.default_rng(11)
    chunks = [prose(rng, 14) for _ in range(64)]  # ~200 tokens each, like the chunker's
    embedder.encode(chunks[:4])  # warm-up
    out = []
    for b in batches:
        done = tokens = calls = 0
        t0, cpu = time.perf_counter(), time.process_time()
        while time.perf_counter() - t0 < seconds or calls < 2:
            lo = (calls * b) % len(chunks)
            batch = (chunks * 2)[lo : lo + b]
            tokens += embedder.encode(batch).total_tokens
            done += len(batch)
            calls += 1
        secs = time.perf_counter() - t0
        cpu = time.process_time() - cpu
        out.append(
            {
                "batch": b,
                "chunks_per_s": round(done / secs, 1),
                # Chunks per second of CPU time over all threads: what the load cannot take.
                "chunks_per_cpu_s": round(done / cpu, 1),
                "tokens_per_s": round(tokens / secs),
                "tokens_per_chunk": round(tokens / done),
            }
        )
    return out


def ingest_rate(embedder) -> list[dict]:
    from impetus.rag.ingest import Ingestor, Item
    from impetus.rag.lance_store import LanceCollection

    sections = report_sections()
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = {"report.pdf": None, "report.docx": None, "report.md": None}
        pages = write_pdf(root / "report.pdf", sections)
        write_docx(root / "report.docx", sections)
        write_markdown(root / "report.md", sections)
        for name in files:
            timed = _Timed(embedder)
            coll = LanceCollection("bench", root / f"ix-{name}", embedder.dim)
            t0, cpu = time.perf_counter(), time.process_time()
            res = Ingestor(timed).ingest(coll, Item(str(root / name), name), [], {})
            secs = time.perf_counter() - t0
            cpu = time.process_time() - cpu
            if res.status != "indexed":
                raise RuntimeError(f"{name}: {res.status} {res.error}")
            row = {
                "file": name,
                "kb": round((root / name).stat().st_size / 1024),
                "chunks": res.chunks,
                "seconds": round(secs, 2),
                "chunks_per_s": round(res.chunks / secs, 1),
                "cpu_s": round(cpu, 2),
                "embed_share": round(timed.seconds / secs, 2),
            }
            if name.endswith(".pdf"):
                row["pages"] = pages
                row["pages_per_s"] = round(pages / secs, 2)
                row["pages_per_cpu_s"] = round(pages / cpu, 2)
            out.append(row)
    return out


def run() -> dict:
    from impetus.bench.rag import LoadMeter
    from impetus.config import Settings
    from impetus.engines.llama_embed import default_threads
    from impetus.rag.embed import load_default_embedder

    settings = Settings()
    threads = settings.threads or default_threads()
    embedder = load_default_embedder(settings.models_dir, n_threads=threads)
    try:
        with LoadMeter(children=False) as load:
            embedding = [{"threads": threads, **e} for e in embedding_throughput(embedder)]
            if threads > 1:
                # On a busy machine llama.cpp's threads wait for each other; one thread shows
                # how much of the default's time that is.
                with load_default_embedder(settings.models_dir, n_threads=1) as single:
                    embedding += [{"threads": 1, **e} for e in embedding_throughput(single)]
            out = {"threads": threads, "embedding": embedding, "ingest": ingest_rate(embedder)}
        out["load"] = load.result
        out["measured_at"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        return out
    finally:
        embedder.close()


def render(res: dict) -> str:
    from impetus.bench.report import table

    emb = table(
        ["threads", "chunks per encode call", "chunks/s", "tokens/s", "tokens/chunk"],
        [
            [
                e.get("threads", res["threads"]),
                e["batch"],
                e["chunks_per_s"],
                e["tokens_per_s"],
                e["tokens_per_chunk"],
            ]
            for e in res["embedding"]
        ],
    )
    ing = table(
        ["file", "size", "pages", "chunks", "time", "pages/s", "chunks/s", "embedding share"],
        [
            [
                r["file"],
                f"{r['kb']} KB",
                r.get("pages", "–"),
                r["chunks"],
                f"{r['seconds']} s",
                r.get("pages_per_s", "–"),
                r["chunks_per_s"],
                f"{r['embed_share']:.0%}",
            ]
            for r in res["ingest"]
        ],
    )
    load = res.get("load")
    when = (
        f" Measured {res['measured_at']}; other processes used {load['other_cores']} of the 2 "
        f"cores meanwhile (load average {load['loadavg_1m']})."
        if load
        else ""
    )
    return (
        "Embedding throughput, all-MiniLM-L6-v2 through llama.cpp (default: "
        f"{res['threads']} threads), ~200-token chunks of English prose.{when}\n\n{emb}\n\n"
        "End-to-end ingestion of one report (24 sections of ~600 words; the PDF written by "
        "fpdf2, the DOCX by python-docx) through the real `Ingestor` (extract, chunk, embed, "
        "write to LanceDB), default threads:\n\n"
        f"{ing}\n"
    )
