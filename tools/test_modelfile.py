"""Tests for modelfile.py: /usr/bin/python3 tools/test_modelfile.py

With arguments `interop GO_FILE OUT_DIR` it is the Python half of the Go test
models.TestPythonInterop: it reads the Go-written file, rewrites it from the
same metadata strings (the bytes must match), and writes a fresh Python model
for Go to read. It prints one JSON line with what it found.
"""

import json
import os
import struct
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modelfile  # noqa: E402

TINY = {
    "image_size": 32, "patch_size": 16,
    "vision": {"width": 16, "layers": 1, "heads": 2, "mlp_width": 32},
    "text": {"width": 16, "layers": 1, "heads": 2, "mlp_width": 32},
    "context_length": 8, "vocab_size": 520, "embed_dim": 8,
    "activation": "quick_gelu", "ln_eps": 1e-5,
    "mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711],
    "logit_scale": 100.0,
}
TOKENIZER = {"type": "clip-bpe", "merges": ["t h", "th e</w>", "a n", "i n", "an d</w>", "o n"]}


def tiny_tensors(seed=0, int8=False):
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in modelfile.required_shapes(TINY).items():
        a = (rng.standard_normal(shape) * 0.02).astype(np.float32)
        if int8 and modelfile.quantizable(name):
            scale = (np.abs(a).max(axis=1) / 127).astype(np.float32)
            out[name] = np.round(a / scale[:, None]).astype(np.int8)
            out[name + "_scale"] = scale
        else:
            out[name] = a
    return out


def raises(fn, words):
    try:
        fn()
    except ValueError as e:
        for w in words:
            assert w in str(e), "error %r does not mention %r" % (str(e), w)
        return
    raise AssertionError("no error, want one mentioning %s" % words)


def test_round_trip(d):
    for int8 in (False, True):
        ts = tiny_tensors(1, int8)
        ts["visual.class_embedding"] = ts["visual.class_embedding"].astype(np.float16)
        p = os.path.join(d, "rt.safetensors")
        h = modelfile.write_model(p, "tiny", "0.1", TINY, TOKENIZER, ts, extra={"edgeclip.card": "a <card> & \u2028"})
        meta, got = modelfile.read_model(p)
        assert meta["edgeclip.hash"] == h and h.startswith("sha256:")
        assert meta["edgeclip.name"] == "tiny" and meta["edgeclip.version"] == "0.1"
        assert meta["edgeclip.card"] == "a <card> & \u2028"
        assert json.loads(meta["edgeclip.config"]) == json.loads(modelfile.canonical_config(TINY))
        assert json.loads(meta["edgeclip.tokenizer"]) == TOKENIZER
        assert sorted(got) == sorted(ts)
        for n, a in ts.items():
            assert got[n].dtype == a.dtype and got[n].shape == a.shape and np.array_equal(got[n], a), n


def test_layout(d):
    ts = tiny_tensors(2, int8=True)
    ts["text.ln_final.bias"] = ts["text.ln_final.bias"].astype(np.float16)
    data = modelfile.encode_model("tiny", "1", TINY, TOKENIZER, ts)
    (n,) = struct.unpack("<Q", data[:8])
    assert (8 + n) % 8 == 0
    hdr = json.loads(data[8:8 + n])
    assert data[8:8 + n].rstrip(b" ").endswith(b"}")
    names = [k for k in hdr if k != "__metadata__"]  # json keeps file order
    groups = [hdr[k]["dtype"] for k in names]
    assert groups == sorted(groups, key=modelfile.ORDER.get), "dtype groups out of order"
    for g in ("F32", "F16", "I8"):
        in_group = [k for k in names if hdr[k]["dtype"] == g]
        assert in_group == sorted(in_group), g
    pos = 0
    for k in names:
        b, e = hdr[k]["data_offsets"]
        assert b == pos, "gap before %s" % k
        assert (8 + n + b) % modelfile.DTYPES[hdr[k]["dtype"]][1] == 0, "misaligned %s" % k
        pos = e
    assert 8 + n + pos == len(data)
    # Deterministic: the same input gives the same bytes, whatever dict order.
    again = modelfile.encode_model("tiny", "1", TINY, TOKENIZER, dict(reversed(list(ts.items()))))
    assert again == data


def test_canonical(d):
    # What Go's json.Marshal(arch.Config) writes for TINY (float32 digits).
    want = ('{"image_size":32,"patch_size":16,"vision":{"width":16,"layers":1,"heads":2,"mlp_width":32},'
            '"text":{"width":16,"layers":1,"heads":2,"mlp_width":32},"context_length":8,"vocab_size":520,'
            '"embed_dim":8,"activation":"quick_gelu","ln_eps":0.00001,"mean":[0.48145467,0.4578275,0.40821072],'
            '"std":[0.26862955,0.2613026,0.2757771],"logit_scale":100}')
    assert modelfile.canonical_config(TINY) == want, modelfile.canonical_config(TINY)
    odd = dict(TINY, ln_eps=1e-7, logit_scale=14.285714, mean=[0, -0.5, 1e-6])
    got = modelfile.canonical_config(odd)
    assert '"ln_eps":1e-7' in got and '"logit_scale":14.285714' in got and '"mean":[0,-0.5,0.000001]' in got, got
    raises(lambda: modelfile.canonical_config(dict(TINY, dropout=0.1)), ["dropout"])
    raises(lambda: modelfile.canonical_config(dict(TINY, image_size=32.5)), ["image_size"])
    tok = modelfile.canonical_tokenizer({"type": "clip-bpe", "merges": ["a <", "& b"]})
    assert tok == '{"type":"clip-bpe","merges":["a <","& b"]}', tok


def test_hash(d):
    ts = tiny_tensors(3)
    h1 = modelfile.content_hash({"a": "1", "edgeclip.hash": "x"}, {"t": ("F32", (1,), b"\0\0\0\0")})
    h2 = modelfile.content_hash({"a": "1"}, {"t": ("F32", (1,), b"\0\0\0\0")})
    assert h1 == h2, "edgeclip.hash must not hash itself"
    # A hand-computed digest of the spec's recipe.
    import hashlib
    want = hashlib.sha256(b"a\x001\x00t\x00F32\x001\x00\0\0\0\0").hexdigest()
    assert h2 == "sha256:" + want
    base = modelfile.encode_model("tiny", "1", TINY, TOKENIZER, ts)
    ts2 = dict(ts)
    ts2["text.proj.weight"] = ts["text.proj.weight"].copy()
    ts2["text.proj.weight"][0, 0] += 1
    changed = modelfile.encode_model("tiny", "1", TINY, TOKENIZER, ts2)
    get = lambda b: json.loads(b[8:8 + struct.unpack("<Q", b[:8])[0]])["__metadata__"]["edgeclip.hash"]
    assert get(base) != get(changed)
    # Flipping one data byte on disk is caught by read_model.
    p = os.path.join(d, "flip.safetensors")
    with open(p, "wb") as f:
        f.write(base[:-1] + bytes([base[-1] ^ 1]))
    raises(lambda: modelfile.read_model(p), ["edgeclip.hash"])
    modelfile.read_model(p, verify=False)


def test_rejects(d):
    ts = tiny_tensors(4)
    missing = dict(ts)
    del missing["text.proj.weight"]
    raises(lambda: modelfile.encode_model("t", "1", TINY, TOKENIZER, missing), ["text.proj.weight", "missing"])
    bad = dict(ts)
    bad["text.proj.weight"] = np.zeros((8, 15), np.float32)
    raises(lambda: modelfile.encode_model("t", "1", TINY, TOKENIZER, bad), ["text.proj.weight", "shape"])
    extra = dict(ts)
    extra["foo"] = np.zeros(1, np.float32)
    raises(lambda: modelfile.encode_model("t", "1", TINY, TOKENIZER, extra), ["foo", "unexpected"])
    noscale = tiny_tensors(4, int8=True)
    del noscale["visual.proj.weight_scale"]
    raises(lambda: modelfile.encode_model("t", "1", TINY, TOKENIZER, noscale), ["visual.proj.weight", "_scale"])
    f64 = dict(ts)
    f64["text.proj.weight"] = ts["text.proj.weight"].astype(np.float64)
    raises(lambda: modelfile.encode_model("t", "1", TINY, TOKENIZER, f64), ["float64"])
    raises(lambda: modelfile.encode_model("t", "1", TINY, TOKENIZER, ts, extra={"edgeclip.hash": "x"}), ["reserved"])
    good = modelfile.encode_model("t", "1", TINY, TOKENIZER, ts)
    p = os.path.join(d, "bad.safetensors")
    for name, data, words in [
        ("truncated", good[:5], ["at least 8"]),
        ("header too long", struct.pack("<Q", len(good)) + good[8:], ["header length"]),
        ("short data", good[:-4], ["tensor"]),
    ]:
        with open(p, "wb") as f:
            f.write(data)
        raises(lambda: modelfile.read_model(p), words)


def interop(go_file, out_dir):
    meta, tensors = modelfile.read_model(go_file)
    # Rewrite from the same strings: the bytes must equal the Go writer's.
    extra = {k: v for k, v in meta.items() if k not in modelfile.RESERVED}
    again = modelfile.encode_model(meta["edgeclip.name"], meta["edgeclip.version"], meta["edgeclip.config"],
                                   meta["edgeclip.tokenizer"], tensors, extra)
    with open(go_file, "rb") as f:
        same = f.read() == again
    py = os.path.join(out_dir, "python.safetensors")
    ts = tiny_tensors(7, int8=True)
    ts["text.ln_final.weight"] = ts["text.ln_final.weight"].astype(np.float16)
    h = modelfile.write_model(py, "from-python", "2", TINY, TOKENIZER, ts, extra={"edgeclip.card": "written by python"})
    print(json.dumps({"go_hash": meta["edgeclip.hash"], "same_bytes": same, "python_file": py, "python_hash": h}))


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "interop":
        interop(sys.argv[2], sys.argv[3])
        return
    with tempfile.TemporaryDirectory() as d:
        for t in (test_round_trip, test_layout, test_canonical, test_hash, test_rejects):
            t(d)
            print("ok", t.__name__)


if __name__ == "__main__":
    main()
