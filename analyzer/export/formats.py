"""Frames and events out of a capture for other tools: JSON lines, CSV and Parquet, so the data
opens in pandas, DuckDB, Spark or a spreadsheet (docs/capture-format.md lists the fields).

Two tables. Frames: every recorded message with its payload, streamed with bounded memory.
Events: `wstape.load`'s typed table (what each frame means to wstape, no payloads).
"""

from __future__ import annotations

import base64
import csv
import json
from collections.abc import Iterable, Iterator
from typing import IO, TYPE_CHECKING

from wstape.recorder.capture import Message

if TYPE_CHECKING:
    import pandas

FORMATS = ("jsonl", "csv", "parquet")
FRAME_COLUMNS = ("connection", "ts", "direction", "kind", "text", "size", "data")
PARQUET_ROWS = 65_536  # a row group holds at most this many frames ...
PARQUET_BYTES = 64 * 1024 * 1024  # ... or this many payload bytes, so memory stays bounded


class ExportError(Exception):
    """The export cannot be written as asked (a missing optional dependency)."""


def frame_object(message: Message) -> dict:
    """One recorded message as the export's JSON object."""
    obj: dict = {
        "connection": message.connection,
        "ts": message.ts,
        "direction": message.direction,
        "kind": message.kind,
        "text": None,
        "size": len(message.payload),
    }
    text = _text(message)
    if text is not None:
        obj["text"] = text
        return obj
    obj["data"] = base64.b64encode(message.payload).decode("ascii")
    return obj


def _text(message: Message) -> str | None:
    if not message.is_text:
        return None
    try:
        return message.payload.decode("utf-8")
    except UnicodeDecodeError:
        return None  # not valid UTF-8: carried as data, so nothing is lost


def jsonl_lines(messages: Iterable[Message]) -> Iterator[str]:
    for message in messages:
        yield json.dumps(frame_object(message), ensure_ascii=False) + "\n"


def write_jsonl(messages: Iterable[Message], out: IO[str]) -> int:
    count = 0
    for line in jsonl_lines(messages):
        out.write(line)
        count += 1
    return count


def write_csv(messages: Iterable[Message], out: IO[str]) -> int:
    """Frames as CSV with a header row; the columns and values of the JSON lines, `data` empty
    when `text` holds the payload. `out` is opened with newline=""."""
    writer = csv.writer(out)
    writer.writerow(FRAME_COLUMNS)
    count = 0
    for message in messages:
        obj = frame_object(message)
        writer.writerow([obj["connection"], repr(obj["ts"]), obj["direction"], obj["kind"],
                         obj["text"], obj["size"], obj.get("data")])  # fmt: skip
        count += 1
    return count


def write_parquet(messages: Iterable[Message], out: IO[bytes] | str) -> int:
    """Frames as Parquet, one row group per chunk; `data` holds the payload bytes themselves
    (a binary column, not base64) when `text` does not."""
    pa, pq = _pyarrow()
    schema = frames_schema(pa)
    count = 0
    with pq.ParquetWriter(out, schema) as writer:
        for chunk in _chunks(messages):
            writer.write_batch(_frames_batch(pa, schema, chunk))
            count += len(chunk)
        if not count:
            writer.write_table(schema.empty_table())
    return count


def frames_schema(pa):
    sides = pa.dictionary(pa.int8(), pa.string())
    return pa.schema([
        ("connection", pa.string()), ("ts", pa.float64()), ("direction", sides),
        ("kind", sides), ("text", pa.string()), ("size", pa.int64()), ("data", pa.binary()),
    ])  # fmt: skip


def _chunks(messages: Iterable[Message]) -> Iterator[list[Message]]:
    chunk: list[Message] = []
    size = 0
    for message in messages:
        chunk.append(message)
        size += len(message.payload)
        if len(chunk) >= PARQUET_ROWS or size >= PARQUET_BYTES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _frames_batch(pa, schema, chunk: list[Message]):
    texts = [_text(m) for m in chunk]
    # Fixed dictionaries: every row group spells direction and kind the same way.
    direction = pa.DictionaryArray.from_arrays(
        pa.array([0 if m.from_client else 1 for m in chunk], pa.int8()), ["client", "server"]
    )
    kind = pa.DictionaryArray.from_arrays(
        pa.array([0 if m.is_text else 1 for m in chunk], pa.int8()), ["text", "binary"]
    )
    columns = [
        pa.array([m.connection for m in chunk], pa.string()),
        pa.array([m.ts for m in chunk], pa.float64()),
        direction,
        kind,
        pa.array(texts, pa.string()),
        pa.array([len(m.payload) for m in chunk], pa.int64()),
        pa.array([m.payload if t is None else None for m, t in zip(chunk, texts, strict=True)],
                 pa.binary()),
    ]  # fmt: skip
    return pa.RecordBatch.from_arrays(columns, schema=schema)


# ---------------------------------------------------------------- the events table


def write_events(frame: pandas.DataFrame, fmt: str, out: IO) -> int:
    """`wstape.load`'s table in `fmt`: Parquet keeps every dtype (read it back with
    pandas.read_parquet and it equals the table, but for the inferred categories dtype of a
    category column that has no value at all); CSV and JSON lines write missing values as empty
    cells and nulls. `out` is binary for Parquet, text (newline="") otherwise."""
    if fmt == "parquet":
        pa, pq = _pyarrow()
        pq.write_table(_typed_table(pa, frame), out)
    elif fmt == "csv":
        frame.to_csv(out, index=False)
    else:
        for row in _event_rows(frame):
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(frame)


def _typed_table(pa, frame: pandas.DataFrame):
    """The frame as an Arrow table; a category column with no values at all (no frame had a
    type, say) is stored as strings, as Arrow otherwise stores it as numbers."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    fields = []
    for field in table.schema:
        empty = pa.types.is_dictionary(field.type) and not frame[field.name].cat.categories.size
        value = pa.dictionary(field.type.index_type, pa.string()) if empty else field.type
        fields.append(pa.field(field.name, value))
    return table.cast(pa.schema(fields, metadata=table.schema.metadata))


def _event_rows(frame: pandas.DataFrame, chunk: int = 10_000) -> Iterator[dict]:
    columns = list(frame.columns)
    for start in range(0, len(frame), chunk):
        # object dtype turns numpy and pandas scalars into Python ones json can write.
        part = frame.iloc[start : start + chunk].astype(object)
        part = part.where(part.notna(), None)
        for values in part.itertuples(index=False, name=None):
            yield dict(zip(columns, values, strict=True))


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ExportError("Parquet output needs pyarrow: pip install 'wstape[parquet]'") from None
    return pa, pq
