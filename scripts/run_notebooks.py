"""Executes figs' notebooks headless on the `figs-rust` evcxr kernel and fails on any error.

Run by scripts/notebooks.sh with the Jupyter venv's python (scripts/setup-kernel.sh makes
it). A notebook fails when
- it is committed with outputs (they belong to the reader's run, not to git);
- a cell errors: a compile error or a failed `:dep` (evcxr reports those as errors), a
  panic (the notebooks' first cell installs a hook that exits the kernel, which nbclient
  reports as a dead kernel), or a `?` error, which evcxr only prints to stderr as the bare
  message: any stderr line that is not a `warning:` or `note:` fails the cell;
- a code cell ends in an expression with `?` (`s.status()?`): evcxr 0.22 then shows
  neither the value through its `evcxr_display` nor, measured here, the error; bind it
  (`let st = s.status()?;`) and end the cell with the variable;
- a cell whose metadata says `"figs": {"expect": "<mime>"}` produced no output of that
  type (the inline charts and tables).

Usage: run_notebooks.py [NOTEBOOK…]   (default: every notebooks/*.ipynb, in name order)
Writes the executed copies to $FIGS_NOTEBOOK_OUT (default target/notebooks/).
"""

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, DeadKernelError

ROOT = Path(__file__).resolve().parent.parent
KERNEL = "figs-rust"


def committed_outputs(nb):
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count"))]


def ends_in_try(source):
    lines = [l for l in source.splitlines() if l.strip() and not l.strip().startswith("//")]
    return bool(lines) and lines[-1].rstrip().endswith("?")


def problems(nb):
    """Cell errors that nbclient does not raise on, and missing displays."""
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        mimes = set()
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream" and o.get("name") == "stderr":
                for line in o.get("text", "").splitlines():
                    if line.strip() and not line.startswith(("warning:", "note:")):
                        out.append(f"cell {i}: stderr: {line.strip()}")
            mimes.update(o.get("data", {}).keys())
        if ends_in_try(cell.source):
            out.append(f"cell {i}: ends in `expr?`, whose value and error evcxr drops; bind it and end with the variable")
        expect = cell.get("metadata", {}).get("figs", {}).get("expect")
        if expect and expect not in mimes:
            out.append(f"cell {i}: expected a {expect} display, got {sorted(mimes) or 'no output'}")
    return out


def run(path: Path, out_dir: Path) -> bool:
    nb = nbformat.read(path, as_version=4)
    dirty = committed_outputs(nb)
    if dirty:
        print(f"FAIL {path.name}: committed with outputs in cells {dirty}; clear them (scripts/notebooks.sh --strip)")
        return False
    started = time.time()
    client = NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=int(os.environ.get("FIGS_NOTEBOOK_CELL_TIMEOUT", "2400")),
        resources={"metadata": {"path": str(path.parent)}},
    )
    ok = True
    try:
        client.execute()
    except (CellExecutionError, DeadKernelError) as e:
        text = str(e)
        print(f"FAIL {path.name}: {text[-3000:]}")
        ok = False
    found = problems(nb)
    for p in found:
        print(f"FAIL {path.name}: {p}")
    ok = ok and not found
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out_dir / path.name)
    print(f"{'ok  ' if ok else 'FAIL'} {path.name} ({time.time() - started:.0f} s; executed copy in {out_dir / path.name})")
    return ok


def strip(paths):
    for p in paths:
        nb = nbformat.read(p, as_version=4)
        for c in nb.cells:
            if c.cell_type == "code":
                c.outputs = []
                c.execution_count = None
        nbformat.write(nb, p)
        print(f"stripped {p}")


def main(argv):
    strip_only = "--strip" in argv
    args = [a for a in argv if a != "--strip"]
    paths = [Path(a).resolve() for a in args] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    if not paths:
        print("no notebooks found")
        return 1
    if strip_only:
        strip(paths)
        return 0
    out_dir = Path(os.environ.get("FIGS_NOTEBOOK_OUT", ROOT / "target" / "notebooks"))
    results = [run(p, out_dir) for p in paths]
    failed = results.count(False)
    print(f"notebooks: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
