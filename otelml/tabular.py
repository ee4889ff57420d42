"""The one reader of tabular files for every command that takes data (`baseline build`, `validate`).

Formats by name: ``.parquet``/``.pq`` (a file or a dataset directory), ``.csv``/``.txt`` (comma),
``.tsv``/``.tab`` (tab), each CSV kind also gzip-, bz2-, zip- or xz-compressed (``x.csv.gz``). Any other
name needs an explicit ``delimiter``. A delimited file whose header parses as one column that contains
another likely delimiter is refused: profiling ``age;income;country`` as one feature is never what was
meant.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["TableFileError", "delimiter_for", "read_table"]

PARQUET_SUFFIXES = (".parquet", ".pq")
_DELIMITED = {".csv": ",", ".txt": ",", ".tsv": "\t", ".tab": "\t"}
_COMPRESSED = (".gz", ".bz2", ".zip", ".xz")
_LIKELY_DELIMITERS = (",", "\t", ";", "|")


class TableFileError(ValueError):
    """A data file cannot be read as a table; the message starts with the file's path."""


def delimiter_for(path: str | Path) -> str | None:
    """The delimiter a file's name implies, ``None`` for Parquet; `TableFileError` for an unknown name."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes.pop()
    last = suffixes[-1] if suffixes else ""
    if last in PARQUET_SUFFIXES:
        return None
    if last in _DELIMITED:
        return _DELIMITED[last]
    raise TableFileError(f"{path}: unknown data format {last or '(no extension)'!r}; use a .csv, .tsv or "
                         ".parquet file, or pass --delimiter")


def read_table(path: str | Path, *, delimiter: str | None = None) -> pd.DataFrame:
    """Read a CSV/TSV (by name, or any text file with ``delimiter``) or Parquet file into a DataFrame.

    Every failure is a `TableFileError` naming the file and what to do; nothing else escapes.
    """
    import pandas as pd

    p = Path(path)
    if delimiter is not None and len(delimiter) != 1 and delimiter != r"\t":
        raise TableFileError(f"{path}: --delimiter must be one character, got {delimiter!r}")
    sep = "\t" if delimiter == r"\t" else delimiter
    if sep is None:
        sep = delimiter_for(p)
    if not p.exists():
        raise TableFileError(f"{path}: data file not found")
    if p.is_dir() and sep is not None:
        raise TableFileError(f"{path}: is a directory, expected a CSV, TSV or Parquet file")
    kind = "Parquet" if sep is None else ("TSV" if sep == "\t" else "CSV")
    try:
        df = pd.read_parquet(p) if sep is None else pd.read_csv(p, sep=sep)
    except pd.errors.EmptyDataError:
        raise TableFileError(f"{path}: the file is empty (no header row)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TableFileError(f"{path}: cannot read as {kind}: {first}") from None
    except Exception as exc:  # pyarrow raises its own error types for corrupt files
        raise TableFileError(f"{path}: cannot read as {kind}: {type(exc).__name__}: {exc}") from None
    if df.shape[1] == 0:
        raise TableFileError(f"{path}: no columns found")
    if sep is not None and df.shape[1] == 1:
        _refuse_wrong_delimiter(path, str(df.columns[0]), sep)
    return df


def _refuse_wrong_delimiter(path: str | Path, header: str, sep: str) -> None:
    for other in _LIKELY_DELIMITERS:
        if other != sep and other in header:
            shown = r"\t" if other == "\t" else other
            raise TableFileError(
                f"{path}: the header {header[:80]!r} reads as one column with the "
                f"{'tab' if sep == chr(9) else repr(sep)} delimiter but contains {shown!r}; "
                f"pass --delimiter '{shown}' (or name the file .csv/.tsv to match its content)")
