"""Writes the parity fixtures under models/testdata/parity/{openai,hf,openclip}/.

Each fixture is a tiny random CLIP saved in one public checkpoint layout
(safetensors; Hugging Face as a model directory), its tokenizer files, a few
PNG test images (some needing resize and center crop), each image's
reference crop at the model's input size (so a Go test can separate the
engine from the preprocessing), and expected.json: reference token ids and
L2-normalised fp32 embeddings computed by tools/reference/clip_ref.py with
torchvision + PIL preprocessing.

Deterministic (fixed seeds, no timestamps). Run via `make fixtures`, or:
    /usr/bin/python3 tools/reference/make_fixtures.py [--out DIR]
"""
import argparse
import gzip
import io
import json
import math
import os
import sys

import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clip_ref as R  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SKIMAGE = "/usr/lib/python3/dist-packages/skimage/data"
REAL_BPE = os.path.join(ROOT, "..", "shared", "data", "clip-bpe")

CORPUS = """
a photo of a cat sitting on the red sofa. a photo of a dog running in the park.
a person walking past the front door at night. two people standing near a parked car.
a delivery truck parked on the street. a red car and a blue truck on the road.
a cat sleeping in the sun on the window. a dog playing with a ball in the garden.
the camera shows a person carrying a box. someone opening the garage door.
a bicycle leaning against the wall. a man riding a bicycle down the street.
a woman walking a dog on the sidewalk. children playing in the snow.
a package left on the porch. the front porch at night with the light on.
a yellow star and two blue squares. a green circle inside a red square.
the quick brown fox jumps over the lazy dog. an empty parking lot in the rain.
a bird sitting on the fence. a squirrel running across the lawn.
cars driving on the highway at sunset. a train passing the station.
people waiting at the bus stop. a person wearing a red jacket and a hat.
an open door and an empty hallway. the kitchen with the lights off.
a photo of the parking lot from the camera on the roof. snow falling at night.
a person at the door holding a package. a car parking in the driveway.
"""

TEXTS = [
    "a photo of a cat",
    "A RED Car parked on the street!!",
    "two  blue\tsquares and a yellow   star",
    "it's the dog's ball, isn't it?",
    "Tom &amp; Jerry",
    "caf\u00e9 no. 42",
    "",
    "the quick brown fox jumps over the lazy dog while a person walks past the red door at night",
]

# name -> (skimage file, crop box in source pixels or None, size to save)
IMAGES = {
    "wide": ("chelsea.png", None, (40, 30)),  # upscales: shorter side 30 < input size
    "tall": ("astronaut.png", (100, 0, 420, 480), (64, 96)),  # downscales a portrait
    "big": ("coffee.png", None, (120, 80)),  # downscales with antialiasing
    "gray": ("camera.png", (96, 32, 416, 352), None),  # single channel, resized to exact size
}

FIXTURES = {
    "openai": dict(
        seed=1, image_size=32, patch_size=8, context_length=16, embed_dim=24, activation="quick_gelu",
        vision=dict(width=48, layers=2, heads=3, mlp_width=192), text=dict(width=32, layers=2, heads=2, mlp_width=128),
        mean=R.OPENAI_MEAN, std=R.OPENAI_STD, logit_scale=100.0),
    "hf": dict(
        seed=2, image_size=48, patch_size=16, context_length=20, embed_dim=32, activation="gelu",
        vision=dict(width=32, layers=2, heads=4, mlp_width=96), text=dict(width=32, layers=2, heads=4, mlp_width=112),
        mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), logit_scale=math.exp(2.6592)),
    "openclip": dict(
        seed=3, image_size=48, patch_size=8, context_length=18, embed_dim=28, activation="quick_gelu",
        vision=dict(width=32, layers=2, heads=2, mlp_width=128), text=dict(width=32, layers=2, heads=4, mlp_width=128),
        mean=R.OPENAI_MEAN, std=R.OPENAI_STD, logit_scale=50.0),
}
N_MERGES = 240


def f32s(t):
    """A float32 vector as JSON numbers that round-trip exactly (9 significant digits)."""
    return [float("%.9g" % v) for v in t.tolist()]


def normalize(x):
    return x / x.norm(dim=-1, keepdim=True)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def gzip_bytes(data):
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as g:
        g.write(data)
    return buf.getvalue()


def build(layout, c):
    if layout == "openai":
        m = R.OpenAICLIP(c)
    elif layout == "openclip":
        m = R.OpenCLIP(c)
    else:
        m = R.HFCLIPModel(R.hf_config(c))
    R.randomize(m, c["seed"])
    with torch.no_grad():
        m.logit_scale.fill_(math.log(c["logit_scale"]))
    return m.eval()


def encoders(layout, m):
    if layout == "hf":
        return m.get_image_features, m.get_text_features
    return m.encode_image, m.encode_text


def save_model(layout, m, c, d, merges):
    bpe = ("#version: 0.2\n" + "\n".join(merges)).encode()  # no trailing newline: see clip_ref.SimpleTokenizer
    sd = {k: v for k, v in m.state_dict().items()}
    conv = {"from": layout}
    if layout == "openai":
        # torch.jit.load(ViT-B-32.pt).state_dict() carries these three scalars.
        sd["input_resolution"] = torch.tensor(c["image_size"])
        sd["context_length"] = torch.tensor(c["context_length"])
        sd["vocab_size"] = torch.tensor(c["vocab_size"])
        R.save_safetensors(os.path.join(d, "model.safetensors"), sd)
        write(os.path.join(d, "bpe.txt"), bpe)
        # OpenAI's heads are width // 64; this tiny model needs them given.
        conv.update(src="model.safetensors", bpe="bpe.txt", vision_heads=c["vision"]["heads"],
                    text_heads=c["text"]["heads"])
    elif layout == "openclip":
        R.save_safetensors(os.path.join(d, "open_clip_model.safetensors"), sd)
        write(os.path.join(d, "bpe_simple_vocab.txt.gz"), gzip_bytes(bpe))
        v, t = c["vision"], c["text"]
        cfg = {"model_cfg": {
            "embed_dim": c["embed_dim"], "quick_gelu": c["activation"] == "quick_gelu",
            "vision_cfg": {"image_size": c["image_size"], "layers": v["layers"], "width": v["width"],
                           "patch_size": c["patch_size"], "head_width": v["width"] // v["heads"],
                           "mlp_ratio": v["mlp_width"] / v["width"]},
            "text_cfg": {"context_length": c["context_length"], "vocab_size": c["vocab_size"], "width": t["width"],
                         "heads": t["heads"], "layers": t["layers"]}},
            "preprocess_cfg": {"mean": list(c["mean"]), "std": list(c["std"])}}
        write(os.path.join(d, "open_clip_config.json"), (json.dumps(cfg, indent=2) + "\n").encode())
        conv.update(src="open_clip_model.safetensors", bpe="bpe_simple_vocab.txt.gz")
    else:
        md = os.path.join(d, "model")
        os.makedirs(md, exist_ok=True)
        R.save_safetensors(os.path.join(md, "model.safetensors"), sd, metadata={"format": "pt"})
        write(os.path.join(md, "config.json"), (json.dumps(m.cfg, indent=2) + "\n").encode())
        vocab = {t: i for i, t in enumerate(R.clip_vocab(merges))}
        write(os.path.join(md, "vocab.json"), json.dumps(vocab, ensure_ascii=False).encode())
        write(os.path.join(md, "merges.txt"), bpe + b"\n")
        pp = {"crop_size": {"height": c["image_size"], "width": c["image_size"]}, "do_center_crop": True,
              "do_normalize": True, "do_resize": True, "do_convert_rgb": True, "image_processor_type": "CLIPImageProcessor",
              "image_mean": list(c["mean"]), "image_std": list(c["std"]), "resample": 3,
              "size": {"shortest_edge": c["image_size"]}}
        write(os.path.join(md, "preprocessor_config.json"), (json.dumps(pp, indent=2) + "\n").encode())
        conv.update(src="model")
    return conv


def source_images(d, size):
    """Writes the test images; returns (name, path relative to d).

    Images of a fixed size are shared by the fixtures (parity/images/); the
    one made at the model's input size lives in the fixture's own images/.
    """
    os.makedirs(os.path.join(d, "images"), exist_ok=True)
    os.makedirs(os.path.join(d, "..", "images"), exist_ok=True)
    out = []
    for name, (src, box, save) in IMAGES.items():
        img = Image.open(os.path.join(SKIMAGE, src))
        if box:
            img = img.crop(box)
        img = img.resize(save or (size, size), Image.LANCZOS)
        rel = ("../images/%s.png" if save else "images/%s.png") % name
        img.save(os.path.join(d, rel), optimize=True)
        out.append((name, rel))
    return out


@torch.no_grad()
def make(layout, c, merges, out):
    d = os.path.join(out, layout)
    os.makedirs(d, exist_ok=True)
    tok = R.SimpleTokenizer(merges)
    c = dict(c, vocab_size=len(tok.vocab), ln_eps=1e-5)
    m = build(layout, c)
    conv = save_model(layout, m, c, d, merges)
    enc_img, enc_txt = encoders(layout, m)

    ids = [tok.tokenize(t, c["context_length"]) for t in TEXTS]
    temb = normalize(enc_txt(R.pad(ids, c["context_length"])))
    texts = [{"text": t, "ids": i, "embedding": f32s(e)} for t, i, e in zip(TEXTS, ids, temb)]

    images = []
    for name, rel in source_images(d, c["image_size"]):
        crop, x = R.preprocess(Image.open(os.path.join(d, rel)), c["image_size"], c["mean"], c["std"])
        crel = "images/%s.crop.png" % name
        crop.save(os.path.join(d, crel), optimize=True)
        e = normalize(enc_img(x[None]))[0]
        images.append({"path": rel, "crop": crel, "embedding": f32s(e)})

    # Sanity: a degenerate model would make every embedding alike.
    allv = torch.tensor([t["embedding"] for t in texts] + [i["embedding"] for i in images])
    sims = allv @ allv.T - torch.eye(len(allv))
    cfg = {k: c[k] for k in ("image_size", "patch_size", "vision", "text", "context_length", "vocab_size",
                             "embed_dim", "activation", "ln_eps", "logit_scale")}
    cfg["mean"], cfg["std"] = list(c["mean"]), list(c["std"])
    exp = {"layout": layout, "convert": conv, "config": cfg, "texts": texts, "images": images}
    write(os.path.join(d, "expected.json"), (json.dumps(exp, indent=1, ensure_ascii=False) + "\n").encode())
    print("%-8s vocab %d, max cosine between different inputs %.3f" % (layout, c["vocab_size"], sims.max()))
    return m, c


@torch.no_grad()
def cross_check(models):
    """The OpenAI and HF re-implementations must agree on the same weights."""
    m, c = models["openai"]
    c = dict(c)
    hf = R.HFCLIPModel(R.hf_config(c)).eval()
    sd, w = m.state_dict(), {}
    for tower, hp, n in (("visual.transformer", "vision_model.encoder", c["vision"]["layers"]),
                         ("transformer", "text_model.encoder", c["text"]["layers"])):
        for i in range(n):
            a, b = "%s.resblocks.%d." % (tower, i), "%s.layers.%d." % (hp, i)
            q, k, v = sd[a + "attn.in_proj_weight"].chunk(3)
            qb, kb, vb = sd[a + "attn.in_proj_bias"].chunk(3)
            w.update({b + "self_attn.q_proj.weight": q, b + "self_attn.k_proj.weight": k,
                      b + "self_attn.v_proj.weight": v, b + "self_attn.q_proj.bias": qb,
                      b + "self_attn.k_proj.bias": kb, b + "self_attn.v_proj.bias": vb})
            for x, y in (("attn.out_proj", "self_attn.out_proj"), ("ln_1", "layer_norm1"), ("ln_2", "layer_norm2"),
                         ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2")):
                for s in ("weight", "bias"):
                    w[b + y + "." + s] = sd[a + x + "." + s]
    ren = {"visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
           "visual.class_embedding": "vision_model.embeddings.class_embedding",
           "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
           "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
           "positional_embedding": "text_model.embeddings.position_embedding.weight", "logit_scale": "logit_scale"}
    for s in ("weight", "bias"):
        ren.update({"visual.ln_pre." + s: "vision_model.pre_layrnorm." + s,
                    "visual.ln_post." + s: "vision_model.post_layernorm." + s,
                    "ln_final." + s: "text_model.final_layer_norm." + s})
    w.update({b: sd[a] for a, b in ren.items()})
    w["visual_projection.weight"] = sd["visual.proj"].T
    w["text_projection.weight"] = sd["text_projection"].T
    hsd = hf.state_dict()
    w = {k: w.get(k, hsd[k]) for k in hsd}
    hf.load_state_dict(w)
    g = torch.Generator().manual_seed(9)
    img = torch.randn(3, 3, c["image_size"], c["image_size"], generator=g)
    tok = torch.tensor([[c["vocab_size"] - 2, 5, 300, 7, c["vocab_size"] - 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]])
    di = (m.encode_image(img) - hf.get_image_features(img)).abs().max().item()
    dt = (m.encode_text(tok) - hf.get_text_features(tok)).abs().max().item()
    print("cross-check openai vs hf re-implementation: max abs diff image %.2e text %.2e" % (di, dt))
    assert di < 1e-4 and dt < 1e-4, "reference implementations disagree"


def check_tokenizer():
    """The Python tokenizer port against the reference ids of the real vocabulary."""
    cases = os.path.join(REAL_BPE, "tokenizer_cases.jsonl")
    if not os.path.exists(cases):
        print("tokenizer check skipped: %s not found" % cases)
        return
    merges = gzip.open(os.path.join(REAL_BPE, "bpe_simple_vocab_16e6.txt.gz")).read().decode().split("\n")
    tok = R.SimpleTokenizer(merges[1:49152 - 256 - 2 + 1])
    bad = 0
    for line in open(cases, encoding="utf-8"):
        case = json.loads(line)
        got = [tok.sot] + tok.encode(case["text"]) + [tok.eot]
        if got != case["ids"][: len(got)] or len(got) != len(case["ids"]):
            bad += 1
            print("tokenizer port differs on %r" % case["text"])
    print("tokenizer port: %d differences on the real-vocabulary cases" % bad)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "testdata", "parity"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    check_tokenizer()
    merges = R.train_bpe(CORPUS, N_MERGES)
    assert len(merges) == N_MERGES, "corpus too small for %d merges (got %d)" % (N_MERGES, len(merges))
    models = {layout: make(layout, c, merges, args.out) for layout, c in FIXTURES.items()}
    cross_check(models)


if __name__ == "__main__":
    main()
