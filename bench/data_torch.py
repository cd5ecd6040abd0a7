"""torchvision's half of bench/data_speed.sh: the ImageNet training transforms
(RandomResizedCrop, horizontal flip, to float, normalise) over torchvision's ImageFolder
(PIL decoding) through a torch.utils.data.DataLoader; prints one JSON line with the images
per second delivered as ready batches.

Usage: python data_torch.py --dir DIR [--size 224] [--workers 1] [--batch 64]
       [--batches 20] [--warmup 2] [--decode-only]
"""
import argparse
import json
import time

import torch
from torch.utils.data import DataLoader
from torchvision import datasets
from torchvision.transforms import v2

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--decode-only", action="store_true",
                   help="only decode --batches x --batch files with ImageFolder's loader (PIL), on this thread")
    a = p.parse_args()
    torch.set_num_threads(1)
    if a.decode_only:
        ds = datasets.ImageFolder(a.dir)
        n = min(a.batches * a.batch, len(ds))
        start = time.perf_counter()
        for path, _ in ds.samples[:n]:
            ds.loader(path)
        s = time.perf_counter() - start
        print(json.dumps({"impl": "torchvision", "stage": "decode", "images": n, "seconds": s, "images_per_s": n / s}))
        return
    t = v2.Compose([
        v2.RandomResizedCrop(a.size, antialias=True),
        v2.RandomHorizontalFlip(),
        v2.ToImage(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(MEAN, STD),
    ])
    ds = datasets.ImageFolder(a.dir, transform=t)
    loader = DataLoader(ds, batch_size=a.batch, shuffle=True, drop_last=True, num_workers=a.workers,
                        persistent_workers=a.workers > 0)

    def batches():
        while True:
            yield from loader

    it = batches()
    for _ in range(a.warmup):
        next(it)
    start = time.perf_counter()
    images = 0
    for _ in range(a.batches):
        x, _ = next(it)
        images += x.shape[0]
    s = time.perf_counter() - start
    print(json.dumps({"impl": "torchvision", "workers": a.workers, "files": len(ds), "images": images,
                      "seconds": s, "images_per_s": images / s}))


if __name__ == "__main__":
    main()
