"""Fixed world evaluation sets and metrics shared by train.py and distill.py.

Zero-shot colour and shape on single-object images (prompts "a photo of a
{colour} object" and "a photo of a {shape}"), seen and held-out compositions
separately; text→image R@1 with each image's canonical caption over a fixed
set (strict: the paired image must rank first).
"""
import numpy as np
import torch

import stream

SHAPES = ["circle", "square", "triangle", "star", "cross", "hexagon", "diamond", "ring"]
COLORS = ["red", "green", "blue", "yellow", "purple", "orange", "pink", "cyan"]


def article(w):
    return ("an " if w[0] in "aeiou" else "a ") + w


def shape_prompt(s):
    return "a photo of " + article(s)


def color_prompt(c):
    return "a photo of " + article(c + " object")


class EvalSets:
    """Generates the fixed sets once (seeds 1001–1004, disjoint from training)."""

    def __init__(self, binary, size=64, n_seen=1000, n_held=500):
        self.sets = {
            "zs_seen": stream.load_set(binary, 1001, "seen", n_seen, size, 1),
            "zs_held": stream.load_set(binary, 1002, "heldout", n_held, size, 1),
            "ret_seen": stream.load_set(binary, 1003, "seen", n_seen, size, 3),
            "ret_held": stream.load_set(binary, 1004, "heldout", n_held, size, 3),
        }


@torch.no_grad()
def embed_images(model, imgs, bs=250):
    out = []
    for i in range(0, len(imgs), bs):
        out.append(model.encode_image(model.preprocess(imgs[i:i + bs])))
    return torch.cat(out)


@torch.no_grad()
def embed_texts(model, tok, texts, bs=500):
    ctx = model.cfg["context_length"]
    out = []
    for i in range(0, len(texts), bs):
        ids = torch.tensor(tok.tokenize(texts[i:i + bs], ctx), device=model.mean.device)
        out.append(model.encode_text(ids))
    return torch.cat(out)


@torch.no_grad()
def evaluate(model, tok, sets):
    was = model.training
    model.eval()
    res = {}
    pc = embed_texts(model, tok, [color_prompt(c) for c in COLORS])
    ps = embed_texts(model, tok, [shape_prompt(s) for s in SHAPES])
    for key, name in (("zs_seen", "seen"), ("zs_held", "held")):
        imgs, hdrs = sets.sets[key]
        e = embed_images(model, imgs)
        col = np.array([COLORS.index(h["labels"]["objects"][0]["color"]) for h in hdrs])
        shp = np.array([SHAPES.index(h["labels"]["objects"][0]["shape"]) for h in hdrs])
        res["zs_color_" + name] = float(((e @ pc.t()).argmax(1).cpu().numpy() == col).mean())
        res["zs_shape_" + name] = float(((e @ ps.t()).argmax(1).cpu().numpy() == shp).mean())
    for key, name in (("ret_seen", "seen"), ("ret_held", "held")):
        imgs, hdrs = sets.sets[key]
        e = embed_images(model, imgs)
        t = embed_texts(model, tok, [h["captions"][0] for h in hdrs])
        sim = t @ e.t()
        res["t2i_r1_" + name] = float((sim.argmax(1).cpu() == torch.arange(len(hdrs))).float().mean())
        res["i2t_r1_" + name] = float((sim.argmax(0).cpu() == torch.arange(len(hdrs))).float().mean())
    model.train(was)
    return res
