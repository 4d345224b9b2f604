"""Distils a teacher CLIP into a smaller student.

Losses (weights by flag):
  --emb-weight   embedding matching: 1 − cos(student, teacher) on images (and
                 on captions when there are any);
  --kd-weight    KL between the teacher's and the student's image–text
                 similarity distributions over the batch, both directions;
  --clip-weight  the student's own symmetric InfoNCE on image–caption pairs.
With --images-only, or --images DIR of a user's unlabeled footage (PNG/JPEG
files, resized to the model's input), only embedding matching (plus an
optional --simclr-weight term) is used: no captions are needed.

The student's projection lands in the teacher's embedding space (same
embed_dim), so its text tower starts as a copy of the teacher's when their
shapes agree (--no-copy-text turns this off).

    /usr/bin/python3 tools/train/distill.py --teacher tools/train/runs/teacher/final.pt \\
        --minutes 30 --out tools/train/runs/student
"""
import argparse
import glob
import os
import random
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
import clipmodel as cm  # noqa: E402
import train  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import modelfile  # noqa: E402


def load_teacher(path, device):
    """A CLIP from a run's .pt file or from a native model file. Returns
    (model, tokenizer or None)."""
    if path.endswith(".pt"):
        c = torch.load(path, map_location="cpu")
        cfg, sd, tok = c["cfg"], c["model"], None
        sd = {k: v for k, v in sd.items()}
    else:
        import json
        meta, tensors = modelfile.read_model(path)
        cfg = json.loads(meta["edgeclip.config"])
        tok = bpe.Tokenizer(json.loads(meta["edgeclip.tokenizer"])["merges"])
        sd = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in tensors.items()}
        sd["logit_scale"] = torch.tensor(float(np.log(cfg["logit_scale"])))
    eot = cfg["vocab_size"] - 1  # <|endoftext|> is the last id of a derived vocabulary
    m = cm.CLIP(cfg, eot)
    m.load_state_dict(sd)
    return m.to(device).eval(), tok


class FolderImages:
    """Endless random draws from a folder of images, as stream records with no
    captions or labels."""

    def __init__(self, folder, size, seed):
        from PIL import Image
        files = sorted(f for ext in ("png", "jpg", "jpeg") for f in glob.glob(os.path.join(folder, "*." + ext)))
        if not files:
            raise SystemExit("distill: no PNG or JPEG files in %s" % folder)
        self.imgs = [np.asarray(Image.open(f).convert("RGB").resize((size, size), Image.BILINEAR)) for f in files]
        self.rng = random.Random(seed)

    def get(self, n):
        hdr = {"captions": [""], "labels": {"objects": []}}
        return [(hdr, self.imgs[self.rng.randrange(len(self.imgs))]) for _ in range(n)]

    def close(self):
        pass


def kd_loss(s_logits, t_logits):
    """KL(teacher || student) over rows and over columns."""
    kl = lambda s, t: F.kl_div(s.log_softmax(-1), t.log_softmax(-1), log_target=True, reduction="batchmean")
    return (kl(s_logits, t_logits) + kl(s_logits.t(), t_logits.t())) / 2


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    train.common_args(ap)
    ap.set_defaults(aux_weight=0.0, lr=7e-4, warmup=100)
    ap.add_argument("--teacher", required=True, help="teacher run file (final.pt) or model file")
    ap.add_argument("--preset", default="student", choices=sorted(train.PRESETS))
    ap.add_argument("--emb-weight", type=float, default=2.0)
    ap.add_argument("--kd-weight", type=float, default=1.0)
    ap.add_argument("--clip-weight", type=float, default=1.0)
    ap.add_argument("--images-only", action="store_true", help="embedding matching on images alone")
    ap.add_argument("--images", help="folder of unlabeled images to distil on (implies --images-only)")
    ap.add_argument("--no-copy-text", action="store_true")
    a = ap.parse_args(argv)
    if not a.minutes and not a.steps:
        ap.error("give --minutes or --steps")
    images_only = a.images_only or bool(a.images)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    teacher, ttok = load_teacher(a.teacher, a.device)
    for p in teacher.parameters():
        p.requires_grad_(False)
    tok = ttok or bpe.load(a.tokenizer)
    tc = teacher.cfg
    p = train.PRESETS[a.preset]
    cfg = cm.make_config(image_size=tc["image_size"], patch_size=tc["patch_size"], context=tc["context_length"],
                         vocab=tc["vocab_size"], activation=tc["activation"],
                         **dict(p, embed=tc["embed_dim"]))
    student = cm.CLIP(cfg, tok.eot).to(a.device)
    if not a.no_copy_text and cfg["text"] == tc["text"]:
        student.text.load_state_dict(teacher.text.state_dict())
        student.logit_scale.data.copy_(teacher.logit_scale.data)
        print("student text tower copied from the teacher")
    opt = train.make_optimizer(student, a.lr, a.wd)
    state = {"step": 0, "samples": 0, "elapsed": 0.0}
    ckpt = os.path.join(a.out, "ckpt.pt")
    if a.resume and os.path.exists(ckpt):
        c = torch.load(ckpt, map_location=a.device)
        student.load_state_dict(c["model"])
        opt.load_state_dict(c["opt"])
        state = c["state"]
        print("resumed at step %d" % state["step"])
    print("teacher %.0f MFLOP/img, student %.0f MFLOP/img (%.0f %%)" % (
        cm.image_flops(tc) / 1e6, cm.image_flops(cfg) / 1e6, 100 * cm.image_flops(cfg) / cm.image_flops(tc)),
        flush=True)
    log = train.Logger(os.path.join(a.out, "log.jsonl"))
    log.write({"start": vars(a), "cfg": cfg, "teacher_cfg": tc, "state": state})
    gen = torch.Generator().manual_seed(a.seed)

    def step_fn(batch, batcher):
        imgs, caps, ids, same, shapes, colors = batch
        x = student.preprocess(imgs)
        with torch.no_grad():
            t_img = teacher.encode_image(x)
        s_img = student.encode_image(x)
        l_emb = (1 - (s_img * t_img).sum(-1)).mean()
        parts = {"emb_img": float(l_emb)}
        loss = a.emb_weight * l_emb
        if not images_only:
            ids = ids.to(a.device)
            with torch.no_grad():
                t_txt = teacher.encode_text(ids)
                t_logits = teacher.scale() * t_img @ t_txt.t()
            s_txt = student.encode_text(ids)
            l_txt = (1 - (s_txt * t_txt).sum(-1)).mean()
            l_kd = kd_loss(student.scale() * s_img @ s_txt.t(), t_logits)
            l_clip = cm.clip_loss(s_img, s_txt, student.scale(), same.to(a.device))
            parts.update(emb_txt=float(l_txt), kd=float(l_kd), clip=float(l_clip))
            loss = loss + a.emb_weight * l_txt + a.kd_weight * l_kd + a.clip_weight * l_clip
            if a.aux_weight:
                la = train.aux_loss(student, batcher, s_img, shapes, colors)
                parts["aux"] = float(la)
                loss = loss + a.aux_weight * la
        if a.simclr_weight:
            ls = train.simclr_loss(s_img, student.encode_image(train.augment(x, gen)))
            parts["simclr"] = float(ls)
            loss = loss + a.simclr_weight * ls
        return loss, parts

    data = FolderImages(a.images, cfg["image_size"], a.seed) if a.images else None
    res = train.run_loop(a, student, opt, step_fn, state, tok, log, "student", data)
    log.close()
    print(res)


if __name__ == "__main__":
    main()
