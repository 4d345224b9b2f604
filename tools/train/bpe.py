"""A small CLIP-style byte-level BPE tokenizer, trained on the world's captions.

Byte symbols, ``</w>`` word ends and merges work exactly as in OpenAI's
``simple_tokenizer.py``; the vocabulary is derived from the merges the same way
(256 bytes, the same with ``</w>``, one token per merge, then
``<|startoftext|>`` and ``<|endoftext|>``), which is also what edgeclip's Go
tokenizer builds from a model file's merge list. Training merges until every
caption word is one symbol keeps sequences short; unknown words still encode
as bytes.

    python3 bpe.py --bin bin/edgeclip --out tools/train/world_bpe.json
"""
import argparse
import collections
import functools
import html
import json
import re

SOT, EOT = "<|startoftext|>", "<|endoftext|>"

# OpenAI's pattern with \p{L} / \p{N} spelled for Python's re module.
PAT = re.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|[^\s\w]+|_+""",
                 re.IGNORECASE)


@functools.lru_cache()
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(2 ** 8):
        if b not in bs:
            bs.append(b)
            cs.append(2 ** 8 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def clean(text):
    return re.sub(r"\s+", " ", html.unescape(html.unescape(text)).strip()).lower()


def word_symbols(word):
    """A pre-tokenised word as byte symbols, the last one marked with </w>."""
    b2u = bytes_to_unicode()
    s = [b2u[b] for b in word.encode("utf-8")]
    s[-1] += "</w>"
    return tuple(s)


def train_merges(texts):
    """Learns merges (most frequent pair first, ties by the pair itself) until
    every word of the corpus is a single symbol."""
    freq = collections.Counter()
    for t in texts:
        for w in PAT.findall(clean(t)):
            freq[word_symbols(w)] += 1
    words = dict(freq)
    merges = []
    while True:
        pairs = collections.Counter()
        for sym, f in words.items():
            for a, b in zip(sym, sym[1:]):
                pairs[(a, b)] += f
        if not pairs:
            return merges
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        merged = {}
        for sym, f in words.items():
            out, i = [], 0
            while i < len(sym):
                if i + 1 < len(sym) and (sym[i], sym[i + 1]) == best:
                    out.append(sym[i] + sym[i + 1])
                    i += 2
                else:
                    out.append(sym[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + f
        words = merged


class Tokenizer:
    """Encodes text to ids exactly as OpenAI's SimpleTokenizer does for a
    given merge list."""

    def __init__(self, merges):
        self.merges = [tuple(m.split()) if isinstance(m, str) else tuple(m) for m in merges]
        vocab = list(bytes_to_unicode().values())
        vocab += [v + "</w>" for v in vocab]
        vocab += ["".join(m) for m in self.merges]
        vocab += [SOT, EOT]
        self.vocab = vocab
        self.encoder = {v: i for i, v in enumerate(vocab)}
        self.ranks = {m: i for i, m in enumerate(self.merges)}
        self.sot, self.eot = self.encoder[SOT], self.encoder[EOT]
        self.cache = {SOT: SOT, EOT: EOT}

    def __len__(self):
        return len(self.vocab)

    def merge_strings(self):
        return [" ".join(m) for m in self.merges]

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        while len(word) > 1:
            pairs = set(zip(word, word[1:]))
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            word = tuple(out)
        res = " ".join(word)
        self.cache[token] = res
        return res

    def encode(self, text):
        b2u = bytes_to_unicode()
        ids = []
        for tok in PAT.findall(clean(text)):
            tok = "".join(b2u[b] for b in tok.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self.bpe(tok).split(" "))
        return ids

    def tokenize(self, texts, context):
        """Returns a list of id lists of length `context`: <sot> ids <eot>,
        truncated so the end token survives, padded with 0."""
        out = []
        for t in texts:
            ids = [self.sot] + self.encode(t)[:context - 2] + [self.eot]
            out.append(ids + [0] * (context - len(ids)))
        return out


def save(path, tok):
    with open(path, "w") as f:
        json.dump({"type": "clip-bpe", "merges": tok.merge_strings()}, f, indent=0)
        f.write("\n")


def load(path):
    with open(path) as f:
        return Tokenizer(json.load(f)["merges"])


def main():
    import stream
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="bin/edgeclip")
    ap.add_argument("--n", type=int, default=20000, help="samples per split to read captions from")
    ap.add_argument("--out", default="tools/train/world_bpe.json")
    a = ap.parse_args()
    texts = []
    for split in ("train", "heldout"):
        for hdr, _ in stream.records(a.bin, seed=12345, split=split, n=a.n):
            texts.extend(hdr["captions"])
    # Zero-shot prompts and a few generic words users type.
    texts += ["a photo of a %s object" % c for c in ["red"]] + ["a photo of a circle", "objects", "shapes"]
    tok = Tokenizer(train_merges(texts))
    save(a.out, tok)
    lens = [len(tok.encode(t)) for t in texts]
    print("merges %d, vocab %d, max caption tokens %d (+2)" % (len(tok.merges), len(tok), max(lens)))


if __name__ == "__main__":
    main()
