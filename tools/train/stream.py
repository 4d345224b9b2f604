"""Reads the world's sample stream from `edgeclip synth --stream`.

Record format (tools/world/stream.go): uint32 little-endian N, N bytes of JSON
{"width", "height", "labels", "captions"}, then width*height*3 RGB bytes.
"""
import json
import os
import queue
import struct
import subprocess
import threading

import numpy as np

MAX_HEADER = 1 << 20


def _cmd(binary, seed, split, n, start, size, max_objects):
    return [binary, "synth", "--stream", "--seed", str(seed), "--split", split, "--n", str(n),
            "--start", str(start), "--size", str(size), "--max-objects", str(max_objects)]


def read_record(f):
    """Returns (header dict, HxWx3 uint8 array) or None at a clean EOF."""
    b = f.read(4)
    if not b:
        return None
    if len(b) < 4:
        raise EOFError("stream: truncated record length")
    (n,) = struct.unpack("<I", b)
    if n > MAX_HEADER:
        raise ValueError("stream: header of %d bytes is too large" % n)
    hdr = json.loads(f.read(n))
    w, h = hdr["width"], hdr["height"]
    px = f.read(w * h * 3)
    if len(px) != w * h * 3:
        raise EOFError("stream: truncated pixels")
    return hdr, np.frombuffer(px, dtype=np.uint8).reshape(h, w, 3)


def records(binary, seed=0, split="train", n=100, start=0, size=64, max_objects=3):
    """Yields n records of a finite stream."""
    p = subprocess.Popen(_cmd(binary, seed, split, n, start, size, max_objects), stdout=subprocess.PIPE,
                         bufsize=1 << 16)
    try:
        while True:
            r = read_record(p.stdout)
            if r is None:
                break
            yield r
    finally:
        p.stdout.close()
        p.wait()
    if p.returncode:
        raise RuntimeError("stream: %s exited with %d" % (binary, p.returncode))


def load_set(binary, seed, split, n, size=64, max_objects=3):
    """A fixed evaluation set: (uint8 N×H×W×3 array, list of headers)."""
    hdrs, imgs = [], []
    for h, px in records(binary, seed, split, n, 0, size, max_objects):
        hdrs.append(h)
        imgs.append(px)
    return np.stack(imgs), hdrs


class Endless:
    """An endless training stream read by a background thread into a bounded
    queue, so generation overlaps with the training step."""

    def __init__(self, binary, seed, start=0, size=64, split="train", depth=4096):
        self.q = queue.Queue(maxsize=depth)
        self.p = subprocess.Popen(_cmd(binary, seed, split, 0, start, size, 3), stdout=subprocess.PIPE,
                                  bufsize=1 << 20)
        self.err = None
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        try:
            while True:
                r = read_record(self.p.stdout)
                if r is None:
                    raise EOFError("stream: generator ended")
                self.q.put(r)
        except Exception as e:  # reported by get()
            self.err = e
            try:
                self.q.put(None, timeout=1)
            except queue.Full:
                pass

    def get(self, n):
        out = []
        for _ in range(n):
            r = self.q.get()
            if r is None:
                raise RuntimeError("stream: %s" % self.err)
            out.append(r)
        return out

    def close(self):
        try:
            self.p.kill()
        except OSError:
            pass
        self.p.wait()
        while self.t.is_alive():  # unblock a reader waiting on a full queue
            try:
                self.q.get(timeout=0.1)
            except queue.Empty:
                pass
        self.p.stdout.close()


def default_binary():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(root, "bin", "edgeclip")
