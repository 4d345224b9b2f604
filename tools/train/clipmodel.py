"""CLIP exactly as edgeclip's Go engine computes it (docs/model-format.md).

Parameter names are the native tensor names, so export is a plain dump of the
state dict (minus `logit_scale`, which goes into the config as its exp).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

OPENAI_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_STD = [0.26862954, 0.26130258, 0.27577711]


def make_config(image_size=64, patch_size=8, vw=192, vl=6, vh=3, tw=192, tl=4, th=3, embed=128,
                context=32, vocab=677, activation="quick_gelu", mlp_ratio=4, text_mlp_ratio=4):
    """An `edgeclip.config` dict. mlp_ratio sets the image tower's MLP width,
    text_mlp_ratio the text tower's."""
    return {
        "image_size": image_size, "patch_size": patch_size,
        "vision": {"width": vw, "layers": vl, "heads": vh, "mlp_width": vw * mlp_ratio},
        "text": {"width": tw, "layers": tl, "heads": th, "mlp_width": tw * text_mlp_ratio},
        "context_length": context, "vocab_size": vocab, "embed_dim": embed,
        "activation": activation, "ln_eps": 1e-5, "mean": OPENAI_MEAN, "std": OPENAI_STD,
        "logit_scale": 1 / 0.07,
    }


def image_flops(cfg):
    """Forward FLOPs per image, as models/arch.Config.ImageFLOPs counts them."""
    g = cfg["image_size"] // cfg["patch_size"]
    n = g * g + 1
    v = cfg["vision"]
    w, h = v["width"], v["mlp_width"]
    per = 2 * n * w * 3 * w + 2 * n * n * w * 2 + 2 * n * w * w + 2 * n * w * h * 2
    return 2 * (n - 1) * 3 * cfg["patch_size"] ** 2 * w + per * v["layers"] + 2 * w * cfg["embed_dim"]


class Attention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x, mask=None):
        b, n, w = x.shape
        hd = w // self.heads
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
        a = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(hd))
        if mask is not None:
            a = a + mask
        a = a.softmax(-1)
        return self.out((a @ v).transpose(1, 2).reshape(b, n, w))


class MLP(nn.Module):
    def __init__(self, width, hidden, activation):
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)
        self.activation = activation

    def forward(self, x):
        x = self.fc1(x)
        x = x * torch.sigmoid(1.702 * x) if self.activation == "quick_gelu" else F.gelu(x)
        return self.fc2(x)


class Block(nn.Module):
    def __init__(self, width, heads, hidden, activation, eps):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width, eps=eps)
        self.attn = Attention(width, heads)
        self.ln_2 = nn.LayerNorm(width, eps=eps)
        self.mlp = MLP(width, hidden, activation)

    def forward(self, x, mask=None):
        x = x + self.attn(self.ln_1(x), mask)
        return x + self.mlp(self.ln_2(x))


def _blocks(t, act, eps):
    return nn.ModuleList([Block(t["width"], t["heads"], t["mlp_width"], act, eps) for _ in range(t["layers"])])


class Visual(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        v, p, eps = cfg["vision"], cfg["patch_size"], cfg["ln_eps"]
        w, g = v["width"], cfg["image_size"] // cfg["patch_size"]
        self.p = p
        self.patch_embed = nn.Linear(3 * p * p, w, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(w) * w ** -0.5)
        self.positional_embedding = nn.Parameter(torch.randn(g * g + 1, w) * w ** -0.5)
        self.ln_pre = nn.LayerNorm(w, eps=eps)
        self.blocks = _blocks(v, cfg["activation"], eps)
        self.ln_post = nn.LayerNorm(w, eps=eps)
        self.proj = nn.Linear(w, cfg["embed_dim"], bias=False)

    def forward(self, x):
        """x: normalised images [B, 3, H, W]; returns unnormalised embeddings."""
        b, c, hgt, wid = x.shape
        p = self.p
        gy, gx = hgt // p, wid // p
        # Flatten each patch as (c, ky, kx), patches row-major: a conv as a matmul.
        x = x.reshape(b, c, gy, p, gx, p).permute(0, 2, 4, 1, 3, 5).reshape(b, gy * gx, c * p * p)
        x = self.patch_embed(x)
        x = torch.cat([self.class_embedding.expand(b, 1, -1), x], 1) + self.positional_embedding
        x = self.ln_pre(x)
        for blk in self.blocks:
            x = blk(x)
        return self.proj(self.ln_post(x[:, 0]))


class Text(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        t, eps = cfg["text"], cfg["ln_eps"]
        w, n = t["width"], cfg["context_length"]
        self.token_embedding = nn.Parameter(torch.randn(cfg["vocab_size"], w) * 0.02)
        self.positional_embedding = nn.Parameter(torch.randn(n, w) * 0.01)
        self.blocks = _blocks(t, cfg["activation"], eps)
        self.ln_final = nn.LayerNorm(w, eps=eps)
        self.proj = nn.Linear(w, cfg["embed_dim"], bias=False)
        self.register_buffer("mask", torch.full((n, n), float("-inf")).triu(1), persistent=False)

    def forward(self, ids, eot_id):
        """ids: [B, context] padded with 0. Pools at the end token, the last
        id of each unpadded sequence (the first eot_id)."""
        n = ids.shape[1]
        x = self.token_embedding[ids] + self.positional_embedding[:n]
        mask = self.mask[:n, :n]
        for blk in self.blocks:
            x = blk(x, mask)
        x = self.ln_final(x)
        end = (ids == eot_id).int().argmax(1)
        return self.proj(x[torch.arange(x.shape[0]), end])


class CLIP(nn.Module):
    def __init__(self, cfg, eot_id):
        super().__init__()
        self.cfg = cfg
        self.eot_id = eot_id
        self.visual = Visual(cfg)
        self.text = Text(cfg)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(cfg.get("logit_scale", 1 / 0.07))))
        self.register_buffer("mean", torch.tensor(cfg["mean"]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg["std"]).view(1, 3, 1, 1), persistent=False)
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=m.in_features ** -0.5 * 0.7)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    def preprocess(self, u8):
        """uint8 [B, H, W, 3] (numpy or tensor) → normalised float [B, 3, H, W]."""
        x = torch.as_tensor(u8).to(self.mean.device).permute(0, 3, 1, 2).float() / 255.0
        return (x - self.mean) / self.std

    def encode_image(self, x):
        return F.normalize(self.visual(x), dim=-1)

    def encode_text(self, ids):
        # Positions after the end token cannot reach it through the causal
        # mask, so trimming the padding changes nothing but the cost.
        n = int((ids == self.eot_id).int().argmax(1).max()) + 1
        return F.normalize(self.text(ids[:, :n], self.eot_id), dim=-1)

    def scale(self):
        return self.logit_scale.clamp(max=math.log(100)).exp()

    def export_tensors(self):
        """Native name → float32 numpy array."""
        return {k: v.detach().float().cpu().contiguous().numpy()
                for k, v in self.state_dict().items() if k != "logit_scale"}


def clip_loss(img, txt, scale, same=None):
    """Symmetric InfoNCE. `same` [B, B] bool marks pairs whose captions are
    identical, which count as positives rather than negatives."""
    logits = scale * img @ txt.t()
    if same is None:
        target = torch.arange(len(img), device=img.device)
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2
    t = same.float()
    t = t / t.sum(1, keepdim=True)  # same is symmetric, so t serves both directions
    return (soft_ce(logits, t) + soft_ce(logits.t(), t)) / 2


def soft_ce(logits, target):
    return -(target * logits.log_softmax(-1)).sum(-1).mean()
