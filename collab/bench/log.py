"""The JSONL result log of a grid: append-only, durable, the last record of a key wins."""
import json
import os
from pathlib import Path

from das.program_store.hashing import json_default


def latest_by_key(records):
    """``{key: record}`` with the most recent record for each key (file order)."""
    return {rec["key"]: rec for rec in records if "key" in rec}


class ResultLog:
    """Append-only JSONL file of cell records; the last record of a key wins."""

    def __init__(self, path):
        self.path = Path(path)

    def records(self):
        """All cell records, in file order; :attr:`unreadable` counts the lines left out (a line
        torn by an interruption, whose cell simply reruns, or anything not a JSON object)."""
        self.unreadable = 0
        if not self.path.exists():
            return []
        out = []
        with self.path.open("r", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    record = None
                if isinstance(record, dict):
                    out.append(record)
                else:
                    self.unreadable += 1
        return out

    def latest(self):
        """``{key: record}`` with the most recent record for each key."""
        return latest_by_key(self.records())

    def append(self, record):
        """Write one record durably (flush + fsync) so a crash loses at most this line."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, sort_keys=True, default=json_default)
        with self.path.open("a+b") as fh:
            if fh.tell() > 0:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":  # end a line torn by an interruption first
                    line = "\n" + line
            fh.write((line + "\n").encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
