#!/usr/bin/env python3
"""Checks the generated Swift bindings without a Swift compiler (none on this machine).

A proxy for a Swift build, not a Swift build:
1. the generated C header (the Swift module's FFI) passes `cc -fsyntax-only`;
2. every function it declares is exported by the built library (`nm -D --defined-only`);
3. a C program that includes the header, links the library and checks the uniffi contract
   version and every API checksum the generated Swift file checks at load time, runs clean.
The Swift source itself is not compiled or type-checked here.

Usage: check_header.py <generated/swift dir> <path to libgridline_ffi.so>
"""

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DECL = re.compile(r"^\s*[A-Za-z_][\w \*]*?\b((?:uniffi|ffi)_\w+)\s*\(", re.M)
SWIFT_CHECKSUM = re.compile(r"if \((uniffi_\w+_checksum_\w+)\(\) != (\d+)\)")
SWIFT_CONTRACT = re.compile(r"let bindings_contract_version = (\d+)")
SWIFT_CONTRACT_FN = re.compile(r"let scaffolding_contract_version = (ffi_\w+_uniffi_contract_version)\(\)")


def main(swift_dir: Path, lib: Path) -> int:
    failures = []
    headers = sorted(swift_dir.glob("*.h"))
    swift_files = sorted(swift_dir.glob("*.swift"))
    if len(headers) != 1 or len(swift_files) != 1:
        print(f"swift: expected one header and one .swift file in {swift_dir}, found {headers + swift_files}")
        return 1
    header, swift = headers[0].resolve(), swift_files[0]

    # The header uses clang's nullability qualifiers (Swift imports it through clang); GCC
    # lacks them, so they are defined away there.
    compiler = shutil.which("clang") or "cc"
    nullability = [] if compiler.endswith("clang") else ["-D_Nonnull=", "-D_Nullable="]
    # Included from a one-line file, as a module map does (`#pragma once` warns in a main file).
    with tempfile.TemporaryDirectory() as tmp:
        unit = Path(tmp) / "include_header.c"
        unit.write_text(f'#include "{header}"\n')
        cc = subprocess.run(
            [compiler, "-fsyntax-only", "-Wall", "-Wextra", "-Werror", *nullability, str(unit)], capture_output=True, text=True
        )
    if cc.returncode != 0:
        failures.append(f"cc -fsyntax-only {header.name}:\n{cc.stderr}")

    declared = sorted(set(DECL.findall(re.sub(r"typedef[^;]*;", "", header.read_text()))))
    nm = subprocess.run(["nm", "-D", "--defined-only", str(lib)], capture_output=True, text=True, check=True)
    exported = {line.split()[-1] for line in nm.stdout.splitlines() if line.strip()}
    missing = [s for s in declared if s not in exported]
    if not declared:
        failures.append(f"no FFI functions found in {header.name}")
    if missing:
        failures.append(f"{len(missing)} declared but not exported: {', '.join(missing[:10])}")

    text = swift.read_text()
    checksums = SWIFT_CHECKSUM.findall(text)
    contract = SWIFT_CONTRACT.search(text)
    contract_fn = SWIFT_CONTRACT_FN.search(text)
    if not checksums or not contract or not contract_fn:
        failures.append(f"{swift.name}: load-time checks not found (uniffi template changed?)")
    else:
        c_lines = [f'#include "{header}"', "#include <stdio.h>", "int main(void) {", "    int bad = 0;"]
        c_lines.append(
            f'    if ({contract_fn.group(1)}() != {contract.group(1)}u) {{ puts("contract version differs"); bad++; }}'
        )
        for fn, value in checksums:
            c_lines.append(f'    if ({fn}() != {value}) {{ puts("checksum differs: {fn}"); bad++; }}')
        c_lines += ["    return bad;", "}"]
        with tempfile.TemporaryDirectory() as tmp:
            src, exe = Path(tmp) / "load_checks.c", Path(tmp) / "load_checks"
            src.write_text("\n".join(c_lines) + "\n")
            build = subprocess.run(
                [compiler, *nullability, "-o", str(exe), str(src), str(lib.resolve()), f"-Wl,-rpath,{lib.resolve().parent}"],
                capture_output=True,
                text=True,
            )
            if build.returncode != 0:
                failures.append(f"building the load-time check program failed:\n{build.stderr}")
            else:
                run = subprocess.run([str(exe)], capture_output=True, text=True)
                if run.returncode != 0:
                    failures.append(f"load-time checks failed:\n{run.stdout}")

    print(
        f"swift: {header.name}: {Path(compiler).name} -fsyntax-only {' '.join(nullability)} "
        f"{'ok' if cc.returncode == 0 else 'FAILED'}; "
        f"{len(declared) - len(missing)}/{len(declared)} declared FFI functions exported by {lib.name}; "
        f"contract version and {len(checksums)} API checksums of {swift.name} checked from C"
    )
    print("swift: this is a proxy for a Swift build (no Swift compiler on this machine): "
          "the Swift source itself was not compiled")
    for f in failures:
        print(f"swift: FAIL {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
