"""A project's pipeline as a graph: the built-in steps with the project's own inserted or
swapped in, each input tied to the step that writes it, drawable as text or Mermaid.

Order decides only which writer an input reads (the nearest one before the reader); the edges
are the data each step reads, so steps that read nothing from each other are independent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evergreen.errors import InvalidInput
from evergreen.pipeline.steps import Step


@dataclass(frozen=True)
class Edge:
    source: str  # the step that writes the artifact
    target: str  # the step that reads it
    artifact: str


@dataclass(frozen=True)
class Graph:
    steps: tuple[Step, ...]
    edges: tuple[Edge, ...]

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.steps]

    def upstream(self, name: str) -> set[str]:
        """Every step ``name`` depends on, directly or not."""
        found: set[str] = set()
        todo = [name]
        while todo:
            current = todo.pop()
            for edge in self.edges:
                if edge.target == current and edge.source not in found:
                    found.add(edge.source)
                    todo.append(edge.source)
        return found

    def to_text(self) -> str:
        lines = []
        for s in self.steps:
            reads = [f"{e.artifact} ← {e.source}" for e in self.edges if e.target == s.name]
            origin = "built-in" if s.builtin else "project"
            cache = "" if s.cache else ", not cached"
            lines.append(f"{s.name} ({origin}{cache})")
            lines.append(f"  reads:  {', '.join(reads) or '-'}")
            lines.append(f"  writes: {', '.join(s.outputs)}")
        return "\n".join(lines)

    def to_mermaid(self) -> str:
        lines = ["flowchart TD"]
        for s in self.steps:
            shape = f"{s.name}[{s.name}]" if s.builtin else f"{s.name}[[{s.name}]]"
            lines.append(f"    {shape}")
        pairs: dict[tuple[str, str], list[str]] = {}
        for edge in self.edges:
            pairs.setdefault((edge.source, edge.target), []).append(edge.artifact)
        for (source, target), artifacts in pairs.items():
            lines.append(f"    {source} -->|{', '.join(artifacts)}| {target}")
        return "\n".join(lines)


def assemble(builtins: Sequence[Step], extra: Sequence[Step]) -> Graph:
    """The pipeline: ``builtins`` in order, each of ``extra`` replacing the built-in of its name
    or placed after the step its ``after`` names (in the order given)."""
    order = list(builtins)
    builtin_names = {s.name for s in builtins}
    for custom in extra:
        names = [s.name for s in order]
        if custom.name in builtin_names:
            if custom.after is not None:
                raise InvalidInput(
                    f"step {custom.name!r} replaces the built-in step of that name and takes "
                    "its place; drop after= (or give the step another name to add it)"
                )
            index = names.index(custom.name)
            missing = sorted(set(order[index].outputs) - set(custom.outputs))
            if missing:
                raise InvalidInput(
                    f"step {custom.name!r} replaces the built-in one, so it must also write "
                    f"{missing} (outputs=...)"
                )
            order[index] = custom
            continue
        if custom.name in names:
            raise InvalidInput(f"two steps are named {custom.name!r}; step names must differ")
        if custom.after is None:
            raise InvalidInput(
                f"step {custom.name!r}: say where it goes, e.g. after='prepare' "
                f"(steps: {', '.join(names)})"
            )
        if custom.after not in names:
            raise InvalidInput(
                f"step {custom.name!r} goes after {custom.after!r}, which is not a step "
                f"(steps: {', '.join(names)})"
            )
        index = names.index(custom.after) + 1
        while index < len(order) and order[index].after == custom.after:
            index += 1  # several steps after the same one keep the project's order
        order.insert(index, custom)
    edges: list[Edge] = []
    for position, current in enumerate(order):
        for artifact in current.inputs:
            writer = next((s for s in reversed(order[:position]) if artifact in s.outputs), None)
            if writer is None:
                written = sorted({o for s in order[:position] for o in s.outputs})
                raise InvalidInput(
                    f"step {current.name!r} reads {artifact!r}, which no step before it "
                    f"writes (available: {', '.join(written) or 'nothing'})"
                )
            edges.append(Edge(writer.name, current.name, artifact))
    return Graph(tuple(order), tuple(edges))
