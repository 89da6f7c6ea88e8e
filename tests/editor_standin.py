"""A learner's editor, as a separate process: loads a canvas into memory, then saves it on command.

Run as `python -m tests.editor_standin CANVAS`; one JSON command per line on stdin, one JSON answer
per line on stdout. It saves the way real editors do, so that tests can race it against the server:

- `truncate`: Obsidian and most Electron apps (`fs.writeFile`): open with O_TRUNC, write, close;
- `chunks`: the same, the bytes written in pieces with pauses between them (a slow disk, a big file);
- `rename`: editors that write a temporary file and rename it over the canvas.

Commands: `{"op": "load", "node": ID}` reads the canvas and adds a text node with that id to the
copy in memory (the learner's edit); `{"op": "save", "style": S, "delay": SECONDS}` waits, then
writes that copy and answers the version (the server's content hash) of what it wrote.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import time
from pathlib import Path


def load(path: Path, node_id: str) -> bytes:
    """The canvas as the editor holds it after the learner added one node."""
    document = json.loads(path.read_bytes())
    document["nodes"].append(
        {"id": node_id, "type": "text", "text": f"learner {node_id}", "x": -500, "y": 0, "width": 250, "height": 60}
    )
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def save(path: Path, data: bytes, style: str, rng: random.Random) -> None:
    """Write `data` over the canvas the way an editor of `style` does."""
    if style == "rename":
        temporary = path.with_name(f".{path.name}.editor~")
        temporary.write_bytes(data)
        os.replace(temporary, path)
        return
    with open(path, "wb") as handle:  # O_TRUNC: the file is empty from here until the first write
        if style == "truncate":
            handle.write(data)
            return
        pieces = rng.randint(2, 5)
        size = len(data) // pieces + 1
        for start in range(0, len(data), size):
            handle.write(data[start : start + size])
            handle.flush()
            time.sleep(rng.uniform(0, 0.004))


def main() -> None:
    path = Path(sys.argv[1])
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    held = b""
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "load":
            held = load(path, command["node"])
            answer: dict[str, object] = {"loaded": len(held)}
        else:
            time.sleep(command["delay"])
            save(path, held, command["style"], rng)
            answer = {"saved": hashlib.blake2b(held, digest_size=8).hexdigest()}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
