#!/usr/bin/python3
"""Reference fixtures for models/preprocess: CLIP preprocessing as torchvision does it.

Run with Debian's interpreter (torchvision 0.14, PIL 9.4):

    /usr/bin/python3 tools/reference/preprocess_ref.py [--out models/preprocess/testdata]

Everything is deterministic: synthetic images come from a seeded RNG, the natural ones are
crops of skimage's bundled PNGs resized with PIL. For every case it writes

  <case>.png               the input image (RGB, RGBA or L PNG)
  <case>.s<size>.png       the expected output of Resize(size, BICUBIC) + CenterCrop(size),
                           as 8-bit RGB, i.e. the tensor before ToTensor/Normalize
  <case>.s<size>.f32       (only where listed) the full torchvision output, CHW float32
                           little-endian after ToTensor and Normalize, to pin the float step

and cases.json, which lists them. The script also asserts that torchvision's float output
equals ((u8 / 255) - mean) / std computed in float32 from the 8-bit crop, so the 8-bit files
carry the whole reference.
"""

import argparse
import json
import os

import numpy as np
import torch
from PIL import Image
from torchvision import transforms
from torchvision.transforms import InterpolationMode

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
SKIMAGE = "/usr/lib/python3/dist-packages/skimage/data"


def synthetic_edges(w, h):
    """Saturated checkerboard, thin lines and disks: sharp edges make bicubic overshoot clip."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.uint8)
    checker = ((x // 17) + (y // 13)) % 2 == 1
    img[checker] = (255, 255, 255)
    img[(x + 2 * y) % 41 < 2] = (255, 0, 0)
    img[(3 * x - y) % 53 < 1] = (0, 0, 255)
    for cx, cy, r, col in ((w // 3, h // 2, h // 5, (0, 255, 0)), (2 * w // 3, h // 3, h // 7, (255, 255, 0))):
        img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = col
    return Image.fromarray(img, "RGB")


def synthetic_gradient_noise(w, h, seed):
    """Smooth gradients with a noisy band in the middle (noise kept small so the PNG stays small)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * x / max(w - 1, 1)
    g = 255 * y / max(h - 1, 1)
    b = 127.5 + 127.5 * np.sin(x / 9.0) * np.cos(y / 7.0)
    img = np.stack([r, g, b], -1)
    band = (y > h * 0.4) & (y < h * 0.6)
    img[band] += rng.normal(0, 40, size=img[band].shape)
    return Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8), "RGB")


def synthetic_alpha(w, h, seed):
    """RGBA with varying alpha; CLIP's convert('RGB') drops alpha, so the output ignores it."""
    rng = np.random.default_rng(seed)
    rgb = np.asarray(synthetic_edges(w, h)).copy()
    y, x = np.mgrid[0:h, 0:w]
    a = ((x * 255) // max(w - 1, 1)).astype(np.uint8)
    a[rng.random((h, w)) < 0.02] = 0
    return Image.fromarray(np.dstack([rgb, a]), "RGBA")


def natural(name, box, size):
    """Crop box (l, t, r, b) of an skimage PNG, then resize to size with LANCZOS."""
    img = Image.open(os.path.join(SKIMAGE, name))
    img.load()
    return img.crop(box).resize(size, Image.LANCZOS)


def cases():
    """(name, image, sizes, sizes with a float32 file)."""
    return [
        ("edges_640x480", synthetic_edges(640, 480), (224, 64), (64,)),
        ("gradnoise_300x500", synthetic_gradient_noise(300, 500, 1), (224,), ()),
        ("astronaut_640x480", natural("astronaut.png", (0, 64, 512, 448), (640, 480)), (224, 64), ()),
        ("astronaut_224x224", natural("astronaut.png", (100, 0, 400, 300), (224, 224)), (224,), ()),
        ("chelsea_97x61", natural("chelsea.png", (40, 20, 440, 272), (97, 61)), (224,), ()),
        ("coffee_1000x200", natural("coffee.png", (0, 100, 600, 220), (1000, 200)), (224,), ()),
        ("coffee_451x301", natural("coffee.png", (0, 0, 600, 400), (451, 301)), (224,), ()),
        ("chelsea_225x339", natural("chelsea.png", (100, 0, 300, 300), (225, 339)), (224, 33), ()),
        ("camera_333x250", natural("camera.png", (50, 100, 450, 400), (333, 250)), (224,), ()),
        ("alpha_320x240", synthetic_alpha(320, 240, 2), (224,), ()),
    ]


def clip_transform(size):
    """CLIP's _transform (openai/CLIP clip.py) with the RGB conversion first."""
    return transforms.Compose([
        transforms.Resize(size, interpolation=InterpolationMode.BICUBIC),
        transforms.CenterCrop(size),
        lambda im: im.convert("RGB"),
        transforms.ToTensor(),
        transforms.Normalize(MEAN, STD),
    ])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="models/preprocess/testdata")
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    mean = np.array(MEAN, np.float32).reshape(3, 1, 1)
    std = np.array(STD, np.float32).reshape(3, 1, 1)
    index = []
    for name, img, sizes, floats in cases():
        img.save(os.path.join(args.out, name + ".png"), optimize=True)
        rgb = img.convert("RGB")
        for size in sizes:
            # Resize and crop the RGB image, exactly as the CLIP transform's first two steps do.
            u8 = transforms.CenterCrop(size)(
                transforms.Resize(size, interpolation=InterpolationMode.BICUBIC)(rgb))
            u8 = np.asarray(u8, np.uint8)
            assert u8.shape == (size, size, 3), u8.shape
            want = clip_transform(size)(rgb).numpy()
            chw = u8.transpose(2, 0, 1).astype(np.float32)
            mine = (chw / np.float32(255) - mean) / std
            assert np.array_equal(mine, want), (name, size, np.abs(mine - want).max())
            entry = {"name": name, "input": name + ".png", "mode": img.mode,
                     "width": img.width, "height": img.height, "size": size,
                     "want": "%s.s%d.png" % (name, size)}
            Image.fromarray(u8, "RGB").save(os.path.join(args.out, entry["want"]), optimize=True)
            if size in floats:
                entry["want_f32"] = "%s.s%d.f32" % (name, size)
                want.astype("<f4").tofile(os.path.join(args.out, entry["want_f32"]))
            index.append(entry)
    with open(os.path.join(args.out, "cases.json"), "w") as f:
        json.dump({"mean": MEAN, "std": STD, "cases": index}, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(args.out, n)) for n in os.listdir(args.out))
    print("wrote %d cases to %s (%.2f MB)" % (len(index), args.out, total / 1e6))


if __name__ == "__main__":
    main()
