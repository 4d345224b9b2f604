#!/usr/bin/python3
"""Turn a PyTorch checkpoint into a safetensors file for `edgeclip convert`.

edgeclip never unpickles: Go reads safetensors only. This tool does the one
unpickling step, in PyTorch, on a machine you trust it on.

Accepted inputs
  * an OpenAI CLIP TorchScript archive (ViT-B-32.pt from clip.load's cache):
    read with torch.jit.load(...).state_dict(), as clip.load(jit=False) does;
  * a plain state dict saved with torch.save (.pt, .pth, .bin, e.g. a Hugging
    Face pytorch_model.bin);
  * a training checkpoint holding the state dict under "state_dict" (OpenCLIP
    logs/*/checkpoints/epoch_N.pt); a "module." prefix left by
    DistributedDataParallel is removed.

Plain pickles are loaded with torch.load(weights_only=True), which refuses
arbitrary objects; pass --unsafe to allow a full unpickle of a file you trust.
Tensors keep their dtype unless --dtype f32 or f16 casts the float ones.

Usage (Debian's python3-torch):
    /usr/bin/python3 tools/pt2safetensors.py ViT-B-32.pt ViT-B-32.safetensors
    edgeclip convert --from openai ViT-B-32.safetensors --bpe bpe_simple_vocab_16e6.txt.gz --out vitb32.safetensors
"""
import argparse
import json
import os
import struct
import sys

import torch

DTYPES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL",
}


def load_state_dict(path, unsafe):
    """Returns {name: tensor} from a TorchScript archive or a pickled checkpoint."""
    try:
        return dict(torch.jit.load(path, map_location="cpu").state_dict())
    except RuntimeError:
        pass  # not TorchScript: a pickle
    obj = torch.load(path, map_location="cpu", weights_only=not unsafe)
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        sys.exit("%s: holds a %s, not a state dict" % (path, type(obj).__name__))
    sd = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def tensor_bytes(t):
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)  # numpy has no bfloat16; the bits are what matter
    return t.numpy().tobytes()


def write_safetensors(path, sd, metadata):
    """u64 header length, JSON header (space-padded to 8 bytes), raw data."""
    header, off = {}, 0
    names = sorted(sd)
    for n in names:
        t = sd[n]
        if t.dtype not in DTYPES:
            sys.exit("tensor %r: dtype %s has no safetensors equivalent" % (n, t.dtype))
        size = t.numel() * t.element_size()
        header[n] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + size]}
        off += size
    header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-(8 + len(h)) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for n in names:
            f.write(tensor_bytes(sd[n]))
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", help="TorchScript archive or pickled state dict (.pt, .pth, .bin)")
    ap.add_argument("dst", help="safetensors file to write")
    ap.add_argument("--dtype", choices=["keep", "f32", "f16"], default="keep", help="cast float tensors")
    ap.add_argument("--unsafe", action="store_true", help="allow a full unpickle (trusted files only)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    sd = load_state_dict(args.src, args.unsafe)
    if not sd:
        sys.exit("%s: no tensors found" % args.src)
    cast = {"f32": torch.float32, "f16": torch.float16}.get(args.dtype)
    if cast is not None:
        sd = {k: v.to(cast) if v.is_floating_point() else v for k, v in sd.items()}
    write_safetensors(args.dst, sd, {"format": "pt", "source": os.path.basename(args.src)})
    total = sum(v.numel() * v.element_size() for v in sd.values())
    print("wrote %s: %d tensors, %.1f MB" % (args.dst, len(sd), total / 1e6))


if __name__ == "__main__":
    main()
