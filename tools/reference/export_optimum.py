"""Exports a Hugging Face layout CLIP as an Optimum-style ONNX pair.

    /usr/bin/python3 tools/reference/export_optimum.py MODEL_DIR OUT_DIR

MODEL_DIR holds config.json and model.safetensors of a transformers
CLIPModel (e.g. models/testdata/parity/hf/model). OUT_DIR receives
  image.onnx  pixel_values [batch, 3, S, S]                  -> image_embeds [batch, E]
  text.onnx   input_ids, attention_mask [batch, sequence]    -> text_embeds [batch, E]
with the names, dynamic axes and maths of Optimum's CLIP vision/text
"with projection" exports: unnormalised embeddings, the attention mask
applied to keys on top of the causal mask, and pooling at argmax(input_ids)
(transformers' legacy eos_token_id == 2 rule). torch.onnx.export, opset 17.
The model classes come from clip_ref.py; no transformers or optimum needed.
"""
import json
import os
import struct
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clip_ref as R  # noqa: E402

_NP = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, h in header.items():
        a, b = h["data_offsets"]
        arr = np.frombuffer(data[8 + n + a:8 + n + b], dtype=_NP[h["dtype"]]).reshape(h["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


class Vision(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, pixel_values):
        return self.m.get_image_features(pixel_values)


class Text(nn.Module):
    """transformers' CLIPTextTransformer + text_projection, mask included."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask):
        tm = self.m.text_model
        n = input_ids.shape[1]
        x = tm.embeddings.token_embedding(input_ids) + tm.embeddings.position_embedding(
            tm.embeddings.position_ids[:, :n])
        neg = torch.finfo(x.dtype).min
        causal = torch.full((n, n), neg).triu(1)[None, None]
        pad = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * neg
        x = tm.final_layer_norm(tm.encoder(x, causal + pad))
        pooled = x[torch.arange(x.shape[0]), input_ids.to(torch.int).argmax(dim=-1)]
        return self.m.text_projection(pooled)


def main(model_dir, out_dir):
    torch.set_num_threads(1)
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    m = R.HFCLIPModel(cfg).eval()
    sd = load_safetensors(os.path.join(model_dir, "model.safetensors"))
    missing, unexpected = m.load_state_dict(sd, strict=False)
    if [k for k in missing if not k.endswith("position_ids")] or unexpected:
        raise SystemExit(f"state dict mismatch: missing {missing}, unexpected {unexpected}")
    os.makedirs(out_dir, exist_ok=True)
    s = cfg["vision_config"]["image_size"]
    with torch.no_grad():
        torch.onnx.export(Vision(m), (torch.randn(2, 3, s, s),), os.path.join(out_dir, "image.onnx"),
                          input_names=["pixel_values"], output_names=["image_embeds"],
                          dynamic_axes={"pixel_values": {0: "batch"}, "image_embeds": {0: "batch"}},
                          opset_version=17, do_constant_folding=True)
        ids = torch.tensor([[5, 6, 7, 9], [5, 9, 0, 0]], dtype=torch.int64)
        mask = (torch.arange(4)[None] < torch.tensor([[4], [2]])).to(torch.int64)
        torch.onnx.export(Text(m), (ids, mask), os.path.join(out_dir, "text.onnx"),
                          input_names=["input_ids", "attention_mask"], output_names=["text_embeds"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                                        "attention_mask": {0: "batch", 1: "sequence"},
                                        "text_embeds": {0: "batch"}},
                          opset_version=17, do_constant_folding=True)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
