"""Reading an extxyz file while another process appends to it: whole frames only.

A frame is complete when its atom-count line, its comment line and all its atom lines are
present, each ended by a newline; a torn tail (a writer killed mid-frame, or a write still
in progress) is never parsed: the reader stops before it and reads it on a later call, once
it is whole.  Frames are numbered from 0 in file order, so the index of a frame never
changes as the file grows.  :func:`cut_torn_tail` repairs a file before appending to it (a
torn last frame is cut, one that lacks only its final newline gets it), saying so on stderr.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

from ..errors import InputError

EXPECTED = "extxyz frames (an atom count line, a comment line, then one line per atom)"


class FrameFollower:
    """Complete frames appended to ``path`` since the last call of :meth:`new_frames`.

    ``what`` names the input in messages (the CLI passes ``REGIONS``).
    """

    def __init__(self, path, what: str = "REGIONS"):
        self.path, self.what = Path(path), what
        self.offset = 0      # bytes of whole frames read so far
        self.index = 0       # frames read so far (the index of the next frame)

    def _refuse(self, detail: str) -> InputError:
        return InputError(f"{self.what}: got {str(self.path)!r}, {detail} at frame {self.index} "
                          f"(byte {self.offset}); expected {EXPECTED}")

    def new_frames(self) -> list[tuple[int, object]]:
        """(index, Atoms) of every whole frame after the last one read; [] if none is whole."""
        if not self.path.exists():
            return []
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        frames, pos = [], 0
        while True:
            end = self._frame_end(data, pos)
            if end is None:
                break
            frames.append((self.index, self._parse(data[pos:end])))
            self.index += 1
            self.offset += end - pos
            pos = end
        return frames

    def _frame_end(self, data: bytes, pos: int) -> int | None:
        """Byte offset just after the frame starting at ``pos``, None if it is not whole yet."""
        first = data.find(b"\n", pos)
        if first < 0:
            if len(data) - pos > 64 or (data[pos:] and not data[pos:].strip().isdigit()):
                raise self._refuse(f"whose line {data[pos:pos + 40]!r} is not an atom count")
            return None
        head = data[pos:first].strip()
        if not head.isdigit():
            raise self._refuse(f"whose line {head[:40]!r} is not an atom count")
        end = first + 1
        for _ in range(int(head) + 1):  # comment line + atom lines
            nl = data.find(b"\n", end)
            if nl < 0:
                return None
            end = nl + 1
        return end

    def _parse(self, chunk: bytes):
        import ase.io

        try:
            return ase.io.read(io.StringIO(chunk.decode()), format="extxyz")
        except Exception as exc:  # noqa: BLE001 - any parser complaint is the file's fault
            raise self._refuse(f"unreadable ({type(exc).__name__}: {exc})") from exc


def whole_frame_bytes(path) -> int:
    """Bytes of the whole frames at the start of ``path`` (0 if it does not exist)."""
    follower = FrameFollower(path, str(path))
    while follower.new_frames():
        pass
    return follower.offset


def cut_torn_tail(path) -> int:
    """Truncate ``path`` after its last whole frame; returns the size kept.

    A last frame that lacks only its final newline (:func:`lacks_only_newline`) gets one and
    is kept.  Either repair is told in one line on stderr; nothing is cut silently.
    """
    size = whole_frame_bytes(path)
    if not os.path.exists(path) or os.path.getsize(path) <= size:
        return size
    with open(path, "rb") as fh:
        fh.seek(size)
        tail = fh.read()
    if lacks_only_newline(tail):
        with open(path, "ab") as fh:
            fh.write(b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        print(f"lammps-uq: {path}: its last frame had no final newline; added one",
              file=sys.stderr, flush=True)
        return size + len(tail) + 1
    os.truncate(path, size)
    print(f"lammps-uq: {path}: cut a torn last frame of {len(tail)} bytes (a run killed "
          "mid-write); it will be done again", file=sys.stderr, flush=True)
    return size


def lacks_only_newline(tail: bytes) -> bool:
    """Whether ``tail`` is one whole frame but for the newline that ends its last line.

    It must parse as one extxyz frame of the declared number of atoms, and its last line must
    have as many fields as the atom line before it and, where the atom lines before it share
    one length (ASE's fixed-width writer), that length too: a line torn mid-number is torn.
    """
    import ase.io

    lines = tail.split(b"\n")
    head = lines[0].strip()
    if tail.endswith(b"\n") or not head.isdigit() or int(head) < 2 or len(lines) != int(head) + 2:
        return False
    atom_lines = lines[2:]
    last, before = atom_lines[-1], atom_lines[-2]
    if len(last.split()) != len(before.split()):
        return False
    if len({len(line) for line in atom_lines[:-1]}) == 1 and len(last) != len(before):
        return False
    try:
        atoms = ase.io.read(io.StringIO(tail.decode() + "\n"), format="extxyz")
    except Exception:  # noqa: BLE001 - whatever the parser says, the tail is not a frame
        return False
    return len(atoms) == int(head)
