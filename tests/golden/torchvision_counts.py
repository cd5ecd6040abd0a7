"""Golden parameter and MAC counts from torchvision, for tests/tests/golden.rs.

Run with the project's venv (scripts/setup.sh installs torch 2.11.0 and torchvision 0.26.0):

    "$(sed -n 's/^FIGS_TORCH_VENV = "\(.*\)"/\1/p' .cargo/config.toml)/bin/python" tests/golden/torchvision_counts.py

Parameters: sum of numel over model.parameters() (conv/linear weights and biases, BN γ/β).
MACs: conv and linear layers only, out_h·out_w·out_c·(in_c/groups)·kh·kw resp. in·out,
measured with forward hooks on a 1×3×224×224 input.
"""
import json
import torch
import torchvision


def count(model, shape=(1, 3, 224, 224)):
    macs = 0

    def hook(mod, inp, out):
        nonlocal macs
        if isinstance(mod, torch.nn.Conv2d):
            kh, kw = mod.kernel_size
            macs += out.numel() * (mod.in_channels // mod.groups) * kh * kw
        elif isinstance(mod, torch.nn.Linear):
            macs += out.numel() * mod.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(shape))
    for h in handles:
        h.remove()
    return {"params": sum(p.numel() for p in model.parameters()), "macs": macs}


if __name__ == "__main__":
    out = {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "mobilenet_v2": count(torchvision.models.mobilenet_v2()),
        "mobilenet_v2_width_0.5": count(torchvision.models.mobilenet_v2(width_mult=0.5)),
        "mobilenet_v2_width_0.35_round_1": count(torchvision.models.mobilenet_v2(width_mult=0.35, round_nearest=1)),
        "mobilenet_v3_large": count(torchvision.models.mobilenet_v3_large()),
        "mobilenet_v3_small": count(torchvision.models.mobilenet_v3_small()),
        "mobilenet_v3_large_width_0.75": count(torchvision.models.mobilenet_v3_large(width_mult=0.75)),
        "mobilenet_v3_large_reduced_tail": count(torchvision.models.mobilenet_v3_large(reduced_tail=True)),
        "resnet18": count(torchvision.models.resnet18()),
        "resnet34": count(torchvision.models.resnet34()),
        "resnet50": count(torchvision.models.resnet50()),
    }
    print(json.dumps(out, indent=2))
