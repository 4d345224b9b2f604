"""Smoke tests of the training toolchain: a tiny CLIP trains a few steps from
the world stream, resumes, distils, exports and reads back, in seconds.

    /usr/bin/python3 -m unittest tools/train/test_smoke.py
It needs the edgeclip binary (bin/edgeclip); it is built with `go build` when
missing.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import bpe  # noqa: E402
import clipmodel as cm  # noqa: E402
import distill  # noqa: E402
import export  # noqa: E402
import modelfile  # noqa: E402
import stream  # noqa: E402
import train  # noqa: E402

torch.set_num_threads(1)


def edgeclip_binary(tmp):
    b = stream.default_binary()
    if os.path.exists(b):
        return b
    b = os.path.join(tmp, "edgeclip")
    subprocess.run(["go", "build", "-o", b, "./cmd/edgeclip"], cwd=ROOT, check=True)
    return b


class TestBPE(unittest.TestCase):
    def test_words_become_single_tokens(self):
        texts = ["a red circle", "two blue squares", "a photo of an orange hexagon"]
        tok = bpe.Tokenizer(bpe.train_merges(texts))
        for t in texts:
            self.assertEqual(len(tok.encode(t)), len(t.split()), t)
        self.assertEqual(len(tok), 512 + len(tok.merges) + 2)
        self.assertEqual((tok.sot, tok.eot), (len(tok) - 2, len(tok) - 1))
        # Unknown words fall back to byte symbols rather than failing.
        self.assertGreater(len(tok.encode("zebra")), 1)
        ids = tok.tokenize(["a red circle"], 8)[0]
        self.assertEqual(ids[:5], [tok.sot] + tok.encode("a red circle") + [tok.eot])
        self.assertEqual(ids[5:], [0, 0, 0])

    def test_shipped_merges_cover_captions(self):
        tok = bpe.load(os.path.join(HERE, "world_bpe.json"))
        for t in ["a photo of a yellow star", "three crosses", "a small pink diamond at the bottom"]:
            self.assertEqual(len(tok.encode(t)), len(t.split()), t)


class TestModel(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        self.cfg = cm.make_config(vocab=600, context=12, **train.PRESETS["tiny"])
        self.m = cm.CLIP(self.cfg, 599).eval()

    def test_patch_embed_is_a_conv(self):
        x = torch.randn(2, 3, 64, 64)
        p = self.cfg["patch_size"]
        w = self.m.visual.patch_embed.weight.view(-1, 3, p, p)
        conv = F.conv2d(x, w, stride=p).flatten(2).transpose(1, 2)
        got = x.reshape(2, 3, 8, p, 8, p).permute(0, 2, 4, 1, 3, 5).reshape(2, 64, -1) @ \
            self.m.visual.patch_embed.weight.t()
        self.assertTrue(torch.allclose(conv, got, atol=1e-5))

    def test_text_pools_at_end_token(self):
        ids = torch.tensor([[598, 5, 6, 599, 0, 0, 0, 0, 0, 0, 0, 0]])
        a = self.m.encode_text(ids)
        b = self.m.text(ids, 599)  # untrimmed padding
        self.assertTrue(torch.allclose(a, F.normalize(b, dim=-1), atol=1e-6))
        ids2 = ids.clone()
        ids2[0, 5] = 7  # a token after the end cannot change the result
        self.assertTrue(torch.allclose(self.m.text(ids2, 599), b, atol=1e-6))

    def test_state_names_are_native(self):
        names = set(self.m.state_dict()) - {"logit_scale"}
        want = set(modelfile.required_shapes(self.cfg))
        self.assertEqual(names, want)
        for k, v in self.m.export_tensors().items():
            self.assertEqual(tuple(v.shape), tuple(modelfile.required_shapes(self.cfg)[k]), k)


class TestPipeline(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cls.bin = edgeclip_binary(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def common(self, out, steps):
        return ["--bin", self.bin, "--out", out, "--steps", str(steps), "--bs", "16", "--eval-n", "40",
                "--warmup", "2", "--log-every", "2"]

    def test_train_resume_distill_export(self):
        t = os.path.join(self.tmp, "teacher")
        train.main(["--preset", "tiny", "--context", "24", "--simclr-weight", "0.5", "--recolor", "0.25"] +
                   self.common(t, 4))
        train.main(["--preset", "tiny", "--context", "24", "--resume"] + self.common(t, 6))
        c = torch.load(os.path.join(t, "final.pt"))
        self.assertEqual(c["state"]["step"], 6)
        self.assertEqual(c["state"]["samples"], 96)
        for k in ("zs_shape_seen", "zs_color_held", "t2i_r1_seen"):
            self.assertTrue(0 <= c["eval"][k] <= 1, k)
        with open(os.path.join(t, "log.jsonl")) as fh:
            logs = [json.loads(line) for line in fh]
        self.assertTrue(any("eval" in r for r in logs))
        self.assertTrue(all(np.isfinite(r["loss"]) for r in logs if "loss" in r))

        # Export and read back.
        f = os.path.join(self.tmp, "tiny.safetensors")
        export.main(["--run", os.path.join(t, "final.pt"), "--name", "tiny", "--out", f, "--bin", self.bin])
        meta, tensors = modelfile.read_model(f)
        self.assertEqual(meta["edgeclip.name"], "tiny")
        cfg = json.loads(meta["edgeclip.config"])
        self.assertEqual(cfg["vision"]["width"], 32)
        with open(os.path.join(self.tmp, "tiny.expected.json")) as fh:
            exp = json.load(fh)
        self.assertTrue(os.path.exists(os.path.join(self.tmp, exp["images"][0]["file"])))
        e = np.array(exp["images"][0]["embedding"])
        self.assertAlmostEqual(float(np.linalg.norm(e)), 1.0, places=4)

        # Distil from the run file and from the exported model file, with
        # captions and on images alone.
        s = os.path.join(self.tmp, "student")
        distill.main(["--teacher", os.path.join(t, "final.pt"), "--preset", "tiny"] + self.common(s, 3))
        self.assertEqual(torch.load(os.path.join(s, "final.pt"))["state"]["step"], 3)
        s2 = os.path.join(self.tmp, "student2")
        distill.main(["--teacher", f, "--preset", "tiny", "--images-only"] + self.common(s2, 2))
        self.assertEqual(torch.load(os.path.join(s2, "final.pt"))["state"]["step"], 2)


if __name__ == "__main__":
    unittest.main()
