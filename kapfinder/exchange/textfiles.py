"""Input files read with bounds: is it UTF-8 text, the CSV header line, the CSV data lines.

A broken input is a problem to report, never an exception: every reader here answers problems
(``common.Problem``) with the file's name and line.
"""
from __future__ import annotations

import codecs
import csv
from pathlib import Path
from typing import Iterator, Sequence

from .common import Problem, unescape_cell

SNIFF_BYTES = 64 * 1024
BROKEN = "is not valid CSV:"
csv.field_size_limit(10 * 1024 * 1024)


def sniff_text(path: Path) -> str | None:
    """Why this file is not UTF-8 text, or None. Reads only the first 64 KiB."""
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    if b"\x00" in head:
        return "is not a text file (it contains NUL bytes)"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "is not UTF-8 text"
    return None


def display_name(path: Path, root: Path) -> str:
    """How a problem names a file: relative to the folder imported."""
    try:
        rel = path.relative_to(root)
        return str(rel) if str(rel) != "." else path.name
    except ValueError:
        return str(path)


def csv_header(path: Path, name: str, required: Sequence[str]) -> tuple[list[str] | None, list[Problem]]:
    """Read and check the header line (bounded: a 200 MB file without line breaks is refused at once)."""
    why = sniff_text(path)
    if why:
        return None, [Problem(name, None, why)]
    with open(path, encoding="utf-8-sig", newline="") as f:
        first = f.readline(SNIFF_BYTES)
    if not first.endswith(("\n", "\r")) and len(first) >= SNIFF_BYTES - 1:
        return None, [Problem(f"{name} line 1", None, "is not a CSV file: no header line")]
    try:
        header = next(csv.reader([first]))
    except (csv.Error, StopIteration):
        return None, [Problem(f"{name} line 1", None, "is not a CSV file: the header cannot be read")]
    header = [h.strip() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        return header, [Problem(f"{name} line 1", c, "required column is missing") for c in missing]
    return header, []


def csv_lines(path: Path, name: str) -> Iterator[tuple[int, list[str], list[str] | None, Problem | None]]:
    """(line, header, raw cells, problem) for each data row; stops at the first broken line
    (``is_broken`` tells that problem from a row's own)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        line = 1
        try:
            header = [h.strip() for h in next(reader)]
            line = reader.line_num + 1
            for cells in reader:
                start, line = line, reader.line_num + 1
                if not any(c.strip() for c in cells):
                    continue
                if len(cells) > len(header):
                    yield start, header, None, Problem(f"{name} line {start}", None,
                                                       f"has {len(cells)} cells but the header has {len(header)}")
                    continue
                yield start, header, cells, None
        except (csv.Error, UnicodeDecodeError) as exc:
            yield line, [], None, Problem(f"{name} line {line}", None, f"{BROKEN} {exc}")



def is_broken(problem: Problem) -> bool:
    """The problem ``csv_lines`` ends with: nothing after it can be read."""
    return problem.message.startswith(BROKEN)


def unescape(cell: str) -> str:
    return unescape_cell(cell) if cell[:1] == "'" else cell


def csv_rows(path: Path, name: str) -> Iterator[tuple[int, dict[str, str] | None, Problem | None]]:
    """(line, row with cells unescaped, problem) for each data row; stops at the first broken line."""
    for line, header, cells, problem in csv_lines(path, name):
        yield line, None if cells is None else {h: unescape(c) for h, c in zip(header, cells)}, problem
