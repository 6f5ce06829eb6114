"""Bytes to text: charset decoding and main-text extraction (trafilatura), for fetched pages and
for files added to the local corpus."""
from __future__ import annotations

import codecs
import re
from pathlib import Path

import trafilatura
from trafilatura.utils import decode_file

HTML_SUFFIXES = (".html", ".htm")
# The HTML spec's prescan looks at the first 1024 bytes for a declared charset; we allow a bit more.
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
# Labels that pages use for what is in practice the superset (as the WHATWG Encoding standard maps them).
_SUPERSET = {"gb2312": "gbk", "iso8859-1": "cp1252", "ascii": "cp1252"}


def decode(body: bytes, declared: str | None = None) -> str:
    """Declared charset (header), then <meta charset>, then detection; never raises."""
    for name in (declared, _meta_charset(body)):
        codec = _codec(name) if name else None
        if codec:
            return body.decode(codec, errors="replace")
    return decode_file(body)


def _meta_charset(body: bytes) -> str | None:
    m = _META_CHARSET.search(body[:4096])
    return m.group(1).decode("ascii") if m else None


def _codec(name: str) -> str | None:
    try:
        canonical = codecs.lookup(name).name
    except LookupError:
        return None
    return _SUPERSET.get(canonical, canonical)


def html_text(html: str, url: str | None = None) -> tuple[str, str]:
    """(title, main text) of an HTML document; scripts, styles and page furniture are dropped."""
    doc = trafilatura.bare_extraction(
        html, url=url, with_metadata=True, include_comments=False, include_tables=True
    )
    text = doc.text if doc and doc.text else ""
    if not text:  # pages trafilatura judges to have no article body still have readable text
        text = trafilatura.html2txt(html)
    return (doc.title if doc and doc.title else ""), text.strip()


def file_text(path: Path, data: bytes) -> tuple[str, str]:
    """(title, text) of a corpus file: HTML through the extractor, the rest as plain text."""
    raw = decode(data)
    if path.suffix.lower() in HTML_SUFFIXES:
        title, text = html_text(raw)
        return title or path.stem, text
    return _plain_title(raw) or path.stem, raw.strip()


def _plain_title(text: str) -> str:
    # First non-empty line, without Markdown heading marks; works for .md, .rst and .txt alike.
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line and not set(line) <= set("=-~*^_`#:.'\"+"):
            return line[:200]
    return ""
