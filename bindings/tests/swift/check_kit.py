#!/usr/bin/env python3
"""Checks the iOS view models (ios/Sources/GridlineKit) against the generated Swift bindings,
without a Swift compiler (none on this machine). A proxy, not a Swift build:

1. every `store.method(label: …)` call names a method of the generated `GridlineStoreProtocol`
   with exactly those argument labels, in order;
2. every call of a generated record's initializer (`NewIncident(…)`, `NewVisit(…)`, …) and of a
   generated top-level function (`severities()`, `assignmentStatusLabel(status:)`) uses labels
   the declaration has, in its order, and passes every parameter that has no default;
3. the generated module declares a record named `Task` (the supervisor's task), which shadows
   Swift's concurrency `Task` inside GridlineKit, so the view models never write `Task` alone
   (they use `offMain` or `_Concurrency.Task`).

Usage: check_kit.py <GridlineFFI.swift> <GridlineKit sources dir>
"""

import re
import sys
from pathlib import Path



def split_top(args: str) -> list[str]:
    """Splits an argument or parameter list at its top-level commas."""
    out, depth, cur, in_str = [], 0, [], False
    for ch in args:
        if ch == '"':
            in_str = not in_str
        if not in_str:
            if ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth -= 1
            elif ch == "," and depth == 0:
                out.append("".join(cur))
                cur = []
                continue
        cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur))
    return out


def balanced(text: str, start: int) -> tuple[str, int]:
    """The text inside the parentheses opening at `start`, and the index after the closing one."""
    depth, i, in_str = 0, start, False
    while i < len(text):
        ch = text[i]
        if ch == '"' and text[i - 1] != "\\":
            in_str = not in_str
        elif not in_str:
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    return text[start + 1 : i], i + 1
        i += 1
    raise ValueError("unbalanced parentheses")


def params(decl: str) -> list[tuple[str, bool]]:
    """(label, has default) of each parameter of a Swift declaration's parameter list."""
    decl = re.sub(r"/\*\*.*?\*/", "", decl, flags=re.S)
    out = []
    for p in split_top(decl):
        head = p.split(":", 1)[0].split()
        if not head:
            continue
        out.append((head[0], "=" in p.split(":", 1)[1]))
    return out


def call_labels(args: str) -> list[str | None]:
    out = []
    for a in split_top(args):
        m = re.match(r"\s*(\w+)\s*:(?!:)", a)
        out.append(m.group(1) if m else None)
    return out


def fits(labels: list[str | None], decl: list[tuple[str, bool]]) -> str | None:
    """Why a call's labels do not fit a declaration, or None when they do."""
    i = 0
    for lab in labels:
        while i < len(decl) and decl[i][0] != (lab or "_"):
            if not decl[i][1]:
                return f"misses `{decl[i][0]}:`"
            i += 1
        if i == len(decl):
            return f"has `{lab}:` where the declaration has no such parameter (or not in this order)"
        i += 1
    for label, has_default in decl[i:]:
        if not has_default:
            return f"misses `{label}:`"
    return None


def main(generated: Path, kit: Path) -> int:
    gen = generated.read_text()
    failures: list[str] = []

    proto = gen[gen.index("public protocol GridlineStoreProtocol") :]
    proto = proto[: proto.index("\n}\n")]
    methods: dict[str, list[tuple[str, bool]]] = {}
    for m in re.finditer(r"func (\w+)\(", proto):
        inner, _ = balanced(proto, m.end() - 1)
        methods[m.group(1)] = params(inner)

    inits: dict[str, list[tuple[str, bool]]] = {}
    for m in re.finditer(r"public struct (\w+)\b[^{]*\{", gen):
        body = gen[m.end() :]
        body = body[: body.index("\n}\n")]
        im = re.search(r"public init\(", body)
        if im:
            inner, _ = balanced(body, im.end() - 1)
            inits[m.group(1)] = params(inner)

    functions: dict[str, list[tuple[str, bool]]] = {}
    for m in re.finditer(r"^public func (\w+)\(", gen, re.M):
        inner, _ = balanced(gen, m.end() - 1)
        functions[m.group(1)] = params(inner)

    shadowed = "Task" in inits or re.search(r"public struct Task\b", gen) is not None
    calls = 0
    for src in sorted(kit.glob("*.swift")):
        text = src.read_text()
        code = re.sub(r"//[^\n]*", "", text)
        for m in re.finditer(r"\bstore\.(\w+)\(", code):
            calls += 1
            line = code.count("\n", 0, m.start()) + 1
            name = m.group(1)
            if name not in methods:
                failures.append(f"{src.name}:{line}: GridlineStore has no method `{name}`")
                continue
            args, _ = balanced(code, m.end() - 1)
            why = fits(call_labels(args), methods[name])
            if why:
                failures.append(f"{src.name}:{line}: store.{name}(…) {why}")
        for table, kind in ((inits, "initializer"), (functions, "function")):
            for name, decl in table.items():
                for m in re.finditer(rf"(?<![\w.]){name}\(", code):
                    if code[max(0, m.start() - 5) : m.start()].endswith("func "):
                        continue
                    calls += 1
                    line = code.count("\n", 0, m.start()) + 1
                    args, _ = balanced(code, m.end() - 1)
                    why = fits(call_labels(args), decl)
                    if why:
                        failures.append(f"{src.name}:{line}: {kind} {name}(…) {why}")
        if shadowed:
            for m in re.finditer(r"(?<![\w.])Task\b", code):
                line = code.count("\n", 0, m.start()) + 1
                failures.append(f"{src.name}:{line}: `Task` here is GridlineFFI's record; write `_Concurrency.Task` or use `offMain`")

    for f in failures:
        print(f"swift kit: {f}")
    print(
        f"swift kit: {calls} calls in {kit} checked against the generated API "
        f"({len(methods)} store methods, {len(inits)} initializers, {len(functions)} functions)"
        + (", `Task` shadowing checked" if shadowed else "")
        + ("" if not failures else f"; {len(failures)} problem(s)")
    )
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
