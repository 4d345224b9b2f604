"""Write and read edgeclip model files (docs/model-format.md) with numpy only.

The training tools export models with write_model; the bytes follow the same
rules as the Go writer (models.Encode): tensors ordered F32, F16, I8 and by
name within a group, no gaps, the header padded with spaces so that 8 + N is a
multiple of 8, and the same edgeclip.hash. Given the same metadata strings and
tensors, both writers produce identical files (models.TestPythonInterop checks
it).

    from modelfile import write_model, read_model
    write_model("m.safetensors", "my-model", "1", config, tokenizer, tensors)
    meta, tensors = read_model("m.safetensors")
"""

import hashlib
import json
import os
import struct
import tempfile

import numpy as np

FORMAT = "1"
MAX_HEADER = 100 << 20

# dtype name -> (numpy little-endian dtype, element size); writer group order.
DTYPES = {"F32": ("<f4", 4), "F16": ("<f2", 2), "I8": ("i1", 1)}
ORDER = {"F32": 0, "F16": 1, "I8": 2}
RESERVED = {
    "edgeclip.format", "edgeclip.name", "edgeclip.version",
    "edgeclip.config", "edgeclip.tokenizer", "edgeclip.hash",
}

QUANTIZABLE_SUFFIXES = (".attn.qkv.weight", ".attn.out.weight", ".mlp.fc1.weight", ".mlp.fc2.weight")


def quantizable(name):
    """Mirror of arch.Quantizable: linear weights that int8 files store as I8."""
    if name in ("visual.patch_embed.weight", "visual.proj.weight", "text.proj.weight"):
        return True
    return any(name.endswith(s) and len(name) > len(s) for s in QUANTIZABLE_SUFFIXES)


def required_shapes(config):
    """Mirror of arch.Config.Shapes: every tensor a config needs and its shape."""
    v, t = config["vision"], config["text"]
    p = config["patch_size"]
    g = config["image_size"] // p
    e = config["embed_dim"]
    vw, tw = v["width"], t["width"]
    m = {
        "visual.patch_embed.weight": (vw, 3 * p * p),
        "visual.class_embedding": (vw,),
        "visual.positional_embedding": (g * g + 1, vw),
        "visual.ln_pre.weight": (vw,), "visual.ln_pre.bias": (vw,),
        "visual.ln_post.weight": (vw,), "visual.ln_post.bias": (vw,),
        "visual.proj.weight": (e, vw),
        "text.token_embedding": (config["vocab_size"], tw),
        "text.positional_embedding": (config["context_length"], tw),
        "text.ln_final.weight": (tw,), "text.ln_final.bias": (tw,),
        "text.proj.weight": (e, tw),
    }
    for prefix, tower in (("visual", v), ("text", t)):
        w, h = tower["width"], tower["mlp_width"]
        for i in range(tower["layers"]):
            b = "%s.blocks.%d." % (prefix, i)
            for ln in ("ln_1", "ln_2"):
                m[b + ln + ".weight"] = (w,)
                m[b + ln + ".bias"] = (w,)
            m[b + "attn.qkv.weight"], m[b + "attn.qkv.bias"] = (3 * w, w), (3 * w,)
            m[b + "attn.out.weight"], m[b + "attn.out.bias"] = (w, w), (w,)
            m[b + "mlp.fc1.weight"], m[b + "mlp.fc1.bias"] = (h, w), (h,)
            m[b + "mlp.fc2.weight"], m[b + "mlp.fc2.bias"] = (w, h), (w,)
    return m


def _dtype_name(a):
    if a.dtype == np.float32:
        return "F32"
    if a.dtype == np.float16:
        return "F16"
    if a.dtype == np.int8:
        return "I8"
    raise ValueError("dtype %s not supported (want float32, float16 or int8)" % a.dtype)


def _f32(v):
    """A float32 number formatted as Go's encoding/json does (shortest digits)."""
    f = np.float32(v)
    if not np.isfinite(f):
        raise ValueError("config value %r is not finite" % v)
    a = abs(f)  # compared in float32, as Go does
    if a != 0 and (a < np.float32(1e-6) or a >= np.float32(1e21)):
        return np.format_float_scientific(f, unique=True, trim="-", exp_digits=1)
    return np.format_float_positional(f, unique=True, trim="-")


def _int(k, v):
    if isinstance(v, bool) or int(v) != v:
        raise ValueError("config %s = %r: want an integer" % (k, v))
    return str(int(v))


def _keys(where, d, want):
    if set(d) != set(want):
        raise ValueError("config%s: keys %s, want exactly %s" % (where, sorted(d), list(want)))


TOWER_KEYS = ("width", "layers", "heads", "mlp_width")
CONFIG_KEYS = ("image_size", "patch_size", "vision", "text", "context_length", "vocab_size", "embed_dim",
               "activation", "ln_eps", "mean", "std", "logit_scale")


def canonical_config(c):
    """edgeclip.config text exactly as Go's json.Marshal(arch.Config) writes it,
    so that both writers give the same bytes and hash for the same model."""
    _keys("", c, CONFIG_KEYS)
    out = []
    for k in CONFIG_KEYS:
        v = c[k]
        if k in ("vision", "text"):
            _keys("." + k, v, TOWER_KEYS)
            s = "{" + ",".join('"%s":%s' % (t, _int(k + "." + t, v[t])) for t in TOWER_KEYS) + "}"
        elif k == "activation":
            s = _quote(v)
        elif k in ("mean", "std"):
            if len(v) != 3:
                raise ValueError("config %s = %r: want 3 numbers" % (k, v))
            s = "[" + ",".join(_f32(x) for x in v) + "]"
        elif k in ("ln_eps", "logit_scale"):
            s = _f32(v)
        else:
            s = _int(k, v)
        out.append('"%s":%s' % (k, s))
    return "{" + ",".join(out) + "}"


def canonical_tokenizer(t):
    """edgeclip.tokenizer text as Go's models.TokenizerSpec encodes it."""
    _keys(" tokenizer", {k: v for k, v in t.items() if k != "vocab"}, ("type", "merges"))
    s = '{"type":%s,"merges":[%s]' % (_quote(t["type"]), ",".join(_quote(m) for m in t["merges"]))
    if t.get("vocab"):
        s += ',"vocab":[%s]' % ",".join(_quote(v) for v in t["vocab"])
    return s + "}"


def _quote(s):
    # Same escaping as Go's encoding/json with HTML escaping off.
    q = json.dumps(s, ensure_ascii=False)
    return q.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def content_hash(metadata, tensors):
    """edgeclip.hash of metadata (str -> str) and tensors (name -> (dtype, shape, bytes))."""
    h = hashlib.sha256()
    for k in sorted(metadata):
        if k == "edgeclip.hash":
            continue
        h.update(k.encode() + b"\0" + metadata[k].encode() + b"\0")
    for name in sorted(tensors, key=lambda s: s.encode()):
        dtype, shape, data = tensors[name]
        h.update(name.encode() + b"\0" + dtype.encode() + b"\0")
        h.update(",".join(str(d) for d in shape).encode() + b"\0")
        h.update(data)
    return "sha256:" + h.hexdigest()


def _check(config, tensors):
    want = required_shapes(config)
    for name, shape in want.items():
        if name not in tensors:
            raise ValueError("tensor %r: missing" % name)
        a = tensors[name]
        if tuple(a.shape) != shape:
            raise ValueError("tensor %r: shape %s, want %s" % (name, tuple(a.shape), shape))
        if a.dtype == np.int8:
            s = tensors.get(name + "_scale")
            if s is None or s.dtype != np.float32 or tuple(s.shape) != (shape[0],):
                raise ValueError("tensor %r: I8 needs an F32 %r of shape (%d,)" % (name, name + "_scale", shape[0]))
    for name, a in tensors.items():
        if name in want:
            continue
        base = name[: -len("_scale")] if name.endswith("_scale") else None
        if base is None or base not in want or tensors[base].dtype != np.int8:
            raise ValueError("tensor %r: unexpected" % name)


def encode_model(name, version, config, tokenizer, tensors, extra=None, check=True):
    """The file's bytes. config and tokenizer are dicts, or JSON strings kept verbatim."""
    return _encode(name, version, config, tokenizer, tensors, extra, check)[0]


def _encode(name, version, config, tokenizer, tensors, extra, check):
    meta = {
        "edgeclip.format": FORMAT,
        "edgeclip.name": name,
        "edgeclip.version": version,
        "edgeclip.config": config if isinstance(config, str) else canonical_config(config),
        "edgeclip.tokenizer": tokenizer if isinstance(tokenizer, str) else canonical_tokenizer(tokenizer),
    }
    for k, v in (extra or {}).items():
        if k in RESERVED:
            raise ValueError("extra metadata key %r is reserved" % k)
        if not isinstance(v, str):
            raise ValueError("extra metadata %r: value must be a string" % k)
        meta[k] = v
    arrays = {}
    for n, a in tensors.items():
        a = np.asarray(a)
        dn = _dtype_name(a)
        arrays[n] = np.ascontiguousarray(a, dtype=DTYPES[dn][0])
    if check:
        _check(json.loads(meta["edgeclip.config"]), arrays)
    raw = {n: (_dtype_name(a), a.shape, a.tobytes()) for n, a in arrays.items()}
    meta["edgeclip.hash"] = content_hash(meta, raw)

    order = sorted(raw, key=lambda n: (ORDER[raw[n][0]], n.encode()))
    parts = ['{"__metadata__":{']
    parts.append(",".join(_quote(k) + ":" + _quote(meta[k]) for k in sorted(meta)))
    parts.append("}")
    off = 0
    for n in order:
        dn, shape, data = raw[n]
        parts.append(',%s:{"dtype":"%s","shape":[%s],"data_offsets":[%d,%d]}'
                     % (_quote(n), dn, ",".join(str(d) for d in shape), off, off + len(data)))
        off += len(data)
    parts.append("}")
    header = "".join(parts).encode()
    header += b" " * ((-(8 + len(header))) % 8)
    out = [struct.pack("<Q", len(header)), header]
    out.extend(raw[n][2] for n in order)
    return b"".join(out), meta["edgeclip.hash"]


def write_model(path, name, version, config, tokenizer, tensors, extra=None):
    """Write a model file atomically (temp file in the same folder, fsync, rename).

    config: dict in the edgeclip.config layout (or its JSON text);
    tokenizer: {"type": "clip-bpe", "merges": [...], "vocab": [...] (optional)};
    tensors: name -> float32 / float16 / int8 array in the native layout.
    Returns the content hash.
    """
    data, digest = _encode(name, version, config, tokenizer, tensors, extra, True)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".modelfile-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dfd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return digest


def _read_header(buf, size):
    if size < 8:
        raise ValueError("file is %d bytes, want at least 8" % size)
    (n,) = struct.unpack("<Q", buf[:8])
    if n > MAX_HEADER or 8 + n > size:
        raise ValueError("header length %d out of range (file is %d bytes)" % (n, size))
    hdr = json.loads(bytes(buf[8:8 + n]).decode("utf-8"))
    if not isinstance(hdr, dict):
        raise ValueError("header is not a JSON object")
    meta = hdr.pop("__metadata__", {}) or {}
    if not all(isinstance(v, str) for v in meta.values()):
        raise ValueError("__metadata__ values must be strings")
    return meta, hdr, 8 + n


def read_model(path, verify=True):
    """Read a model file: (metadata dict of strings, name -> numpy array).

    Arrays are read-only views of one buffer read from the file. With verify,
    a missing or wrong edgeclip.hash raises ValueError.
    """
    with open(path, "rb") as f:
        buf = f.read()
    meta, hdr, start = _read_header(buf, len(buf))
    data = memoryview(buf)[start:]
    tensors, raw = {}, {}
    regions = []
    for name, info in hdr.items():
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= set(info):
            raise ValueError("tensor %r: want {dtype, shape, data_offsets}, got %r" % (name, info))
        dn = info.get("dtype")
        if dn not in DTYPES:
            raise ValueError("tensor %r: dtype %r not supported" % (name, dn))
        shape = tuple(int(d) for d in info["shape"])
        b, e = (int(x) for x in info["data_offsets"])
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if any(d < 0 for d in shape) or not 0 <= b <= e <= len(data) or count * DTYPES[dn][1] != e - b:
            raise ValueError("tensor %r: shape %s / data_offsets [%d, %d] inconsistent" % (name, shape, b, e))
        regions.append((b, e, name))
        tensors[name] = np.frombuffer(data[b:e], dtype=DTYPES[dn][0]).reshape(shape)
        raw[name] = (dn, shape, data[b:e])
    pos = 0
    for b, e, name in sorted(regions):
        if b != pos:
            raise ValueError("tensor %r: data_offsets begin %d, want %d (gap or overlap)" % (name, b, pos))
        pos = e
    if pos != len(data):
        raise ValueError("tensors cover %d of %d data bytes" % (pos, len(data)))
    if verify:
        if meta.get("edgeclip.format") != FORMAT:
            raise ValueError("edgeclip.format = %r, want %r" % (meta.get("edgeclip.format"), FORMAT))
        got = content_hash(meta, raw)
        if meta.get("edgeclip.hash") != got:
            raise ValueError("edgeclip.hash = %r, content hashes to %r" % (meta.get("edgeclip.hash"), got))
    return meta, tensors
