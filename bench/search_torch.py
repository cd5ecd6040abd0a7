"""PyTorch's half of bench/search_speed.sh: the main job's FiGS search (`figs search` at its
defaults with `--regularizer flops --lambda 0.5`, the defaults until 2026-12-07) written in
PyTorch, as a user who knows PyTorch would write it.

The supernet is read from the run's `supernet.json` (figs' graph format, docs/FORMATS.md) and
built from torch.nn modules, so both sides train the same network (MobileNetV2, the `small`
preset, 28x28x1, 10 classes: 73,290 parameters). The recipe is figs' defaults: Fashion-MNIST
from Debian's package, 10 % of the training images held out for validation, batches of 128
reshuffled every epoch, 800 steps; a Logistic-Sigmoid gate per channel (logits from 2.5,
tau annealed exponentially from 1.0 to 0.1) multiplied into the output of every batch norm
of the channel's group, as figs does; the FLOPs penalty
sum_k k * (A_in * R_out + A_out * R_in) (R: keep probabilities, A: channels open in the
sampled gates; depthwise k * (R_in + R_out)) scaled by lambda 0.5 over the supernet's cost;
or with `--cost latency --lambda 0.7` figs' default since 2026-12-07: the `latency` plugin's
roofline on its `cpu` entry (plugins/latency/src/roofline.rs), per conv or linear layer
max(FLOPs / peak, bytes / bandwidth), penalty sum_g (d latency / d A_g) * R_g on the active
side of each max at the sampled alive counts;
Adam (2e-3 weights, 0.05 gates). Every 200 steps: a checkpoint (weights, gate logits,
optimizer) saved to disk, and an evaluation with the gates fixed at logit > 0, batch norm
statistics re-estimated on 30 training batches, then the validation set at batch 256.

Set-ups: `--memory-format contiguous|channels-last`, `--compile` (torch.compile of the
loss — gated forward pass, cross-entropy and penalty — and of the evaluation's forward pass,
its compile time included in the wall time, as a user pays it). bench/search_speed.sh runs
it with the glibc malloc settings figs sets for itself (core/src/malloc.rs).
Prints one JSON line: wall seconds for the whole process (from the start of the
interpreter, as the shell times `figs search`), the search loop alone, and the last
evaluation.
"""
import argparse, gzip, json, os, tempfile, time

T0 = time.time()

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_fashion_mnist(root):
    x = torch.from_numpy(read_idx(os.path.join(root, "train-images-idx3-ubyte.gz")).copy())
    y = torch.from_numpy(read_idx(os.path.join(root, "train-labels-idx1-ubyte.gz")).astype(np.int64))
    x = ((x.float() / 255.0 - 0.2860) / 0.3530).unsqueeze(1)
    return x, y


ACTS = {"relu": nn.ReLU, "relu6": nn.ReLU6, "hard_swish": nn.Hardswish, "swish": nn.SiLU, "sigmoid": nn.Sigmoid}


class Supernet(nn.Module):
    """figs' graph as torch.nn modules, run node by node; `z[g]` multiplies every batch
    norm's output of channel group g."""

    def __init__(self, graph):
        super().__init__()
        self.nodes = graph["nodes"]
        self.mods = nn.ModuleDict()
        chans, group, parent = {"input": graph["input"]["channels"]}, {}, []

        def new(width, gated):
            parent.append(len(parent))
            widths.append(width)
            gated_flags.append(gated)
            return len(parent) - 1

        def find(g):
            while parent[g] != g:
                parent[g] = parent[parent[g]]
                g = parent[g]
            return g

        widths, gated_flags = [], []
        group["input"] = new(chans["input"], False)
        self.terms = []  # (node name, input group, output group, depthwise)
        for n in self.nodes:
            name, op, ins = n["name"], n["op"], n["inputs"]
            c = chans[ins[0]]
            key = name.replace(".", "_")
            if op == "conv":
                out, dw = n["out"], n.get("depthwise", False)
                self.mods[key] = nn.Conv2d(c, out, n["kernel"], n.get("stride", 1), n.get("padding", 0),
                                           groups=c if dw else 1, bias=n.get("bias", False))
                group[name] = group[ins[0]] if dw else new(out, n.get("searchable", True))
                self.terms.append((key, group[ins[0]], group[name], dw))
                chans[name] = out
            elif op == "linear":
                out = n["out"]
                self.mods[key] = nn.Linear(c, out, bias=n.get("bias", True))
                last = name == self.nodes[-1]["name"]
                group[name] = new(out, not last and n.get("searchable", True))
                self.terms.append((key, group[ins[0]], group[name], False))
                chans[name] = out
            else:
                if op == "batch_norm":
                    self.mods[key] = nn.BatchNorm2d(c)
                elif op == "act":
                    self.mods[key] = ACTS[n["act"]]()
                elif op == "dropout":
                    self.mods[key] = nn.Dropout(n.get("p", 0.0))
                elif op == "add":
                    root = find(group[ins[0]])
                    for i in ins[1:]:
                        parent[find(group[i])] = root
                elif op not in ("global_avg_pool", "flatten", "identity"):
                    raise SystemExit(f"search_torch.py: op `{op}` is not needed by the main job and not written here")
                group[name] = group[ins[0]]
                chans[name] = c
        # Dense group ids after the residual unions; gated groups get logits.
        roots = sorted({find(g) for g in range(len(parent))})
        dense = {r: i for i, r in enumerate(roots)}
        self.group = {k: dense[find(v)] for k, v in group.items()}
        self.widths = [widths[r] for r in roots]
        self.gated = [any(gated_flags[g] for g in range(len(parent)) if find(g) == r) for r in roots]
        self.terms = [(k, dense[find(i)], dense[find(o)], dw) for k, i, o, dw in self.terms]
        self.bn_group = {n["name"]: self.group[n["name"]] for n in self.nodes if n["op"] == "batch_norm"}
        self.flops_k = {}

    def forward(self, x, z):
        v = {"input": x}
        for n in self.nodes:
            name, op, ins = n["name"], n["op"], n["inputs"]
            a = v[ins[0]]
            if op in ("conv", "linear", "act", "dropout"):
                y = self.mods[name.replace(".", "_")](a)
            elif op == "batch_norm":
                y = self.mods[name.replace(".", "_")](a)
                g = z[self.bn_group[name]]
                if g is not None:
                    y = y * g.view(1, -1, 1, 1)
            elif op == "add":
                y = a
                for i in ins[1:]:
                    y = y + v[i]
            elif op == "global_avg_pool":
                y = a.mean((2, 3), keepdim=True)
            elif op == "flatten":
                y = a.flatten(1)
            else:
                y = a
            v[name] = y
        return v[self.nodes[-1]["name"]]


def flops_coefficients(net, x):
    """2 * H_out * W_out * kh * kw per conv (2 per linear), from one forward pass."""
    k, hooks = {}, []
    for key, _, _, _ in net.terms:
        m = net.mods[key]
        def h(mod, _i, out, key=key):
            k[key] = 2.0 * out.shape[2] * out.shape[3] * mod.kernel_size[0] * mod.kernel_size[1] \
                if isinstance(mod, nn.Conv2d) else 2.0
        hooks.append(m.register_forward_hook(h))
    with torch.no_grad():
        net(x, [None] * len(net.widths))
    for h in hooks:
        h.remove()
    return k


# plugins/latency/hardware.json, entry `cpu`; batch 1 (the plugin's defaults).
PEAK, BANDWIDTH, BYTES = 768e9, 51.2e9, 4.0


def roofline_layers(net, x):
    """Per conv or linear: (FLOPs per channel pair, input bytes per channel, output bytes
    per channel, weight bytes per channel pair) at batch 1, as plugins/latency builds them."""
    layers, hooks = {}, []
    for key, _, _, _ in net.terms:
        def h(mod, inp, out, key=key):
            if isinstance(mod, nn.Conv2d):
                k2 = mod.kernel_size[0] * mod.kernel_size[1]
                hi, wi = inp[0].shape[2], inp[0].shape[3]
                layers[key] = (2.0 * out.shape[2] * out.shape[3] * k2, BYTES * hi * wi,
                               BYTES * out.shape[2] * out.shape[3], BYTES * k2)
            else:  # a linear after the pool and flatten: one feature per channel
                layers[key] = (2.0, BYTES, BYTES, BYTES)
        hooks.append(net.mods[key].register_forward_hook(h))
    with torch.no_grad():
        net(x, [None] * len(net.widths))
    for h in hooks:
        h.remove()
    return layers


def layer_times(layer, ai, ao, dw):
    """(compute seconds, memory seconds) of one layer at ai / ao alive channels (numbers
    or tensors), as plugins/latency/src/roofline.rs `times`."""
    fl, ib, ob, wb = layer
    if dw:
        return fl * ao / PEAK, (ib + ob + wb) * ao / BANDWIDTH
    return fl * ai * ao / PEAK, (ib * ai + ob * ao + wb * ai * ao) / BANDWIDTH


def latency_penalty(net, layers, z, logits):
    """figs' `latency` penalty: the roofline's gradient in the alive counts (no gradient
    itself) times R, per group; tensors throughout, so torch.compile sees one graph."""
    alive = [None if zz is None else zz.detach().gt(0.5).sum().float() for zz in z]
    count = lambda g: alive[g] if alive[g] is not None else torch.tensor(float(net.widths[g]))
    grad = {}
    for key, gi, go, dw in net.terms:
        fl, ib, ob, wb = layers[key]
        ai, ao = count(gi), count(go)
        c, m = layer_times(layers[key], ai, ao, dw)
        bound = c >= m
        if dw:
            grad[go] = grad.get(go, 0.0) + torch.where(bound, fl / PEAK, (ib + ob + wb) / BANDWIDTH)
        else:
            grad[gi] = grad.get(gi, 0.0) + torch.where(bound, fl * ao / PEAK, (ib + wb * ao) / BANDWIDTH)
            grad[go] = grad.get(go, 0.0) + torch.where(bound, fl * ai / PEAK, (ob + wb * ai) / BANDWIDTH)
    total = 0.0
    for g, c in grad.items():
        r = None if logits[g] is None else torch.sigmoid(logits[g]).sum()
        total = total + c * (r if r is not None else count(g))
    return total


def latency_full(net, layers):
    """The supernet's roofline latency in seconds (the penalty's normaliser)."""
    return sum(max(layer_times(layers[key], float(net.widths[gi]), float(net.widths[go]), dw))
               for key, gi, go, dw in net.terms)


def penalty(net, k, z, logits):
    alive = [None if zz is None else zz.detach().gt(0.5).sum().float() for zz in z]
    r = [None if a is None else torch.sigmoid(a).sum() for a in logits]
    total = 0.0
    for key, gi, go, dw in net.terms:
        ai = alive[gi] if alive[gi] is not None else float(net.widths[gi])
        ri = r[gi] if r[gi] is not None else ai
        ao = alive[go] if alive[go] is not None else float(net.widths[go])
        ro = r[go] if r[go] is not None else ao
        total = total + (k[key] * (ri + ro) if dw else k[key] * (ai * ro + ao * ri))
    return total


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--supernet", required=True, help="a figs run's supernet.json")
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=0, help="0: PyTorch's default (every core)")
    p.add_argument("--memory-format", default="contiguous", choices=["contiguous", "channels-last"])
    p.add_argument("--compile", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cost", default="flops", choices=["flops", "latency"])
    p.add_argument("--lambda", dest="lam", type=float, default=0.5)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    fmt = torch.channels_last if a.memory_format == "channels-last" else torch.contiguous_format
    with open(a.supernet) as f:
        graph = json.load(f)
    x_all, y_all = load_fashion_mnist(a.data)
    order = torch.randperm(len(x_all))
    n_val = len(x_all) // 10
    val, train = order[:n_val], order[n_val:]
    xv, yv = x_all[val].contiguous(memory_format=fmt), y_all[val]
    xt, yt = x_all[train], y_all[train]

    net = Supernet(graph).to(memory_format=fmt).train()
    k = flops_coefficients(net, xt[:2].contiguous(memory_format=fmt))
    logits = [nn.Parameter(torch.full((w,), 2.5)) if g else None for w, g in zip(net.widths, net.gated)]
    params = [l for l in logits if l is not None]
    with torch.no_grad():
        ones = [None if l is None else torch.ones_like(l) for l in logits]
        cost0 = float(penalty(net, k, ones, [None if l is None else torch.full_like(l, 1e4) for l in logits])) / 2
    if a.cost == "latency":
        layers = roofline_layers(net, xt[:1].contiguous(memory_format=fmt))
        cost0 = latency_full(net, layers)
        reg = lambda z: latency_penalty(net, layers, z, logits)
    else:
        reg = lambda z: penalty(net, k, z, logits)
    opt = torch.optim.Adam([{"params": net.parameters(), "lr": 2e-3}, {"params": params, "lr": 0.05}])
    lam, tau0, tau1, eps = a.lam, 1.0, 0.1, 1e-6
    def objective(x, y, z):
        return F.cross_entropy(net(x, z), y) + reg(z) * (lam / cost0)

    # Compiled: the gated forward pass and the penalty in one graph (the loss), and the
    # evaluation's forward pass.
    objective = torch.compile(objective) if a.compile else objective
    forward = torch.compile(net) if a.compile else net
    ckpt = tempfile.mkdtemp(prefix="figs-search-torch-")

    def batches():
        while True:
            perm = torch.randperm(len(xt))
            for i in range(0, len(perm) - a.batch + 1, a.batch):
                idx = perm[i:i + a.batch]
                yield xt[idx].contiguous(memory_format=fmt), yt[idx]

    def evaluate():
        fixed = [None if l is None else l.detach().gt(0).float() for l in logits]
        with torch.no_grad():
            it = batches()
            for _ in range(30):
                forward(next(it)[0], fixed)
            net.eval()
            correct = 0
            for i in range(0, len(xv), 256):
                correct += int((forward(xv[i:i + 256], fixed).argmax(1) == yv[i:i + 256]).sum())
            net.train()
        return correct / len(xv)

    start = time.time()
    data = batches()
    acc = None
    for step in range(a.steps):
        x, y = next(data)
        tau = tau0 * (tau1 / tau0) ** (step / a.steps)
        z = []
        for l in logits:
            if l is None:
                z.append(None)
                continue
            u = torch.rand_like(l) * (1 - 2 * eps) + eps
            z.append(torch.sigmoid((l + torch.log(u) - torch.log1p(-u)) / tau))
        loss = objective(x, y, z)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (step + 1) % a.eval_every == 0 or step + 1 == a.steps:
            torch.save({"net": net.state_dict(), "logits": params, "opt": opt.state_dict()},
                       os.path.join(ckpt, f"step-{step + 1}.pt"))
            acc = evaluate()
    loop = time.time() - start
    alive = sum(int(l.detach().gt(0).sum()) for l in params)
    impl = "pytorch" + ("-channels-last" if fmt == torch.channels_last else "") + ("-compile" if a.compile else "")
    print(json.dumps({"impl": impl, "cost": a.cost, "cost0": cost0, "steps": a.steps, "wall_s": time.time() - T0, "loop_s": loop,
                      "val_acc": acc, "alive_channels": alive, "threads": torch.get_num_threads(),
                      "params": sum(p.numel() for p in net.parameters())}))


if __name__ == "__main__":
    main()
