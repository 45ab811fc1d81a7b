"""The program that runs inside the sandbox (standalone: stdlib and pyarrow only).

Started as `python -I -S -c <this source> <site-dir> <label>`. It imports pyarrow, writes
one ready byte, then waits on stdin for a JSON header line and an Arrow IPC stream, runs
the job and writes one Arrow IPC stream to stdout. Failures are reported by exit code
only: an exception's text may carry input values, so none of it leaves the sandbox.
"""

import json
import os
import sys

EXIT_OK = 0
EXIT_BAD_HEADER = 10
EXIT_BAD_INPUT = 11
EXIT_NO_RUN = 12
EXIT_USER_ERROR = 13
EXIT_BAD_RESULT = 14
EXIT_MEMORY = 15
EXIT_JOB_ERROR = 16

GROUP_ROWS_COLUMN = "__group_rows"
READY_BYTE = b"R"
_OPS = {"==": "equal", "!=": "not_equal", "<": "less", "<=": "less_equal", ">": "greater", ">=": "greater_equal"}


def _aggregate(pa, pc, table, args):
    keys = list(args["keys"])
    pairs = [(column, "count" if fn == "count" else fn) for column, fn in args["aggregations"]]
    grouped = table.group_by(keys).aggregate(pairs + [([], "count_all")])
    grouped = grouped.rename_columns([GROUP_ROWS_COLUMN if n == "count_all" else n for n in grouped.column_names])
    return grouped.select(keys + [f"{c}_{fn}" for c, fn in pairs] + [GROUP_ROWS_COLUMN])


def _verify(pa, pc, table, args):
    answers = []
    for claim in args["claims"]:
        mask = None
        for column, op, value in claim:
            values = table.column(column)
            test = getattr(pc, _OPS[op])(values, pa.scalar(value).cast(values.type))
            mask = test if mask is None else pc.and_(mask, test)
        answers.append(bool(pc.any(mask).as_py()) if len(table) else False)
    return pa.table({"holds": pa.array(answers, pa.bool_())})


def _custom(pa, pc, table, code):
    namespace = {"__name__": "__sandbox__", "__builtins__": __builtins__}
    try:
        exec(compile(code, "<custom>", "exec"), namespace)
    except MemoryError:
        raise
    except BaseException:
        sys.exit(EXIT_USER_ERROR)
    run = namespace.get("run")
    if not callable(run):
        sys.exit(EXIT_NO_RUN)
    try:
        result = run(table)
    except MemoryError:
        raise
    except BaseException:
        sys.exit(EXIT_USER_ERROR)
    if isinstance(result, pa.RecordBatch):
        result = pa.Table.from_batches([result])
    if not isinstance(result, pa.Table):
        sys.exit(EXIT_BAD_RESULT)
    return result


def _serve(pa, pc, ipc, out, max_header_bytes):
    stdin = sys.stdin.buffer
    line = stdin.readline(max_header_bytes)
    try:
        header = json.loads(line)
        kind = header["kind"]
    except (ValueError, KeyError, TypeError):
        sys.exit(EXIT_BAD_HEADER)
    try:
        table = ipc.open_stream(stdin).read_all()
    except pa.ArrowException:
        sys.exit(EXIT_BAD_INPUT)
    if kind == "custom":
        result = _custom(pa, pc, table, header["code"])
    else:
        try:
            result = (_aggregate if kind == "aggregate" else _verify)(pa, pc, table, header["args"])
        except MemoryError:
            raise
        except Exception as exc:  # our own code on trusted arguments: the type is safe to report
            sys.stderr.write(f"job error: {type(exc).__name__}\n")
            sys.exit(EXIT_JOB_ERROR)
    with ipc.new_stream(out, result.schema) as writer:
        writer.write_table(result)
    out.flush()


def main(argv):
    site_dir, max_header_bytes = argv[0], int(argv[2])
    sys.path.append(site_dir)
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.ipc as ipc

    # Pay the first-use costs (kernel registry, thread pool) before saying ready, so a
    # pre-started child spends its job time on the job.
    warm = pa.table({"k": [0], "v": [0.0]})
    warm.group_by(["k"]).aggregate([("v", "sum"), ([], "count_all")])
    pc.equal(warm.column("v"), 0.0)

    # Keep the real stdout for the result only; anything the job prints goes to stderr,
    # which the runner drains and never releases.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    out.write(READY_BYTE)
    out.flush()
    try:
        _serve(pa, pc, ipc, out, max_header_bytes)
    except MemoryError:
        os._exit(EXIT_MEMORY)
    except pa.ArrowMemoryError:
        os._exit(EXIT_MEMORY)
    sys.stderr.flush()
    os._exit(EXIT_OK)  # the result is flushed; interpreter teardown would only cost time


if __name__ == "__main__":
    main(sys.argv[1:])
