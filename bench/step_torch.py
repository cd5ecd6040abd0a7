"""PyTorch eager's half of bench/step_speed.sh: the same job as figs-bench, written as a
PyTorch user would write it.

torchvision's MobileNetV2 with a 1-channel stem and 10 classes at 28x28 (figs'
`mobilenet_v2 -p preset=imagenet -p resolution=28 -p channels=1 -p classes=10`: 2,236,106
parameters in both). `plain`: forward, cross-entropy, backward, Adam. `figs`: a FiGS step as
the paper describes it: a logit per channel, gates sigma((a + L)/tau) multiplied into every
batch norm's output (where figs puts them), the FLOPs regularizer
sum_k k * (A_in * R_out + A_out * R_in) with R the keep probabilities, A the channels open
in the sampled gates, all on the device (no .item() in the step), Adam with the gate logits
in their own group. Prints one JSON line.
"""
import argparse, json, os, resource, time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


def build():
    net = torchvision.models.mobilenet_v2(num_classes=10)
    old = net.features[0][0]
    net.features[0][0] = nn.Conv2d(1, old.out_channels, 3, 2, 1, bias=False)
    return net


class Gates:
    """Channel groups of torchvision's MobileNetV2, as figs forms them: the stem; per block its
    expansion (expand + depthwise) and its projection, which a residual ties to its input."""

    def __init__(self, net, device):
        self.widths, self.bn_group, self.terms = [], {}, []  # terms: (conv, in_group, out_group)
        def new(width):
            self.widths.append(width)
            return len(self.widths) - 1
        f = net.features
        cur = new(f[0][1].num_features)
        self.bn_group[f[0][1]] = cur
        self.terms.append((f[0][0], None, cur))
        for block in f[1:18]:
            layers = list(block.conv)
            if len(layers) == 3:  # expand ratio 1: depthwise, project, bn
                dw, proj, bn = layers
                e = cur
            else:
                ex, dw, proj, bn = layers
                e = new(ex[1].num_features)
                self.bn_group[ex[1]] = e
                self.terms.append((ex[0], cur, e))
            self.bn_group[dw[1]] = e
            self.terms.append((dw[0], e, e))
            out = cur if block.use_res_connect else new(bn.num_features)
            self.bn_group[bn] = out
            self.terms.append((proj, e, out))
            cur = out
        head = new(f[18][1].num_features)
        self.bn_group[f[18][1]] = head
        self.terms.append((f[18][0], cur, head))
        self.terms.append((net.classifier[1], head, None))
        self.logits = nn.ParameterList(
            [nn.Parameter(torch.full((w,), 2.5, device=device)) for w in self.widths])
        self.z = None
        for bn, g in self.bn_group.items():
            bn.register_forward_hook(self.hook(g))
        self.k = {}
        self.shape_hooks = [m.register_forward_hook(self.record(m)) for m, _, _ in self.terms]

    def hook(self, g):
        def h(_m, _i, out):
            return out if self.z is None else out * self.z[g].view(1, -1, 1, 1)
        return h

    def record(self, m):
        def h(_m, _i, out):  # FLOPs coefficient 2 * H_out * W_out * kh * kw (linear: 2)
            if isinstance(m, nn.Conv2d):
                self.k[m] = 2.0 * out.shape[2] * out.shape[3] * m.kernel_size[0] * m.kernel_size[1]
            else:
                self.k[m] = 2.0
        return h

    def sample(self, tau, eps=1e-6):
        z = []
        for a in self.logits:
            u = torch.rand_like(a) * (1 - 2 * eps) + eps
            z.append(torch.sigmoid((a + torch.log(u) - torch.log1p(-u)) / tau))
        self.z = z

    def penalty(self):
        alive = [z.detach().gt(0.5).sum().float() for z in self.z]
        r = [torch.sigmoid(a).sum() for a in self.logits]
        total = 0.0
        for m, gi, go in self.terms:
            k = self.k[m]
            ai = alive[gi] if gi is not None else float(m.in_channels if isinstance(m, nn.Conv2d) else m.in_features)
            ri = r[gi] if gi is not None else ai
            ao = alive[go] if go is not None else float(m.out_features)
            ro = r[go] if go is not None else ao
            if isinstance(m, nn.Conv2d) and m.groups > 1:  # depthwise: k * (R_in + R_out)
                total = total + k * (ri + ro)
            else:
                total = total + k * (ai * ro + ao * ri)
        return total


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mode", required=True, choices=["plain", "figs"])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                   help="bf16: the forward pass and the loss under torch.autocast(bfloat16)")
    p.add_argument("--channels-last", action="store_true",
                   help="net and batches in torch.channels_last (not what a new user writes)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    net = build().to(dev, memory_format=fmt).train()
    n = a.batch * 40
    xs = torch.randn(n, 1, 28, 28, device=dev).to(memory_format=fmt)
    ys = torch.randint(10, (n,), device=dev)
    gates = None
    if a.mode == "figs":
        gates = Gates(net, dev)
        net(xs[:2])  # records the FLOPs coefficients
        for h in gates.shape_hooks:
            h.remove()
        with torch.no_grad():
            gates.z = [torch.ones(w, device=dev) for w in gates.widths]
            cost0 = float(gates.penalty()) / 2  # A = R = width: twice the FLOPs, a constant
        opt = torch.optim.Adam([{"params": net.parameters(), "lr": 2e-3},
                                {"params": gates.logits.parameters(), "lr": 0.05}])
    else:
        opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    lam = 0.5

    def step(i):
        idx = torch.randint(n, (a.batch,), device=dev)
        x, y = xs[idx], ys[idx]
        if gates is not None:
            gates.sample(1.0)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            loss = F.cross_entropy(net(x), y)
        if gates is not None:
            loss = loss + gates.penalty() * (lam / cost0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    for i in range(a.warmup):
        step(i)
    sync()
    start = time.perf_counter()
    for i in range(a.steps):
        step(i)
    sync()
    ms = (time.perf_counter() - start) * 1e3 / a.steps
    params = sum(p.numel() for p in net.parameters())
    impl = "pytorch-channels-last" if a.channels_last else "pytorch"
    if "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        impl += "-malloc"  # run with figs' allocator settings (bench/step_speed.sh)
    print(json.dumps({"impl": impl, "mode": a.mode, "device": a.device, "threads": a.threads,
                      "batch": a.batch, "precision": a.precision, "steps": a.steps, "ms_per_step": ms, "params": params,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
