"""Golden parameter and MAC counts from torchvision, for tests/tests/golden.rs.

Run with the project's venv (scripts/setup.sh installs torch 2.11.0 and torchvision 0.26.0):

    "$(sed -n 's/^FIGS_TORCH_VENV = "\(.*\)"/\1/p' .cargo/config.toml)/bin/python" tests/golden/torchvision_counts.py

Parameters: sum of numel over model.parameters() (conv/linear weights and biases, BN γ/β).
MACs: conv and linear layers only, out_h·out_w·out_c·(in_c/groups)·kh·kw resp. in·out,
measured with forward hooks on a 1×3×224×224 input (detectors: 1×3×320×320, backbone and
head, whose convs are all of them).
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


class _Detector(torch.nn.Module):
    """An SSD's backbone and head alone: the class logits and box offsets per default box
    (its transform and post-processing hold no convs)."""

    def __init__(self, ssd):
        super().__init__()
        self.ssd = ssd

    def forward(self, x):
        return self.ssd.head(list(self.ssd.backbone(x).values()))


def ssdlite320_mobilenet_v3_large(num_classes=91):
    from torchvision.models.detection import ssdlite320_mobilenet_v3_large as build

    return _Detector(build(weights=None, weights_backbone=None, num_classes=num_classes))


def ssdlite_mobilenet_v3_small(num_classes=91, size=320):
    """torchvision has no builder for it: its own pieces, as ssdlite320_mobilenet_v3_large
    puts them together (reduced tail, C4 tap at the last strided block, six maps)."""
    from functools import partial
    from torchvision.models.detection import ssdlite
    from torchvision.models.detection import _utils as det_utils
    from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
    from torchvision.models.detection.ssd import SSD

    norm = partial(torch.nn.BatchNorm2d, eps=0.001, momentum=0.03)
    backbone = torchvision.models.mobilenet_v3_small(norm_layer=norm, reduced_tail=True)
    backbone = ssdlite._mobilenet_extractor(backbone, 6, norm)
    anchors = DefaultBoxGenerator([[2, 3] for _ in range(6)], min_ratio=0.2, max_ratio=0.95)
    channels = det_utils.retrieve_out_channels(backbone, (size, size))
    head = ssdlite.SSDLiteHead(channels, anchors.num_anchors_per_location(), num_classes, norm)
    return _Detector(SSD(backbone, anchors, (size, size), num_classes, head=head))


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
        "ssdlite320_mobilenet_v3_large": count(ssdlite320_mobilenet_v3_large(), (1, 3, 320, 320)),
        "ssdlite320_mobilenet_v3_large_11_classes": count(ssdlite320_mobilenet_v3_large(11), (1, 3, 320, 320)),
        "ssdlite320_mobilenet_v3_small_11_classes": count(ssdlite_mobilenet_v3_small(11), (1, 3, 320, 320)),
        "resnet18": count(torchvision.models.resnet18()),
        "resnet34": count(torchvision.models.resnet34()),
        "resnet50": count(torchvision.models.resnet50()),
    }
    print(json.dumps(out, indent=2))
