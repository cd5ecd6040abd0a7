"""Exports a figs run's network (model.py + arch.safetensors) to ONNX and checks the file.

Usage: python export_onnx.py RUN_DIR [--out FILE] [--opset N] [--dynamo] [--no-check]

Writes RUN_DIR/model.onnx (or FILE): input `input` (N x C x H x W, float32), outputs
`logits` and, for a graph with several outputs, the further ones under their node names;
the batch dimension N is dynamic. Then, unless --no-check, runs the eager module, the same
module compiled by torch.jit.script, and the ONNX file in onnxruntime on random batches of
1 and 3 and requires every output to agree with the eager one to a relative max difference
(max |a - b| / max |b|) of at most 1e-4. Prints one JSON object; exits non-zero with a
message on stderr when something fails.

figs carries this file in its binary (`figs export --onnx` runs it with the torch venv's
Python), so it imports nothing of figs: torch and onnx, and onnxruntime for the check.
"""
import argparse
import importlib.util
import json
import os
import sys
import warnings

TOLERANCE = 1e-4
# HardSwish needs opset 14, and nothing figs exports needs more than 17, which most runtimes
# take (TensorRT 8.6, OpenVINO, onnxruntime >= 1.13); torch's default (20) is newer. The
# dynamo exporter writes 18 at least (its conversion down fails on these graphs).
DEFAULT_OPSET = {"torchscript": 17, "dynamo": 18}


class Failure(Exception):
    pass


def load_run(run_dir):
    model_py = os.path.join(run_dir, "model.py")
    arch = os.path.join(run_dir, "arch.json")
    for what in ["model.py", "arch.json", "arch.safetensors"]:
        if not os.path.isfile(os.path.join(run_dir, what)):
            raise Failure(f"{run_dir} has no {what}: export the network first (`figs export`)")
    spec = importlib.util.spec_from_file_location("figs_export_model", model_py)
    model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(model)
    try:
        net = model.load().eval()
    except ValueError as e:
        raise Failure(str(e)) from None
    with open(arch) as f:
        graph = json.load(f)
    i = graph["input"]
    return net, (i["channels"], i["height"], i["width"]), graph.get("outputs", [])


def hidden_modules(net):
    """Modules that `getattr` does not reach under their own name (a name part such as `train`
    is an nn.Module attribute): tracing, scripting and torch.export all look modules up that way."""
    bad = []
    for name, module in net.named_modules():
        if not name:
            continue
        obj = net
        for part in name.split("."):
            obj = getattr(obj, part, None)
        # Containers count through the modules under them (those own the weights).
        if obj is not module and (module._parameters or module._buffers):
            bad.append(name)
    return bad


def first_line(e):
    return next((line for line in str(e).splitlines() if line.strip()), "").strip()


def as_list(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def export(net, shape, names, out, opset, dynamo):
    """The TorchScript-based exporter (dynamo=False) is the default: it needs `onnx` but not
    onnxscript, takes about 1 s where the dynamo one takes 5, and it takes every name figs
    allows, where torch.export's code generation rejects a Python keyword as a name part
    (`if.dw`). It is deprecated since torch 2.9 but there in the 2.11 figs pins."""
    import torch

    x = torch.zeros(2, *shape)
    with torch.no_grad():
        n_out = len(as_list(net(x)))
    outputs = ["logits"] + [names[k] if k < len(names) else f"output{k}" for k in range(1, n_out)]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        if dynamo:
            torch.onnx.export(
                net, (x,), out, input_names=["input"], output_names=outputs, opset_version=opset, dynamo=True,
                external_data=False, dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False,
            )
        else:
            torch.onnx.export(
                net, (x,), out, input_names=["input"], output_names=outputs, opset_version=opset, dynamo=False,
                dynamic_axes={name: {0: "batch"} for name in ["input"] + outputs},
            )
    return outputs


def mark(path):
    """Sets the producer to `figs` (figs replaces a model.onnx only if it carries this mark,
    which the protobuf holds in its first bytes) and returns the opset written."""
    import onnx

    model = onnx.load(path, load_external_data=False)
    model.producer_name, model.producer_version = "figs", f"torch {__import__('torch').__version__}"
    onnx.save(model, path)
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def rel_diff(got, want):
    import torch

    got = torch.as_tensor(got)
    return ((got - want).abs().max() / want.abs().max().clamp_min(1e-12)).item()


def check(net, shape, out):
    import torch

    try:
        import onnxruntime as ort
    except ImportError:
        raise Failure("onnxruntime is not installed in this Python: run scripts/setup.sh, or pass --no-check") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(out, options, providers=["CPUExecutionProvider"])
    try:
        scripted = torch.jit.script(net)
    except Exception as e:
        raise Failure(
            f"torch.jit.script cannot compile model.py ({first_line(e)}); one written by figs before it was "
            "made scriptable needs exporting again"
        ) from None
    torch.manual_seed(0)
    d_ort, d_script = 0.0, 0.0
    for batch in (1, 3):
        x = torch.randn(batch, *shape)
        with torch.no_grad():
            want = as_list(net(x))
            by_script = as_list(scripted(x))
        by_ort = session.run(None, {"input": x.numpy()})
        if len(by_ort) != len(want) or len(by_script) != len(want):
            raise Failure(f"{len(want)} outputs in eager mode, {len(by_script)} scripted, {len(by_ort)} in onnxruntime")
        d_ort = max([d_ort] + [rel_diff(g, w) for g, w in zip(by_ort, want)])
        d_script = max([d_script] + [rel_diff(g, w) for g, w in zip(by_script, want)])
    return {"batches": [1, 3], "onnxruntime_max_rel_diff": d_ort, "script_max_rel_diff": d_script, "tolerance": TOLERANCE}


def main(argv):
    p = argparse.ArgumentParser(prog="export_onnx.py", description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", help="directory with model.py, arch.json and arch.safetensors")
    p.add_argument("--out", help="where to write the ONNX file (default: RUN_DIR/model.onnx)")
    p.add_argument("--opset", type=int, help="ONNX opset (default: 17, with --dynamo 18)")
    p.add_argument("--dynamo", action="store_true", help="use torch's torch.export-based exporter (needs onnxscript)")
    p.add_argument("--no-check", action="store_true", help="export only; skip the onnxruntime and TorchScript check")
    a = p.parse_args(argv)
    out = os.path.abspath(a.out or os.path.join(a.run_dir, "model.onnx"))
    # Written under a fresh name beside it and renamed at the end: a failed export leaves
    # what was there, and no other file is touched.
    import tempfile

    fd, part = tempfile.mkstemp(prefix=".model-", suffix=".onnx.part", dir=os.path.dirname(out))
    os.close(fd)
    exporter = "dynamo" if a.dynamo else "torchscript"
    try:
        import torch

        net, shape, names = load_run(a.run_dir)
        hidden = hidden_modules(net)
        if hidden:
            raise Failure(
                f"modules {', '.join(hidden[:5])} have a name part that an nn.Module attribute hides; "
                "the ONNX exporter cannot reach them: rename those nodes in figs"
            )
        try:
            outputs = export(net, shape, names, part, a.opset or DEFAULT_OPSET[exporter], a.dynamo)
        except Exception as e:
            raise Failure(f"torch.onnx.export failed: {type(e).__name__}: {first_line(e)}") from None
        report = {
            "onnx": out,
            "exporter": exporter,
            "opset": mark(part),
            "torch": torch.__version__,
            "input": ["batch", *shape],
            "outputs": outputs,
        }
        if not a.no_check:
            report.update(check(net, shape, part))
            worst = max(report["onnxruntime_max_rel_diff"], report["script_max_rel_diff"])
            if worst > TOLERANCE:
                print(json.dumps(report))
                raise Failure(f"the exported network differs from model.py by {worst:.3e} (relative), over {TOLERANCE}")
        os.replace(part, out)
    except Failure as e:
        print(f"export_onnx.py: {e}", file=sys.stderr)
        return 1
    finally:
        if os.path.exists(part):
            os.remove(part)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
