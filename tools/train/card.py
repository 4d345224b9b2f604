"""Writes a markdown model card for a trained run: architecture, parameters,
FLOPs per image and per query, training data and seed, evaluation table.

    /usr/bin/python3 tools/train/card.py --run tools/train/runs/teacher/final.pt \\
        --name world-teacher-f32 --out models/shipped/world-teacher-f32.md [--teacher-run T/final.pt]
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clipmodel as cm  # noqa: E402

METRICS = [("zs_color_seen", "zero-shot colour, seen pairs"), ("zs_shape_seen", "zero-shot shape, seen pairs"),
           ("zs_color_held", "zero-shot colour, held-out pairs"), ("zs_shape_held", "zero-shot shape, held-out pairs"),
           ("t2i_r1_seen", "text→image R@1, seen pairs"), ("i2t_r1_seen", "image→text R@1, seen pairs"),
           ("t2i_r1_held", "text→image R@1, held-out pairs"), ("i2t_r1_held", "image→text R@1, held-out pairs")]


def text_flops(cfg, n):
    t = cfg["text"]
    w, h = t["width"], t["mlp_width"]
    per = 2 * n * w * 3 * w + 2 * n * n * w * 2 + 2 * n * w * w + 2 * n * w * h * 2
    return per * t["layers"] + 2 * w * cfg["embed_dim"]


def tower(t):
    return "width %d, %d layers, %d heads, MLP %d" % (t["width"], t["layers"], t["heads"], t["mlp_width"])


def card(name, run, teacher=None, command=""):
    cfg, sd, st, args = run["cfg"], run["model"], run["state"], run["args"]
    n_img = sum(v.numel() for k, v in sd.items() if k.startswith("visual."))
    n_txt = sum(v.numel() for k, v in sd.items() if k.startswith("text."))
    ev = run["eval"]
    lines = [
        "# %s" % name, "",
        "A CLIP trained by edgeclip's own toolchain (`tools/train`) on the synthetic shapes world "
        "(`tools/world`); no external data or weights.", "",
        "## Architecture", "",
        "| | |", "|---|---|",
        "| input | %d×%d RGB, patch %d (%d tokens), OpenAI mean/std |" % (
            cfg["image_size"], cfg["image_size"], cfg["patch_size"], (cfg["image_size"] // cfg["patch_size"]) ** 2 + 1),
        "| image tower | ViT, %s |" % tower(cfg["vision"]),
        "| text tower | %s, context %d, vocabulary %d (BPE trained on the captions) |" % (
            tower(cfg["text"]), cfg["context_length"], cfg["vocab_size"]),
        "| embedding | %d, activation %s, logit scale %.2f |" % (cfg["embed_dim"], cfg["activation"],
                                                              float(sd["logit_scale"].exp().clamp(max=100))),
        "| parameters | image %.2fM, text %.2fM, total %.2fM |" % (n_img / 1e6, n_txt / 1e6, (n_img + n_txt) / 1e6),
        "| FLOPs | %.0f MFLOP per image; %.1f MFLOP per 8-token query |" % (
            cm.image_flops(cfg) / 1e6, text_flops(cfg, 8) / 1e6),
    ]
    if teacher:
        r = cm.image_flops(cfg) / cm.image_flops(teacher["cfg"])
        lines.append("| vs teacher | %.0f %% of the teacher's image FLOPs |" % (100 * r))
    lines += [
        "", "## Training", "",
        "- Data: fresh samples from `edgeclip synth --stream --split train --seed %d` (64 px, 1–3 objects, "
        "8 shapes × 8 colours minus 7 held-out pairs), never repeated." % args["seed"],
        "- %d steps, batch %d, %d samples, %.1f minutes wall clock on 2 shared CPU cores (`--device %s`)." % (
            st["step"], args["bs"], st["samples"], st["elapsed"] / 60, args["device"]),
        "- AdamW lr %g, wd %g, warmup %d, cosine over the budget." % (args["lr"], args["wd"], args["warmup"]),
    ]
    if command:
        lines.append("- Command: `%s`" % command)
    lines += ["", "## Evaluation (tools/train/evalworld.py, fixed sets, seeds 1001–1004)", "",
              "| metric | value |" + (" teacher |" if teacher else ""), "|---|---|" + ("---|" if teacher else "")]
    for k, label in METRICS:
        row = "| %s | %.1f %% |" % (label, 100 * ev[k])
        if teacher:
            row += " %.1f %% |" % (100 * teacher["eval"][k])
        lines.append(row)
    lines += ["", "Held-out pairs (red circle, green square, blue triangle, yellow star, purple cross, orange "
              "hexagon, pink diamond) never appear in training; they measure compositional generalisation.", ""]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--teacher-run")
    ap.add_argument("--command", default="")
    a = ap.parse_args(argv)
    run = torch.load(a.run, map_location="cpu")
    teacher = torch.load(a.teacher_run, map_location="cpu") if a.teacher_run else None
    with open(a.out, "w") as f:
        f.write(card(a.name, run, teacher, a.command))
    print("wrote", a.out)


if __name__ == "__main__":
    main()
