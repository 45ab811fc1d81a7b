"""The runtime a sandboxed child sees: its interpreter, the modules it may import and the libraries they load.

Nothing of the host's /usr, of the interpreter's prefix or of the virtual environment is bound
into a sandbox. Instead the files a child needs are copied once into a staged tree, bound
read-only as the sandbox's `/`:

    /opt/python/bin/python3.X            the interpreter
    /opt/python/lib/python3.X/...        the stdlib modules the child program and `CUSTOM_MODULES` import
    /opt/sandbox/site/{pyarrow,numpy,…}  the packages (whole: their submodules load lazily)
    /usr/lib/<soname>                    the shared libraries all of them load (ldd); /usr/lib64 links to it
    /lib64/ld-linux-x86-64.so.2          the dynamic loader; /usr/bin/setpriv when the runner is root

Which stdlib modules: those a probe interpreter imports when it runs every built-in job kind
of the child program (`_child.py`) and imports `CUSTOM_MODULES`, read from the modules'
`__file__`. Copies, not hard links nor bind mounts of host paths: the sandbox's mount table
then names only the staged tree (a path that says nothing of the project, the environment
or a home directory), and no inode a host program opens is one the child can see.

The tree is built once per runtime (a key over the interpreter, the packages, the child
program and this module's choices) under `runtime_root()`, and reused by every runner
process after; a tree no runner has used for a day is removed when another is built.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

from shuniu.nodes.sandbox.types import SandboxUnavailableError

# Packages the child may import; each is copied whole with the shared libraries its wheel vendors.
PACKAGES = ("pyarrow", "numpy")
# Stdlib modules custom code may import besides what the child program needs itself.
CUSTOM_MODULES = (
    "base64", "binascii", "bisect", "collections", "copy", "csv", "ctypes", "dataclasses", "datetime", "decimal",
    "enum", "fractions", "functools", "hashlib", "heapq", "io", "itertools", "json", "math", "operator", "random",
    "re", "socket", "statistics", "string", "struct", "textwrap", "time", "typing", "zlib", "zoneinfo",
)  # fmt: skip
PYTHON_PREFIX = "/opt/python"
SITE_DIR = "/opt/sandbox/site"
LIBRARY_DIR = "/usr/lib"
SETPRIV = "/usr/bin/setpriv"
_SKIPPED_DIRS = {"tests", "include"}  # test suites and C headers: never imported by a job
_FORMAT = 2  # bump when the layout changes
_COMPLETE = "complete"
_UNUSED_S = 24 * 3600
_LDD_LINE = re.compile(r"^\s*(\S+)\s+=>\s+(/\S+)\s+\(0x[0-9a-f]+\)$")
_LOADER_LINE = re.compile(r"^\s*(/\S*ld-linux\S*)\s+\(0x[0-9a-f]+\)$")
_PROBE_TIMEOUT_S = 120.0
_CHILD_SOURCE = pathlib.Path(__file__).with_name("_child.py").read_text()

# Runs in a host interpreter with -I -S and only the packages on sys.path: the child program's
# built-in kinds on a small table, then CUSTOM_MODULES; writes the imported files to argv[2].
_PROBE = """
import json, sys
sys.path.append(sys.argv[1])
child = {"__name__": "sandbox_probe"}
exec(compile(sys.argv[3], "_child.py", "exec"), child)
import datetime, decimal
import numpy as np, pyarrow as pa, pyarrow.compute as pc, pyarrow.ipc
table = pa.table({"k": ["a", "b"] * 20, "v": [float(i) for i in range(40)], "y": [float(i % 2) for i in range(40)],
                  "t": pa.array([datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)] * 40, pa.timestamp("ms", "UTC")),
                  "d": pa.array([decimal.Decimal("1.25")] * 40, pa.decimal128(9, 2)), "day": [datetime.date(2026, 1, 1)] * 40})
table.to_pylist()
child["_aggregate"](pa, pc, table, {"keys": ["k"], "aggregations": [["v", "sum"], ["v", "mean"], ["v", "p50"]]})
child["_verify"](pa, pc, table, {"claims": [[["k", "==", "a"], ["v", ">=", 3.0]]]})
for model in ("linear", "logistic"):
    child["_model"](pa, pc, table, {"model": model, "features": ["v"], "target": "y", "max_iterations": 5, "l2": 0.1})
for name in sys.argv[4:]:
    __import__(name)
# Codecs are looked up by name at run time (str.encode("gbk"), getaddrinfo's "idna"): stage them all.
import encodings, pkgutil
for codec in pkgutil.iter_modules(encodings.__path__):
    try:
        __import__("encodings." + codec.name)
    except (ImportError, LookupError):
        pass  # a platform's own codec (mbcs, oem): not on this one
files = sorted({m.__file__ for m in list(sys.modules.values()) if isinstance(getattr(m, "__file__", None), str)})
with open(sys.argv[2], "w") as out:
    json.dump(files, out)
"""


def runtime_root() -> pathlib.Path:
    """Where staged runtimes live: $SHUNIU_SANDBOX_RUNTIME_DIR, else a system directory named for nothing of ours."""
    configured = os.environ.get("SHUNIU_SANDBOX_RUNTIME_DIR")
    if configured:
        return pathlib.Path(configured)
    return pathlib.Path("/var/lib/shuniu-sandbox" if os.geteuid() == 0 else f"/var/tmp/shuniu-sandbox-{os.geteuid()}")


def _package_dirs() -> list[pathlib.Path]:
    found = []
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise SandboxUnavailableError(f"package {name!r} for the sandbox is not installed")
        package_dir = pathlib.Path(list(spec.submodule_search_locations)[0]).resolve()
        found.append(package_dir)
        vendored = package_dir.parent / f"{name}.libs"  # shared libraries of manylinux wheels
        if vendored.is_dir():
            found.append(vendored)
    return found


def _interpreter() -> tuple[pathlib.Path, pathlib.Path]:
    """The host interpreter binary and its stdlib directory."""
    prefix = pathlib.Path(os.path.realpath(sys.base_prefix))
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    executable = prefix / "bin" / version
    if not os.access(executable, os.X_OK):
        raise SandboxUnavailableError(f"no interpreter at {executable}")
    return executable.resolve(), prefix / "lib" / version


def _key(executable: pathlib.Path, packages: list[pathlib.Path], setpriv: str | None) -> str:
    parts = [str(_FORMAT), _PROBE, _CHILD_SOURCE, ",".join(CUSTOM_MODULES), str(setpriv)]
    for path in (executable, *packages):
        stat = path.stat()
        parts.append(f"{path}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def staged_runtime(setpriv: str | None) -> pathlib.Path:
    """The staged tree for this interpreter and these packages, built on first use."""
    executable, stdlib = _interpreter()
    packages = _package_dirs()
    root = runtime_root()
    final = root / _key(executable, packages, setpriv)
    if (final / _COMPLETE).exists():
        os.utime(final / _COMPLETE)  # in use: kept by _prune
        return final / "tree"
    root.mkdir(parents=True, exist_ok=True, mode=0o755)
    if root.stat().st_uid != os.geteuid() or root.stat().st_mode & 0o022:
        raise SandboxUnavailableError(f"{root} must belong to this user and be writable by no one else")
    building = pathlib.Path(tempfile.mkdtemp(prefix=".building-", dir=root))
    try:
        building.chmod(0o755)
        _build(building / "tree", executable, stdlib, packages, setpriv)
        (building / _COMPLETE).touch()  # beside the tree, never inside what a child sees
        try:
            building.rename(final)
        except OSError:  # another runner finished the same tree first: use that one
            if not (final / _COMPLETE).exists():
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    _prune(root, keep=final)
    return final / "tree"


def _prune(root: pathlib.Path, keep: pathlib.Path) -> None:
    """Removes trees no runner has used for a day (a runtime that changed), and builds cut short."""
    now = time.time()
    for entry in root.iterdir():
        marker = entry / _COMPLETE
        try:
            stale = now - (marker if marker.exists() else entry).stat().st_mtime > _UNUSED_S
        except OSError:
            continue  # removed by another runner meanwhile
        if entry != keep and entry.is_dir() and stale:
            shutil.rmtree(entry, ignore_errors=True)


def _probe_modules(executable: pathlib.Path, packages: list[pathlib.Path], scratch: pathlib.Path) -> list[str]:
    site = scratch / "site"
    site.mkdir()
    for package in packages:
        (site / package.name).symlink_to(package)
    listing = scratch / "modules.json"
    argv = [str(executable), "-I", "-S", "-c", _PROBE, str(site), str(listing), _CHILD_SOURCE, *CUSTOM_MODULES]
    done = subprocess.run(argv, capture_output=True, timeout=_PROBE_TIMEOUT_S, cwd="/", env={}, check=False)
    if done.returncode != 0:
        raise SandboxUnavailableError(f"the runtime probe failed: {done.stderr.decode(errors='replace')[-500:]}")
    return json.loads(listing.read_text())


def _copy(source: pathlib.Path, target: pathlib.Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)  # keeps mtimes, so the copied bytecode caches stay valid


def _beside_source(source: pathlib.Path) -> pathlib.Path:
    """The bytecode cache the child reads: beside the source, whatever PYTHONPYCACHEPREFIX this process has
    (the child runs isolated, -I, so it never looks under a prefix; ./dev sets one for Shuniu's own processes)."""
    prefix, sys.pycache_prefix = sys.pycache_prefix, None
    try:
        return pathlib.Path(importlib.util.cache_from_source(str(source)))
    finally:
        sys.pycache_prefix = prefix


def _stdlib_files(modules: list[str], stdlib: pathlib.Path) -> list[pathlib.Path]:
    """The stdlib sources the probe imported, with their bytecode caches (a child never writes them)."""
    files = {stdlib / "os.py"}  # the landmark by which the interpreter finds its prefix
    for name in modules:
        path = pathlib.Path(name)
        if path.is_relative_to(stdlib) and "site-packages" not in path.parts:
            files.add(path)
    for path in list(files):
        if path.suffix == ".py":
            cached = _beside_source(path)
            if cached.exists():
                files.add(cached)
    return sorted(files)


def _shared_objects(paths: list[pathlib.Path]) -> list[pathlib.Path]:
    return [p for p in paths if p.is_file() and (p.suffix == ".so" or ".so." in p.name)]


def _libraries(objects: list[pathlib.Path]) -> tuple[dict[str, pathlib.Path], pathlib.Path | None]:
    """soname → host file of every library `objects` load (ldd's closure), and the dynamic loader."""
    needed: dict[str, pathlib.Path] = {}
    loader = None
    for start in range(0, len(objects), 64):
        done = subprocess.run(["ldd", *map(str, objects[start:start + 64])], capture_output=True, text=True,
                              timeout=_PROBE_TIMEOUT_S, check=False)
        for line in done.stdout.splitlines():
            if match := _LDD_LINE.match(line):
                needed.setdefault(match.group(1), pathlib.Path(match.group(2)))
            elif match := _LOADER_LINE.match(line):
                loader = pathlib.Path(match.group(1))
    return needed, loader


def _package_files(package: pathlib.Path) -> list[pathlib.Path]:
    files = []
    for directory, subdirs, names in os.walk(package):
        subdirs[:] = [d for d in subdirs if d not in _SKIPPED_DIRS]
        files += [pathlib.Path(directory, name) for name in names]
    return files


def _build(tree: pathlib.Path, executable: pathlib.Path, stdlib: pathlib.Path, packages: list[pathlib.Path],
           setpriv: str | None) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        modules = _probe_modules(executable, packages, pathlib.Path(scratch))
    lib = tree / PYTHON_PREFIX.lstrip("/") / "lib" / stdlib.name
    stdlib_files = _stdlib_files(modules, stdlib)
    for path in stdlib_files:
        _copy(path, lib / path.relative_to(stdlib))
    (lib / "lib-dynload").mkdir(parents=True, exist_ok=True)  # the landmark of its platform modules
    _copy(executable, tree / PYTHON_PREFIX.lstrip("/") / "bin" / executable.name)
    site = tree / SITE_DIR.lstrip("/")
    package_files = []
    for package in packages:
        for path in _package_files(package):
            _copy(path, site / package.name / path.relative_to(package))
            package_files.append(path)
    programs = [executable] + ([pathlib.Path(setpriv)] if setpriv else [])
    needed, loader = _libraries(programs + _shared_objects(stdlib_files + package_files))
    vendored = tuple(packages)
    for soname, path in needed.items():
        if not path.resolve().is_relative_to(vendored[0].parent):  # a package's own libraries are in its copy
            _copy(path.resolve(), tree / LIBRARY_DIR.lstrip("/") / soname)
    if loader is None:
        raise SandboxUnavailableError("ldd named no dynamic loader for the interpreter")
    _copy(loader.resolve(), tree / loader.relative_to("/"))
    if setpriv:
        _copy(pathlib.Path(setpriv).resolve(), tree / SETPRIV.lstrip("/"))
    # No ld.so.cache (it would list the host's libraries): the loader's default directories find
    # them, /usr/lib where it searches that (Debian's), /usr/lib64 where it searches that instead.
    (tree / "usr" / "lib64").symlink_to("lib")
    for mount_point in ("proc", "dev", "tmp"):
        (tree / mount_point).mkdir(exist_ok=True)


__all__ = ["CUSTOM_MODULES", "PACKAGES", "PYTHON_PREFIX", "SETPRIV", "SITE_DIR", "LIBRARY_DIR", "runtime_root",
           "staged_runtime"]
