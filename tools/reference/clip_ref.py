"""Reference CLIP forward passes in the three public checkpoint layouts.

These are re-implementations, written from the upstream sources, of
  * OpenAI CLIP      (github.com/openai/CLIP, clip/model.py, clip/simple_tokenizer.py)
  * Hugging Face     (transformers, models/clip/modeling_clip.py: CLIPModel)
  * OpenCLIP         (github.com/mlfoundations/open_clip, model.py + transformer.py)
restricted to the ViT image tower and the standard text tower. Each class
produces a state dict with exactly the upstream key names, so a checkpoint
written from it is what edgeclip's converters read in the wild. The maths is
the upstream maths: pre-LN residual blocks, QuickGELU or exact GELU, a causal
text mask, pooling at the class token and at argmax(token ids).

Run with Debian's /usr/bin/python3 (torch 1.13); no other packages needed.
The `regex` and `ftfy` modules of the upstream tokenizer are not packaged in
Debian, so the word pattern uses `re` classes that agree with `\\p{L}`/`\\p{N}`
on ASCII and Latin-1 letters (all the fixture texts) and ftfy.fix_text is
skipped (it is the identity on clean text).
"""
import html
import json
import math
import re
import struct
from collections import OrderedDict
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)

# ---------------------------------------------------------------- safetensors

_ST_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.int64: "I64", torch.bfloat16: "BF16"}


def save_safetensors(path, tensors, metadata=None):
    """Writes a plain safetensors file: u64 header length, JSON header, data."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        if t.dtype == torch.bfloat16:
            raw = t.view(torch.int16).numpy().tobytes()
        else:
            raw = t.numpy().tobytes()
        header[name] = {"dtype": _ST_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-(8 + len(h)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ---------------------------------------------------------------- tokenizer


@lru_cache()
def bytes_to_unicode():
    """OpenAI's reversible byte -> printable unicode table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


# \p{L}+ | \p{N} | [^\s\p{L}\p{N}]+ written with re classes.
WORD_PAT = re.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|(?:[^\s\w]|_)+""", re.IGNORECASE
)


def clean(text):
    text = html.unescape(html.unescape(text)).strip()
    return re.sub(r"\s+", " ", text).strip().lower()


def pre_tokenize(text):
    """Words of a text as byte-unicode strings, as SimpleTokenizer.encode splits them."""
    enc = bytes_to_unicode()
    return ["".join(enc[b] for b in w.encode("utf-8")) for w in WORD_PAT.findall(clean(text))]


def clip_vocab(merges):
    """OpenAI's vocabulary for a merge list: bytes, bytes+</w>, merges, specials."""
    v = list(bytes_to_unicode().values())
    v = v + [s + "</w>" for s in v]
    v += ["".join(m.split()) for m in merges]
    return v + ["<|startoftext|>", "<|endoftext|>"]


class SimpleTokenizer:
    """Port of clip/simple_tokenizer.py for a given merge list."""

    def __init__(self, merges):
        self.merges = [tuple(m.split()) for m in merges]
        self.vocab = clip_vocab(merges)
        self.encoder = {t: i for i, t in enumerate(self.vocab)}
        self.ranks = {m: i for i, m in enumerate(self.merges)}
        self.sot, self.eot = self.encoder["<|startoftext|>"], self.encoder["<|endoftext|>"]

    def bpe(self, token):
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        while len(word) > 1:
            pairs = {(a, b) for a, b in zip(word, word[1:])}
            best = min(pairs, key=lambda p: self.ranks.get(p, math.inf))
            if best not in self.ranks:
                break
            out, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == best[0] and word[i + 1] == best[1]:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            word = tuple(out)
        return word

    def encode(self, text):
        return [self.encoder[t] for w in pre_tokenize(text) for t in self.bpe(w)]

    def tokenize(self, text, context_length):
        """clip.tokenize(truncate=True) for one text, unpadded: sot, ..., eot."""
        ids = [self.sot] + self.encode(text) + [self.eot]
        if len(ids) > context_length:
            ids = ids[:context_length]
            ids[-1] = self.eot
        return ids


def train_bpe(corpus, n_merges):
    """A tiny deterministic BPE trainer over CLIP's word representation.

    Ties break on the pair itself; a merge whose result is already a token is
    skipped so that the vocabulary has no duplicates (HF's vocab.json is a map).
    """
    words = {}
    for w in pre_tokenize(corpus):
        k = tuple(w[:-1]) + (w[-1] + "</w>",)
        words[k] = words.get(k, 0) + 1
    vocab = set(clip_vocab([]))
    merges = []
    while len(merges) < n_merges:
        counts = {}
        for w, c in words.items():
            for p in zip(w, w[1:]):
                counts[p] = counts.get(p, 0) + c
        cands = sorted((p for p in counts if "".join(p) not in vocab), key=lambda p: (-counts[p], p))
        if not cands:
            break
        a, b = cands[0]
        merges.append(a + " " + b)
        vocab.add(a + b)
        nw = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i < len(w) - 1 and w[i] == a and w[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            nw[tuple(out)] = nw.get(tuple(out), 0) + c
        words = nw
    return merges


def pad(ids_list, context_length):
    """Zero-padded [n, context] id tensor, as clip.tokenize returns."""
    out = torch.zeros(len(ids_list), context_length, dtype=torch.long)
    for i, ids in enumerate(ids_list):
        out[i, : len(ids)] = torch.tensor(ids)
    return out


# ---------------------------------------------------------------- OpenAI / OpenCLIP


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    """clip/model.py ResidualAttentionBlock (OpenCLIP's is the same module tree)."""

    def __init__(self, d_model, n_head, mlp_width, act):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, n_head)
        self.ln_1 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            OrderedDict([("c_fc", nn.Linear(d_model, mlp_width)), ("gelu", act()), ("c_proj", nn.Linear(mlp_width, d_model))])
        )
        self.ln_2 = nn.LayerNorm(d_model)

    def forward(self, x, attn_mask=None):  # x: LND
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=attn_mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, mlp_width, act):
        super().__init__()
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads, mlp_width, act) for _ in range(layers)])

    def forward(self, x, attn_mask=None):
        for r in self.resblocks:
            x = r(x, attn_mask)
        return x


class VisionTransformer(nn.Module):
    def __init__(self, image_size, patch, width, layers, heads, mlp_width, embed, act):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(torch.empty(width))
        self.positional_embedding = nn.Parameter(torch.empty((image_size // patch) ** 2 + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, heads, mlp_width, act)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.empty(width, embed))

    def tokens(self, x):
        x = self.conv1(x)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.class_embedding + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        x = self.ln_pre(x)
        return self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)

    def forward(self, x):  # OpenAI: ln_post on the class token, then proj
        return self.ln_post(self.tokens(x)[:, 0, :]) @ self.proj


class OpenAICLIP(nn.Module):
    """clip/model.py CLIP with a ViT image tower (always QuickGELU)."""

    act = QuickGELU

    def __init__(self, c):
        super().__init__()
        self.c = c
        v, t = c["vision"], c["text"]
        self.visual = VisionTransformer(c["image_size"], c["patch_size"], v["width"], v["layers"], v["heads"],
                                        v["mlp_width"], c["embed_dim"], self.act)
        self.transformer = Transformer(t["width"], t["layers"], t["heads"], t["mlp_width"], self.act)
        self.token_embedding = nn.Embedding(c["vocab_size"], t["width"])
        self.positional_embedding = nn.Parameter(torch.empty(c["context_length"], t["width"]))
        self.ln_final = nn.LayerNorm(t["width"])
        self.text_projection = nn.Parameter(torch.empty(t["width"], c["embed_dim"]))
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.07))
        n = c["context_length"]
        self.register_buffer("mask", torch.full((n, n), float("-inf")).triu_(1), persistent=False)

    def encode_image(self, image):
        return self.visual(image)

    def encode_text(self, text):
        x = self.token_embedding(text) + self.positional_embedding
        x = self.transformer(x.permute(1, 0, 2), self.mask).permute(1, 0, 2)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), text.argmax(dim=-1)] @ self.text_projection


class OpenCLIP(OpenAICLIP):
    """open_clip CLIP (VisionTransformer + build_text_tower fields on the model).

    The activation is nn.GELU unless quick_gelu; the text tower's causal mask
    is the `attn_mask` buffer (persisted by OpenCLIP releases before 2.21);
    the vision tower applies ln_post to every token before taking the class
    token (open_clip's `_global_pool`), which is the same per-token LayerNorm.
    """

    def __init__(self, c):
        self.act = QuickGELU if c["activation"] == "quick_gelu" else nn.GELU
        super().__init__(c)
        self.register_buffer("attn_mask", self.mask.clone(), persistent=True)

    def encode_image(self, image):
        v = self.visual
        x = v.ln_post(v.tokens(image))
        return x[:, 0] @ v.proj

    def encode_text(self, text):
        x = self.token_embedding(text) + self.positional_embedding
        x = self.transformer(x.permute(1, 0, 2), self.attn_mask).permute(1, 0, 2)
        x = self.ln_final(x)
        pooled = x[torch.arange(x.shape[0]), text.argmax(dim=-1)]  # text_global_pool(pool_type='argmax')
        return pooled @ self.text_projection


# ---------------------------------------------------------------- Hugging Face


def hf_act(name):
    return {"quick_gelu": lambda x: x * torch.sigmoid(1.702 * x), "gelu": F.gelu}[name]


class CLIPAttention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads, self.head_dim = heads, width // heads
        self.scale = self.head_dim ** -0.5
        self.q_proj, self.k_proj = nn.Linear(width, width), nn.Linear(width, width)
        self.v_proj, self.out_proj = nn.Linear(width, width), nn.Linear(width, width)

    def forward(self, x, mask=None):
        b, n, w = x.shape
        shape = lambda t: t.view(b, n, self.heads, self.head_dim).transpose(1, 2)
        q, k, v = shape(self.q_proj(x) * self.scale), shape(self.k_proj(x)), shape(self.v_proj(x))
        a = q @ k.transpose(-1, -2)
        if mask is not None:
            a = a + mask
        o = torch.softmax(a, dim=-1) @ v
        return self.out_proj(o.transpose(1, 2).reshape(b, n, w))


class CLIPMLP(nn.Module):
    def __init__(self, width, mlp_width, act):
        super().__init__()
        self.act = hf_act(act)
        self.fc1, self.fc2 = nn.Linear(width, mlp_width), nn.Linear(mlp_width, width)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class CLIPEncoderLayer(nn.Module):
    def __init__(self, width, heads, mlp_width, act, eps):
        super().__init__()
        self.self_attn = CLIPAttention(width, heads)
        self.layer_norm1 = nn.LayerNorm(width, eps=eps)
        self.mlp = CLIPMLP(width, mlp_width, act)
        self.layer_norm2 = nn.LayerNorm(width, eps=eps)

    def forward(self, x, mask=None):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class CLIPEncoder(nn.Module):
    def __init__(self, tc):
        super().__init__()
        self.layers = nn.ModuleList(
            CLIPEncoderLayer(tc["hidden_size"], tc["num_attention_heads"], tc["intermediate_size"], tc["hidden_act"],
                             tc["layer_norm_eps"]) for _ in range(tc["num_hidden_layers"]))

    def forward(self, x, mask=None):
        for layer in self.layers:
            x = layer(x, mask)
        return x


class Embeddings(nn.Module):
    pass


class HFCLIPModel(nn.Module):
    """transformers CLIPModel: get_image_features / get_text_features."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        vc, tc = cfg["vision_config"], cfg["text_config"]
        w, p = vc["hidden_size"], vc["patch_size"]
        npos = (vc["image_size"] // p) ** 2 + 1
        vm = self.vision_model = nn.Module()
        vm.embeddings = Embeddings()
        vm.embeddings.class_embedding = nn.Parameter(torch.empty(w))
        vm.embeddings.patch_embedding = nn.Conv2d(3, w, kernel_size=p, stride=p, bias=False)
        vm.embeddings.position_embedding = nn.Embedding(npos, w)
        # Checkpoints written before transformers 4.31 persist position_ids.
        vm.embeddings.register_buffer("position_ids", torch.arange(npos).expand((1, -1)).clone())
        vm.pre_layrnorm = nn.LayerNorm(w, eps=vc["layer_norm_eps"])
        vm.encoder = CLIPEncoder(vc)
        vm.post_layernorm = nn.LayerNorm(w, eps=vc["layer_norm_eps"])
        tw, n = tc["hidden_size"], tc["max_position_embeddings"]
        tm = self.text_model = nn.Module()
        tm.embeddings = Embeddings()
        tm.embeddings.token_embedding = nn.Embedding(tc["vocab_size"], tw)
        tm.embeddings.position_embedding = nn.Embedding(n, tw)
        tm.embeddings.register_buffer("position_ids", torch.arange(n).expand((1, -1)).clone())
        tm.encoder = CLIPEncoder(tc)
        tm.final_layer_norm = nn.LayerNorm(tw, eps=tc["layer_norm_eps"])
        self.visual_projection = nn.Linear(w, cfg["projection_dim"], bias=False)
        self.text_projection = nn.Linear(tw, cfg["projection_dim"], bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(cfg["logit_scale_init_value"]))

    def get_image_features(self, pixel_values):
        e, vm = self.vision_model.embeddings, self.vision_model
        b = pixel_values.shape[0]
        patches = e.patch_embedding(pixel_values).flatten(2).transpose(1, 2)
        x = torch.cat([e.class_embedding.expand(b, 1, -1), patches], dim=1)
        x = x + e.position_embedding(e.position_ids)
        x = vm.encoder(vm.pre_layrnorm(x))
        return self.visual_projection(vm.post_layernorm(x[:, 0, :]))

    def get_text_features(self, input_ids):
        tm = self.text_model
        n = input_ids.shape[1]
        x = tm.embeddings.token_embedding(input_ids) + tm.embeddings.position_embedding(tm.embeddings.position_ids[:, :n])
        causal = torch.full((n, n), torch.finfo(x.dtype).min).triu_(1)[None, None]
        x = tm.final_layer_norm(tm.encoder(x, causal))
        # eos_token_id == 2 (legacy configs): the end token has the highest id.
        pooled = x[torch.arange(x.shape[0]), input_ids.to(torch.int).argmax(dim=-1)]
        return self.text_projection(pooled)


def hf_config(c):
    """config.json of a CLIPModel for an edgeclip-style config dict."""
    v, t = c["vision"], c["text"]
    common = {"hidden_act": c["activation"], "layer_norm_eps": c["ln_eps"], "attention_dropout": 0.0,
              "initializer_range": 0.02, "initializer_factor": 1.0}
    return {
        "architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": c["embed_dim"],
        "logit_scale_init_value": math.log(c["logit_scale"]), "torch_dtype": "float32",
        "text_config": dict(common, model_type="clip_text_model", hidden_size=t["width"],
                            intermediate_size=t["mlp_width"], num_attention_heads=t["heads"],
                            num_hidden_layers=t["layers"], max_position_embeddings=c["context_length"],
                            vocab_size=c["vocab_size"], bos_token_id=0, pad_token_id=1, eos_token_id=2,
                            projection_dim=c["embed_dim"]),
        "vision_config": dict(common, model_type="clip_vision_model", hidden_size=v["width"],
                              intermediate_size=v["mlp_width"], num_attention_heads=v["heads"],
                              num_hidden_layers=v["layers"], image_size=c["image_size"],
                              patch_size=c["patch_size"], num_channels=3, projection_dim=c["embed_dim"]),
    }


# ---------------------------------------------------------------- init and images


@torch.no_grad()
def randomize(model, seed):
    """Random weights with non-trivial LayerNorm gains and biases.

    Scales keep activations O(1) so that attention is far from uniform and
    embeddings of different inputs differ (a degenerate model would pass
    parity trivially).
    """
    g = torch.Generator().manual_seed(seed)
    rnd = lambda t, std, mean=0.0: t.copy_(mean + std * torch.randn(t.shape, generator=g))
    for name, p in model.named_parameters():
        if name == "logit_scale":
            continue
        is_ln = any(k in name for k in ("ln_", "layer_norm", "layrnorm", "layernorm"))
        if is_ln and name.endswith("weight"):
            rnd(p, 0.25, 1.0)
        elif name.endswith("bias"):
            rnd(p, 0.1)
        elif "embedding" in name and p.dim() <= 2:
            rnd(p, 0.5)
        elif p.dim() == 4:  # patch conv
            rnd(p, 1.5 / math.sqrt(p[0].numel()))
        elif name in ("visual.proj", "text_projection"):  # [width, embed] parameters
            rnd(p, 1 / math.sqrt(p.shape[0]))
        else:  # nn.Linear [out, in] and in_proj_weight
            rnd(p, 1 / math.sqrt(p.shape[1]))


def preprocess(img, size, mean, std):
    """OpenAI's _transform: Resize(bicubic) + CenterCrop + RGB + ToTensor + Normalize."""
    from torchvision import transforms as T

    crop = T.Compose([T.Resize(size, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(size)])(img)
    crop = crop.convert("RGB")
    x = T.Normalize(mean, std)(T.ToTensor()(crop))
    return crop, x
