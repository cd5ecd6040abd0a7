"""Checks figs' image folder against torchvision (tests/tests/imagefolder.rs).

Usage: python check_image_folder.py DIR CASES.safetensors SIZE SHORTER

DIR is an image folder; CASES.safetensors (written by figs, every value a float32 of a
whole number) holds, for each checked file k: `path{k}` (the file's path as bytes),
`rgb{k}` (figs' decoded HWC pixels),
`eval{k}` (figs' evaluation transform, HWC), `train{k}` (figs' training transform) and
`draw{k}` (top, left, height, width, flip of the crop figs drew).

Prints one JSON object:
- samples: torchvision ImageFolder(DIR).samples as [path, class] pairs, classes: its classes;
- png_decode_max, jpeg_decode_max, jpeg_decode_mean, cmyk_decode_max: |PIL's RGB − figs'
  RGB| over the PNG, the (grey and colour) JPEG and the CMYK JPEG files (cmyk_files of
  them);
- eval_max, train_max: the largest |torchvision − figs| of the transforms applied by
  torchvision.transforms.v2 to figs' decoded image (the same pixels in), in 0..255 units.
"""
import json
import sys

import numpy as np
import torch
from PIL import Image
from torchvision import datasets
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F


def read_safetensors(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    kinds = {"U8": np.uint8, "I64": np.int64, "F32": np.float32}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        # figs writes float32; every value here is a whole number in 0..255 (or a crop box).
        a = np.frombuffer(data[a:b], dtype=kinds[meta["dtype"]]).reshape(meta["shape"])
        out[name] = a.astype(np.int64) if name.startswith("draw") else a.astype(np.uint8)
    return out


def main(root, cases_path, size, shorter):
    ds = datasets.ImageFolder(root)
    cases = read_safetensors(cases_path)
    evaluate = v2.Compose([v2.Resize(shorter, antialias=True), v2.CenterCrop(size)])
    png_max, jpeg_max, jpeg_sum, jpeg_n, eval_max, train_max, cmyk_max, cmyk_n = 0, 0, 0.0, 0, 0, 0, 0, 0
    k = 0
    while f"rgb{k}" in cases:
        path = bytes(cases[f"path{k}"]).decode()
        rgb = cases[f"rgb{k}"]
        opened = Image.open(path)
        pil = np.asarray(opened.convert("RGB"))
        d = np.abs(pil.astype(np.int32) - rgb.astype(np.int32))
        if opened.mode == "CMYK":
            cmyk_max = max(cmyk_max, int(d.max()))
            cmyk_n += 1
        elif path.lower().endswith(".png"):
            png_max = max(png_max, int(d.max()))
        else:
            jpeg_max = max(jpeg_max, int(d.max()))
            jpeg_sum += float(d.mean())
            jpeg_n += 1
        chw = torch.from_numpy(rgb.copy()).permute(2, 0, 1)
        want = evaluate(chw).permute(1, 2, 0).numpy().astype(np.int32)
        eval_max = max(eval_max, int(np.abs(want - cases[f"eval{k}"].astype(np.int32)).max()))
        top, left, h, w, flip = (int(v) for v in cases[f"draw{k}"])
        t = F.resized_crop(chw, top, left, h, w, [size, size], antialias=True)
        if flip:
            t = F.horizontal_flip(t)
        want = t.permute(1, 2, 0).numpy().astype(np.int32)
        train_max = max(train_max, int(np.abs(want - cases[f"train{k}"].astype(np.int32)).max()))
        k += 1
    print(json.dumps({
        "samples": [[p, c] for p, c in ds.samples],
        "classes": ds.classes,
        "checked": k,
        "png_decode_max": png_max,
        "jpeg_decode_max": jpeg_max,
        "jpeg_decode_mean": jpeg_sum / max(jpeg_n, 1),
        "cmyk_files": cmyk_n,
        "cmyk_decode_max": cmyk_max,
        "eval_max": eval_max,
        "train_max": train_max,
    }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
