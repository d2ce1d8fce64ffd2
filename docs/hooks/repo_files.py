"""MkDocs hook: the pages link to files of the repository outside docs/ as they do on GitHub.

A page under docs/ may link to `../examples/active_learning/results/score.png` or
`../benchmarks/README.md`; read on GitHub the link works as written.  MkDocs only knows the files
under docs/, so this hook copies every such target into the site under `repo/` (a Markdown file
becomes a page there, its own links followed the same way) and points the link at the copy.  A
target that does not exist is left alone: MkDocs reports the broken link, and
`mkdocs build --strict` fails on it.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File, Files, InclusionLevel

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "repo/"
# the target of a relative Markdown link or image: ](path) or ](path#anchor), no URL scheme
LINK = re.compile(r"(\]\()([^)\s#:]+)")


def _docs(config) -> str:
    return Path(config["docs_dir"]).resolve().relative_to(ROOT).as_posix()


def _repo_dir(page_uri: str, docs: str) -> str:
    """The folder, from the repository root, of the file a page was made from."""
    if page_uri.startswith(PREFIX):
        return posixpath.dirname(page_uri[len(PREFIX):])
    return posixpath.join(docs, posixpath.dirname(page_uri))


def _outside_docs(page_uri: str, target: str, docs: str) -> str | None:
    """The target's path from the repository root, if it is a repository file outside docs/."""
    path = posixpath.normpath(posixpath.join(_repo_dir(page_uri, docs), target))
    if path.startswith("../") or path.startswith(docs + "/") or not (ROOT / path).is_file():
        return None
    return path


def on_files(files: Files, config) -> Files:
    docs = _docs(config)
    pending = [(f.src_uri, Path(f.abs_src_path).read_text(encoding="utf-8"))
               for f in files.documentation_pages()]
    while pending:
        page_uri, text = pending.pop()
        for match in LINK.finditer(text):
            path = _outside_docs(page_uri, match.group(2), docs)
            if path is None or files.get_file_from_path(PREFIX + path) is not None:
                continue
            files.append(File.generated(config, PREFIX + path, abs_src_path=str(ROOT / path),
                                        inclusion=InclusionLevel.NOT_IN_NAV))
            if path.endswith(".md"):
                pending.append((PREFIX + path, (ROOT / path).read_text(encoding="utf-8")))
    return files


def on_page_markdown(markdown: str, page, config, files: Files) -> str:
    docs = _docs(config)
    page_uri = page.file.src_uri
    here = posixpath.dirname(page_uri) or "."

    def repoint(match: re.Match) -> str:
        target = match.group(2)
        path = _outside_docs(page_uri, target, docs)
        if path is not None:
            return match.group(1) + posixpath.relpath(PREFIX + path, here)
        if page_uri.startswith(PREFIX):    # a repository page linking into docs/
            inside = posixpath.normpath(posixpath.join(_repo_dir(page_uri, docs), target))
            if inside.startswith(docs + "/"):
                return match.group(1) + posixpath.relpath(inside[len(docs) + 1:], here)
        return match.group(0)

    return LINK.sub(repoint, markdown)
