"""Generates the Python code of protos/shuniu/v1/*.proto into protos/v1/.

`python tools/gen_protos.py` writes the code; `--check` fails (exit 1) when the committed
code differs from what the .proto files generate, so CI catches stale code.
The generated modules import each other as `shuniu.v1`; they are rewritten to
`shuniu.protos.v1`, the package the folder is installed as.
"""

from __future__ import annotations

import pathlib
import sys
import tempfile

from grpc_tools import protoc
import grpc_tools

_ROOT = pathlib.Path(__file__).resolve().parent.parent
_PROTO_ROOT = _ROOT / "protos"
_OUT = _PROTO_ROOT / "v1"
_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def _generate(out_dir: pathlib.Path) -> dict[str, str]:
    protos = sorted(str(p.relative_to(_PROTO_ROOT)) for p in (_PROTO_ROOT / "shuniu" / "v1").glob("*.proto"))
    include = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{_PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    files = {}
    for path in sorted((out_dir / "shuniu" / "v1").iterdir()):
        if path.name.endswith(_SUFFIXES):
            text = path.read_text()
            text = text.replace("from shuniu.v1 import", "from shuniu.protos.v1 import")
            files[path.name] = text
    return files


def main(argv: list[str]) -> int:
    check = "--check" in argv
    with tempfile.TemporaryDirectory() as tmp:
        fresh = _generate(pathlib.Path(tmp))
    current = {p.name: p.read_text() for p in _OUT.iterdir() if p.name.endswith(_SUFFIXES)}
    if check:
        stale = sorted(n for n in fresh.keys() | current.keys() if fresh.get(n) != current.get(n))
        if stale:
            print("generated protobuf code is stale; run `python tools/gen_protos.py`:", ", ".join(stale))
            return 1
        print(f"generated protobuf code is fresh ({len(fresh)} files)")
        return 0
    for name in current.keys() - fresh.keys():
        (_OUT / name).unlink()
    for name, text in fresh.items():
        (_OUT / name).write_text(text)
    print(f"wrote {len(fresh)} files to {_OUT.relative_to(_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
