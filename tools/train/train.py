"""Trains a CLIP on the synthetic world, reading fresh samples forever from
`edgeclip synth --stream` (no finite dataset).

Loss: symmetric InfoNCE with a learnable temperature (identical captions in a
batch count as positives), plus optional terms:
  --aux-weight     closed-vocabulary prompt contrast: each image against the
                   8 shape prompts and the 8 colour prompts (hard negatives that
                   differ only in shape or only in colour), which teaches the
                   image tower to factor shape from colour;
  --simclr-weight  SimCLR image–image contrast between two augmented views.
AdamW, linear warmup, cosine decay over --minutes of wall clock or --steps.
Checkpoints every --ckpt-minutes to OUT/ckpt.pt; --resume continues one.
OUT/log.jsonl has one JSON object per log line and per evaluation.

    /usr/bin/python3 tools/train/train.py --preset teacher --minutes 55 --out tools/train/runs/teacher
"""
import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
import clipmodel as cm  # noqa: E402
import evalworld  # noqa: E402
import stream  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

PRESETS = {
    # ≈ 250 MFLOP per image at 64 px (w192 L6 was too slow on 2 shared cores).
    "teacher": dict(vw=192, vl=4, vh=3, tw=128, tl=3, th=2, embed=128),
    # ≈ 74 MFLOP per image (under 30 % of the teacher): MLP ratio 3.
    "student": dict(vw=128, vl=3, vh=2, tw=128, tl=3, th=2, embed=128, mlp_ratio=3),
    # Seconds-long smoke tests.
    "tiny": dict(vw=32, vl=1, vh=2, tw=32, tl=1, th=2, embed=16),
}

_a = evalworld.article
SHAPE_TEMPLATES = [lambda s: "a photo of " + _a(s), _a, lambda s: "a picture of " + _a(s),
                   lambda s: "an image of " + _a(s)]
COLOR_TEMPLATES = [lambda c: "a photo of " + _a(c + " object"), lambda c: "something " + c,
                   lambda c: _a(c + " shape"), lambda c: _a(c + " object")]


def common_args(ap):
    ap.add_argument("--out", required=True, help="run directory (checkpoint, log, final weights)")
    ap.add_argument("--bin", default=stream.default_binary(), help="edgeclip binary with the synth command")
    ap.add_argument("--tokenizer", default=os.path.join(HERE, "world_bpe.json"))
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--size", type=int, default=64)
    # Small batches: at a few thousand steps per run, more updates per sample
    # beat more negatives per update.
    ap.add_argument("--bs", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=150, help="warmup steps")
    ap.add_argument("--minutes", type=float, default=0, help="wall-clock budget (cosine schedule over it)")
    ap.add_argument("--steps", type=int, default=0, help="step budget (used when --minutes is 0)")
    ap.add_argument("--eval-minutes", type=float, default=10)
    ap.add_argument("--ckpt-minutes", type=float, default=5)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--eval-n", type=int, default=1000, help="seen eval set size (held-out is half)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (OpenBLAS uses all cores anyway)")
    ap.add_argument("--aux-weight", type=float, default=1.0)
    ap.add_argument("--simclr-weight", type=float, default=0.0)
    ap.add_argument("--recolor", type=float, default=0.0,
                    help="fraction of each batch also seen with permuted colour channels, for shape only")


def make_optimizer(model, lr, wd):
    decay, rest = [], []
    for n, p in model.named_parameters():
        (decay if p.ndim == 2 and "embedding" not in n else rest).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": wd}, {"params": rest, "weight_decay": 0.0}],
                             lr=lr, betas=(0.9, 0.98), eps=1e-6)


class Schedule:
    """Warmup then cosine to zero over a step or wall-clock budget."""

    def __init__(self, lr, warmup, steps, seconds):
        self.lr, self.warmup, self.steps, self.seconds = lr, warmup, steps, seconds

    def progress(self, step, elapsed):
        return elapsed / self.seconds if self.seconds else step / max(1, self.steps)

    def __call__(self, step, elapsed):
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        p = min(1.0, self.progress(step, elapsed))
        return self.lr * 0.5 * (1 + math.cos(math.pi * p))


class Batcher:
    """Turns stream records into tensors: images, token ids of one random
    caption each, and shape/colour multi-hot targets."""

    def __init__(self, tok, context, seed):
        self.tok, self.context = tok, context
        self.rng = random.Random(seed)
        self.cache = {}

    def ids(self, texts):
        out = []
        for t in texts:
            if t not in self.cache:
                self.cache[t] = self.tok.tokenize([t], self.context)[0]
            out.append(self.cache[t])
        return torch.tensor(out)

    def __call__(self, recs):
        imgs = np.stack([px for _, px in recs])
        caps = [self.rng.choice(h["captions"]) for h, _ in recs]
        shapes = torch.zeros(len(recs), 8)
        colors = torch.zeros(len(recs), 8)
        for i, (h, _) in enumerate(recs):
            for o in h["labels"]["objects"]:
                shapes[i, evalworld.SHAPES.index(o["shape"])] = 1
                colors[i, evalworld.COLORS.index(o["color"])] = 1
        same = torch.tensor([[a == b for b in caps] for a in caps])
        return imgs, caps, self.ids(caps), same, shapes, colors


def aux_loss(model, batcher, img, shapes, colors, rimg=None, rshapes=None):
    """Each image against all 8 shape prompts and all 8 colour prompts (one
    random template per step); targets spread over the objects present.
    rimg are embeddings of recoloured copies, scored on shape alone."""
    st = batcher.rng.choice(SHAPE_TEMPLATES)
    ct = batcher.rng.choice(COLOR_TEMPLATES)
    texts = [st(s) for s in evalworld.SHAPES] + [ct(c) for c in evalworld.COLORS]
    p = model.encode_text(batcher.ids(texts).to(img.device))
    logits = model.scale() * img @ p.t()
    ts = shapes.to(img.device) / shapes.sum(1, keepdim=True).to(img.device)
    tc = colors.to(img.device) / colors.sum(1, keepdim=True).to(img.device)
    loss = (cm.soft_ce(logits[:, :8], ts) + cm.soft_ce(logits[:, 8:], tc)) / 2
    if rimg is not None:
        rs = rshapes.to(img.device) / rshapes.sum(1, keepdim=True).to(img.device)
        loss = loss + cm.soft_ce(model.scale() * rimg @ p[:8].t(), rs) / 2
    return loss


def recolor(imgs, n, rng):
    """Copies of the first n images with their RGB channels permuted (a
    non-identity permutation each): same shapes, different colours."""
    perms = [(0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]
    return np.stack([imgs[i][..., list(rng.choice(perms))] for i in range(n)])


def augment(x, gen):
    """SimCLR view: random shift up to 1/8 of the image and a horizontal flip
    (no colour jitter: colour is a label)."""
    b, _, h, w = x.shape
    dy, dx = (torch.randint(-h // 8, h // 8 + 1, (2,), generator=gen)).tolist()
    x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
    if torch.rand(1, generator=gen).item() < 0.5:
        x = x.flip(3)
    return x + 0.05 * torch.randn(x.shape, generator=gen).to(x.device)


def simclr_loss(a, b, temp=0.1):
    z = torch.cat([a, b])
    sim = z @ z.t() / temp
    sim.fill_diagonal_(float("-inf"))
    n = len(a)
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(a.device)
    return F.cross_entropy(sim, target)


class Logger:
    def __init__(self, path):
        self.f = open(path, "a")

    def write(self, rec):
        self.f.write(json.dumps(rec) + "\n")
        self.f.flush()

    def close(self):
        self.f.close()


def save_ckpt(path, **state):
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def fmt_time(s):
    s = int(s)
    return "%d:%02d:%02d" % (s // 3600, s // 60 % 60, s % 60)


def run_loop(a, model, opt, step_fn, state, tok, log, tag, data=None):
    """The shared training loop: schedule, data, logging, eval, checkpoints.
    step_fn(batch, batcher) returns (loss tensor, dict of float parts). data
    defaults to the world stream, resumed at the sample count."""
    sched = Schedule(a.lr, a.warmup, a.steps, a.minutes * 60)
    data = data or stream.Endless(a.bin, a.seed, start=state["samples"], size=a.size)
    batcher = Batcher(tok, model.cfg["context_length"], a.seed * 1000 + state["step"])
    sets = evalworld.EvalSets(a.bin, a.size, a.eval_n, a.eval_n // 2)
    ckpt_path = os.path.join(a.out, "ckpt.pt")
    t0 = time.time() - state["elapsed"]
    last_ckpt = last_eval = time.time()
    done = lambda: (a.minutes and time.time() - t0 >= a.minutes * 60) or (not a.minutes and state["step"] >= a.steps)
    try:
        while not done():
            elapsed = time.time() - t0
            lr = sched(state["step"], elapsed)
            for g in opt.param_groups:
                g["lr"] = lr
            loss, parts = step_fn(batcher(data.get(a.bs)), batcher)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            state["step"] += 1
            state["samples"] += a.bs
            state["elapsed"] = time.time() - t0
            if state["step"] % a.log_every == 0:
                p = min(1.0, sched.progress(state["step"], state["elapsed"]))
                eta = state["elapsed"] * (1 - p) / max(p, 1e-9)
                rec = dict(step=state["step"], samples=state["samples"], elapsed=round(state["elapsed"], 1),
                           lr=lr, scale=float(model.scale()), loss=float(loss), **parts)
                log.write(rec)
                print("[%s] step %d  %d samples  %.0f/s  loss %.3f %s  lr %.2e  %s elapsed, ETA %s" % (
                    tag, state["step"], state["samples"], state["samples"] / max(1, state["elapsed"]),
                    float(loss), " ".join("%s %.3f" % kv for kv in parts.items()), lr,
                    fmt_time(state["elapsed"]), fmt_time(eta)), flush=True)
            if time.time() - last_eval >= a.eval_minutes * 60:
                do_eval(model, tok, sets, state, log, tag)
                last_eval = time.time()
            if time.time() - last_ckpt >= a.ckpt_minutes * 60:
                save_ckpt(ckpt_path, model=model.state_dict(), opt=opt.state_dict(), state=state,
                          cfg=model.cfg, args=vars(a))
                last_ckpt = time.time()
    finally:
        data.close()
    save_ckpt(ckpt_path, model=model.state_dict(), opt=opt.state_dict(), state=state, cfg=model.cfg, args=vars(a))
    res = do_eval(model, tok, sets, state, log, tag)
    final = {"cfg": model.cfg, "model": model.state_dict(), "state": state, "eval": res, "args": vars(a)}
    torch.save(final, os.path.join(a.out, "final.pt"))
    return res


def do_eval(model, tok, sets, state, log, tag):
    t = time.time()
    res = evalworld.evaluate(model, tok, sets)
    log.write(dict(step=state["step"], samples=state["samples"], elapsed=round(state["elapsed"], 1), eval=res))
    print("[%s] eval at step %d (%.0fs): %s" % (tag, state["step"], time.time() - t,
                                               " ".join("%s %.3f" % kv for kv in res.items())), flush=True)
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(ap)
    ap.add_argument("--preset", default="teacher", choices=sorted(PRESETS))
    ap.add_argument("--context", type=int, default=32)
    ap.add_argument("--activation", default="quick_gelu", choices=["quick_gelu", "gelu"])
    a = ap.parse_args(argv)
    if not a.minutes and not a.steps:
        ap.error("give --minutes or --steps")
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    tok = bpe.load(a.tokenizer)
    cfg = cm.make_config(image_size=a.size, context=a.context, vocab=len(tok), activation=a.activation,
                         **PRESETS[a.preset])
    model = cm.CLIP(cfg, tok.eot).to(a.device)
    opt = make_optimizer(model, a.lr, a.wd)
    state = {"step": 0, "samples": 0, "elapsed": 0.0}
    ckpt = os.path.join(a.out, "ckpt.pt")
    if a.resume and os.path.exists(ckpt):
        c = torch.load(ckpt, map_location=a.device)
        model.load_state_dict(c["model"])
        opt.load_state_dict(c["opt"])
        state = c["state"]
        print("resumed at step %d (%d samples, %s)" % (state["step"], state["samples"], fmt_time(state["elapsed"])))
    n_img = sum(p.numel() for n, p in model.named_parameters() if n.startswith("visual."))
    n_txt = sum(p.numel() for n, p in model.named_parameters() if n.startswith("text."))
    print("model %s: image %.2fM params %.0f MFLOP/img, text %.2fM params" % (
        a.preset, n_img / 1e6, cm.image_flops(cfg) / 1e6, n_txt / 1e6), flush=True)
    log = Logger(os.path.join(a.out, "log.jsonl"))
    log.write({"start": vars(a), "cfg": cfg, "state": state})
    gen = torch.Generator().manual_seed(a.seed)

    def step_fn(batch, batcher):
        imgs, caps, ids, same, shapes, colors = batch
        x = model.preprocess(imgs)
        ie = model.encode_image(x)
        te = model.encode_text(ids.to(a.device))
        loss = cm.clip_loss(ie, te, model.scale(), same.to(a.device))
        parts = {"clip": float(loss)}
        if a.aux_weight:
            rie = rsh = None
            if a.recolor:
                k = max(1, int(len(imgs) * a.recolor))
                rie = model.encode_image(model.preprocess(recolor(imgs, k, batcher.rng)))
                rsh = shapes[:k]
            la = aux_loss(model, batcher, ie, shapes, colors, rie, rsh)
            parts["aux"] = float(la)
            loss = loss + a.aux_weight * la
        if a.simclr_weight:
            ls = simclr_loss(ie, model.encode_image(augment(x, gen)))
            parts["simclr"] = float(ls)
            loss = loss + a.simclr_weight * ls
        return loss, parts

    res = run_loop(a, model, opt, step_fn, state, tok, log, a.preset)
    log.close()
    print(json.dumps(res))


if __name__ == "__main__":
    main()
