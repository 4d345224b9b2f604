"""Exports a trained run to edgeclip's native model file, tokenizer included,
plus `<model>.expected.json`: Python embeddings of a few world images (stored
as PNGs in `<model>.expected/`) and captions, with their token ids, so the Go
engine and tokenizer can be checked against torch.

    /usr/bin/python3 tools/train/export.py --run tools/train/runs/teacher/final.pt \\
        --name world-teacher-f32 --out models/shipped/world-teacher-f32.safetensors
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
import clipmodel as cm  # noqa: E402
import evalworld  # noqa: E402
import stream  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import modelfile  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

EXPECTED_CAPTIONS = ["a photo of a circle", "a photo of a red object", "two blue squares",
                     "a large green star on the left", "a red circle left of a star", "a yellow hexagon",
                     "a photo of a person"]


def load_run(path):
    c = torch.load(path, map_location="cpu")
    cfg = dict(c["cfg"])
    tok = bpe.load((c.get("args") or {}).get("tokenizer") or os.path.join(HERE, "world_bpe.json"))
    m = cm.CLIP(cfg, tok.eot)
    m.load_state_dict(c["model"])
    m.eval()
    cfg["logit_scale"] = float(m.scale())
    m.cfg = cfg
    return m, tok, c


def export(model, tok, out, name, version, card=None):
    """Writes the model file; returns its content hash."""
    extra = {"edgeclip.card": card} if card else None
    tok_json = {"type": "clip-bpe", "merges": tok.merge_strings()}
    return modelfile.write_model(out, name, version, model.cfg, tok_json, model.export_tensors(), extra)


@torch.no_grad()
def write_expected(model, tok, out, binary, n=6):
    """Stores n world images as PNGs and the embeddings torch computes."""
    from PIL import Image
    base = os.path.splitext(out)[0]
    d = base + ".expected"
    os.makedirs(d, exist_ok=True)
    imgs, hdrs = stream.load_set(binary, 4242, "seen", n, model.cfg["image_size"], 3)
    files = []
    for i, px in enumerate(imgs):
        f = "%02d.png" % i
        Image.fromarray(px).save(os.path.join(d, f))
        files.append(os.path.basename(d) + "/" + f)
    ie = evalworld.embed_images(model, imgs)
    caps = EXPECTED_CAPTIONS + [h["captions"][0] for h in hdrs]
    ids = tok.tokenize(caps, model.cfg["context_length"])
    te = evalworld.embed_texts(model, tok, caps)
    r = lambda t: [[round(float(v), 6) for v in row] for row in t]
    doc = {
        "model": os.path.basename(out),
        "note": "L2-normalised embeddings from tools/train (torch, float32); images are uint8 RGB at the "
                "model's input size, normalised with the config's mean/std",
        "images": [{"file": f, "caption": h["captions"][0], "embedding": e}
                   for f, h, e in zip(files, hdrs, r(ie))],
        "texts": [{"text": c, "ids": [i for i in row if i], "embedding": e} for c, row, e in zip(caps, ids, r(te))],
        "logit_scale": model.cfg["logit_scale"],
    }
    with open(base + ".expected.json", "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    return base + ".expected.json"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="final.pt or ckpt.pt of a train/distill run")
    ap.add_argument("--name", required=True)
    ap.add_argument("--version", default="1")
    ap.add_argument("--out", required=True, help="model file to write (.safetensors)")
    ap.add_argument("--card", help="markdown model card to embed as edgeclip.card")
    ap.add_argument("--bin", default=stream.default_binary())
    ap.add_argument("--no-expected", action="store_true")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    model, tok, _ = load_run(a.run)
    card = open(a.card).read() if a.card else None
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    h = export(model, tok, a.out, a.name, a.version, card)
    # Read it back and check the round trip before claiming success.
    meta, tensors = modelfile.read_model(a.out)
    for k, v in model.export_tensors().items():
        if not np.array_equal(np.asarray(tensors[k]), v):
            raise SystemExit("export: %s: tensor %s differs after reading back" % (a.out, k))
    print("wrote %s (%s, %.1f MB, logit scale %.2f)" % (a.out, h, os.path.getsize(a.out) / 1e6,
                                                      model.cfg["logit_scale"]))
    if not a.no_expected:
        print("wrote", write_expected(model, tok, a.out, a.bin))
    assert not math.isnan(model.cfg["logit_scale"])


if __name__ == "__main__":
    main()
