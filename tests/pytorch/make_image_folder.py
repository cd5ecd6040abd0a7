"""Writes a folder of generated images in torchvision's ImageFolder layout (one
subdirectory per class), for figs' image-folder tests and bench/data_speed.sh; nothing is
downloaded.

Usage: python make_image_folder.py DIR [--classes K] [--per-class N] [--size WxH | --min S
--max S] [--split] [--seed S] [--png-every M] [--grey-every M] [--cmyk-every M]

Each class is a pattern a small network can learn: stripes at an angle of its own over a
tinted background, with noise. Sizes and aspect ratios vary unless --size fixes them;
every M-th image is a PNG (some with an alpha channel), every M-th a grey JPEG and, with
--cmyk-every, every M-th a CMYK JPEG, so the decoder sees every kind. With --split, DIR/train and DIR/val each get a class tree (val a
fifth as large).
"""
import argparse
import math
import os

import numpy as np
from PIL import Image


def image(rng, cls, classes, w, h):
    angle = math.pi * cls / classes
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    period = 6.0 + 10.0 * rng.random()
    phase = rng.random() * 2 * math.pi
    t = (xx * math.cos(angle) + yy * math.sin(angle)) * 2 * math.pi / period + phase
    stripes = 0.5 + 0.5 * np.sin(t)
    tint = np.array([(cls * 37) % 255, (cls * 91 + 60) % 255, (cls * 53 + 120) % 255], np.float32) / 255.0
    rgb = 0.55 * stripes[..., None] + 0.35 * tint[None, None, :] + 0.1 * rng.random((h, w, 3), dtype=np.float32)
    return (np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def write(rng, path_stem, k, args, cls):
    if args.size:
        w, h = args.size
    else:
        side = rng.integers(args.min, args.max + 1)
        ratio = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))
        w = max(8, int(side * math.sqrt(ratio)))
        h = max(8, int(side / math.sqrt(ratio)))
    px = image(rng, cls, args.classes, w, h)
    if args.png_every and k % args.png_every == args.png_every - 1:
        img = Image.fromarray(px)
        if k % 2:
            alpha = (rng.random((h, w)) * 255).astype(np.uint8)
            img = Image.fromarray(np.dstack([px, alpha]), "RGBA")
        img.save(path_stem + ".png")
    elif args.grey_every and k % args.grey_every == args.grey_every - 1:
        Image.fromarray(px).convert("L").save(path_stem + ".jpg", quality=90)
    elif args.cmyk_every and k % args.cmyk_every == args.cmyk_every - 1:
        Image.fromarray(px).convert("CMYK").save(path_stem + ".jpg", quality=90)
    else:
        Image.fromarray(px).save(path_stem + ".jpg", quality=90)


def tree(root, per_class, args, rng):
    for c in range(args.classes):
        d = os.path.join(root, f"class_{c:02d}")
        os.makedirs(d, exist_ok=True)
        for k in range(per_class):
            write(rng, os.path.join(d, f"img_{k:05d}"), k, args, c)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--classes", type=int, default=4)
    p.add_argument("--per-class", type=int, default=12)
    p.add_argument("--size", type=lambda s: tuple(int(v) for v in s.split("x")))
    p.add_argument("--min", type=int, default=24)
    p.add_argument("--max", type=int, default=96)
    p.add_argument("--split", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--png-every", type=int, default=4)
    p.add_argument("--grey-every", type=int, default=5)
    p.add_argument("--cmyk-every", type=int, default=0)
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    if args.split:
        tree(os.path.join(args.dir, "train"), args.per_class, args, rng)
        tree(os.path.join(args.dir, "val"), max(1, args.per_class // 5), args, rng)
    else:
        tree(args.dir, args.per_class, args, rng)


if __name__ == "__main__":
    main()
