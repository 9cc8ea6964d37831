#!/usr/bin/env python3
"""PyTorch eager reference for tokbench's CUDA benchmark (run by run.sh).

It builds the same models as cudakern's tests and benchmarks:
  fixture  testdata/models/learned_bias/ckpt.pt (the bundled model)
  base     base.toml shape (6 layers, 8 heads, n_embd 256, block 512, vocab 65)
  gpt2     GPT-2-small shape (12 layers, 12 heads, n_embd 768, block 1024, vocab 50257)
The base and gpt2 weights come from the counter-based generator of
cudakern/hashmodel_test.go (splitmix64, reproduced here with numpy), so both
sides run bit-identical fp32 weights, rounded to fp16 the same way.

For each model it times greedy generation with upstream's KV-cache rules
(append, cut to block_size; wpe position min(len, bs-1); RoPE position len)
in fp16 eager PyTorch, and records fp32 prefill logits and fp16 greedy tokens
for parity. Output: one JSON file (--out).
"""
import argparse
import json
import math
import sys
import time

import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
SEED = 1337
PROMPT_IDS = [30, 27, 25, 17, 27, 10]  # "ROMEO:" in the fixtures' char vocab

SHAPES = {
    "base": dict(vocab_size=65, block_size=512, n_layer=6, n_head=8, n_embd=256, bias=True, use_rope=False),
    "gpt2": dict(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768, bias=True, use_rope=False),
    "tiny": dict(vocab_size=11, block_size=4, n_layer=1, n_head=2, n_embd=4, bias=True, use_rope=False),
}


def splitmix(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


class HashGen:
    def __init__(self, seed):
        self.seed = np.uint64(seed)
        self.i = 0

    def gen(self, n):
        out = np.empty(n, dtype=np.float32)
        a = np.float32(0.02 * math.sqrt(3))
        step = 1 << 22
        with np.errstate(over="ignore"):
            for s in range(0, n, step):
                e = min(n, s + step)
                idx = np.arange(self.i + s + 1, self.i + e + 1, dtype=np.uint64)
                z = splitmix(self.seed + idx * GOLDEN)
                u = (z >> np.uint64(40)).astype(np.float32)
                out[s:e] = (u * np.float32(1.0 / (1 << 23)) - np.float32(1)) * a
        self.i += n
        return out


def hash_state_dict(cfg, seed=SEED):
    g = HashGen(seed)
    C, V, T = cfg["n_embd"], cfg["vocab_size"], cfg["block_size"]
    sd = {"wte.weight": g.gen(V * C).reshape(V, C)}
    if not cfg["use_rope"]:
        sd["wpe.weight"] = g.gen(T * C).reshape(T, C)
    for i in range(cfg["n_layer"]):
        p = "h.%d." % i
        for name, (o, n) in (("attn.c_attn", (3 * C, C)), ("attn.c_proj", (C, C)),
                             ("mlp.c_fc", (4 * C, C)), ("mlp.c_proj", (C, 4 * C))):
            sd[p + name + ".weight"] = g.gen(o * n).reshape(o, n)
            if cfg["bias"]:
                sd[p + name + ".bias"] = np.zeros(o, np.float32)
        for ln in ("ln_1", "ln_2"):
            sd[p + ln + ".weight"] = np.ones(C, np.float32)
            sd[p + ln + ".bias"] = np.zeros(C, np.float32)
    sd["ln_f.weight"] = np.ones(C, np.float32)
    sd["ln_f.bias"] = np.zeros(C, np.float32)
    return sd


def golden():
    cfg = SHAPES["tiny"]
    sd = hash_state_dict(cfg)
    w = sd["wte.weight"].reshape(-1)
    print("const (")
    for i in range(3):
        print("\thashGolden%d = %s" % (i, repr(float(w[i]))))
    print("\thashGoldenWpeLast = %s" % repr(float(sd["wpe.weight"].reshape(-1)[-1])))
    print("\thashGoldenProjLast = %s" % repr(float(sd["h.0.mlp.c_proj.weight"].reshape(-1)[-1])))
    print(")")


class GPT:
    """LabCore GPT forward (SPEC §1) in eager PyTorch, upstream's cache rules."""

    def __init__(self, cfg, sd, dtype, device):
        import torch
        self.cfg = cfg
        self.device = device
        self.t = {k: torch.as_tensor(np.asarray(v)).to(device=device, dtype=dtype) for k, v in sd.items()}
        if "wte.weight" not in self.t:
            self.t["wte.weight"] = self.t["lm_head.weight"]
        C, nh = cfg["n_embd"], cfg["n_head"]
        self.hd = C // nh
        if cfg["use_rope"]:
            inv = 1.0 / (10000 ** (torch.arange(0, self.hd, 2, device=device).float() / self.hd))
            self.inv_freq = inv

    def rope(self, x, pos):  # x [B, nh, T, hd], pos [T]
        import torch
        ang = pos.float()[:, None] * self.inv_freq[None, :]
        c, s = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
        e, o = x[..., 0::2], x[..., 1::2]
        out = torch.empty_like(x)
        out[..., 0::2] = e * c - o * s
        out[..., 1::2] = e * s + o * c
        return out

    def forward(self, idx, cache):
        """idx [1, T]; cache: list of (k, v) per layer or None (prefill)."""
        import torch
        import torch.nn.functional as F
        t, cfg = self.t, self.cfg
        B, T = idx.shape
        C, nh, hd, bs = cfg["n_embd"], cfg["n_head"], self.hd, cfg["block_size"]
        clen = 0 if cache is None else cache[0][0].shape[2]
        x = t["wte.weight"][idx]
        if not cfg["use_rope"]:
            if cache is None:
                pos = torch.arange(T, device=idx.device)
            else:
                pos = torch.tensor([min(clen, bs - 1)], device=idx.device)
            x = x + t["wpe.weight"][pos]
        rpos = torch.arange(clen, clen + T, device=idx.device)
        new_cache = []
        for i in range(cfg["n_layer"]):
            p = "h.%d." % i
            b = lambda n: t.get(p + n + ".bias")
            h = F.layer_norm(x, (C,), t[p + "ln_1.weight"], t[p + "ln_1.bias"], 1e-5)
            q, k, v = F.linear(h, t[p + "attn.c_attn.weight"], b("attn.c_attn")).split(C, dim=2)
            q = q.view(B, T, nh, hd).transpose(1, 2)
            k = k.view(B, T, nh, hd).transpose(1, 2)
            v = v.view(B, T, nh, hd).transpose(1, 2)
            if cfg["use_rope"]:
                q, k = self.rope(q, rpos), self.rope(k, rpos)
            if cache is not None:
                k = torch.cat([cache[i][0], k], dim=2)[:, :, -bs:]
                v = torch.cat([cache[i][1], v], dim=2)[:, :, -bs:]
            new_cache.append((k, v))
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
            if T > 1:
                mask = torch.ones(T, T, device=idx.device, dtype=torch.bool).tril()
                att = att.masked_fill(~mask, float("-inf"))
            y = F.softmax(att, dim=-1) @ v
            y = y.transpose(1, 2).contiguous().view(B, T, C)
            x = x + F.linear(y, t[p + "attn.c_proj.weight"], b("attn.c_proj"))
            h = F.layer_norm(x, (C,), t[p + "ln_2.weight"], t[p + "ln_2.bias"], 1e-5)
            h = F.gelu(F.linear(h, t[p + "mlp.c_fc.weight"], b("mlp.c_fc")))
            x = x + F.linear(h, t[p + "mlp.c_proj.weight"], b("mlp.c_proj"))
        x = F.layer_norm(x, (C,), t["ln_f.weight"], t["ln_f.bias"], 1e-5)
        return F.linear(x[:, -1, :], t["wte.weight"]), new_cache


def generate(model, prompt, n):
    """Greedy generation of n tokens with the KV cache; tokens stay on the GPU."""
    import torch
    bs = model.cfg["block_size"]
    idx = torch.tensor([prompt[-bs:]], device=model.device)
    logits, cache = model.forward(idx, None)
    out = []
    for i in range(n):
        tok = logits.argmax(dim=-1, keepdim=True)
        out.append(tok)
        if i == n - 1:
            break
        logits, cache = model.forward(tok, cache)
    return torch.cat(out, dim=1)


def load_fixture(path):
    import torch
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # old torch (1.13) lacks opcodes our own fixture uses
        ck = torch.load(path, map_location="cpu", weights_only=False)
    cfg = dict(ck["model_config"])
    sd = {k: v.float().numpy() for k, v in ck["model_state_dict"].items()}
    return cfg, sd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--golden", action="store_true", help="print the Go test's generator constants and exit")
    ap.add_argument("--fixture", default="testdata/models/learned_bias/ckpt.pt")
    ap.add_argument("--models", default="fixture,base,gpt2")
    ap.add_argument("--gen", type=int, default=256)
    ap.add_argument("--warmup", type=int, default=64)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--out", default="pyref.json")
    a = ap.parse_args()
    if a.golden:
        golden()
        return
    import torch
    if not torch.cuda.is_available():
        sys.exit("pyref.py: no CUDA device")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    res = {"torch": torch.__version__, "cuda": torch.version.cuda,
           "device": torch.cuda.get_device_name(0), "prompt_ids": PROMPT_IDS,
           "gen_tokens": a.gen, "models": {}}
    for name in a.models.split(","):
        if name == "fixture":
            cfg, sd = load_fixture(a.fixture)
        else:
            cfg = dict(SHAPES[name])
            sd = hash_state_dict(cfg)
        cfg.setdefault("use_rope", False)
        r = {"config": cfg}
        with torch.no_grad():
            m32 = GPT(cfg, sd, torch.float32, "cuda")
            lg, _ = m32.forward(torch.tensor([PROMPT_IDS], device="cuda"), None)
            r["prefill_logits_fp32"] = lg[0].float().cpu().tolist()
            r["greedy_fp32"] = generate(m32, PROMPT_IDS, 32)[0].tolist()
            del m32
            torch.cuda.empty_cache()
            m16 = GPT(cfg, sd, torch.float16, "cuda")
            lg, _ = m16.forward(torch.tensor([PROMPT_IDS], device="cuda"), None)
            r["prefill_logits_fp16"] = lg[0].float().cpu().tolist()
            r["greedy_fp16"] = generate(m16, PROMPT_IDS, 32)[0].tolist()
            if a.warmup:
                generate(m16, PROMPT_IDS, a.warmup)
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            rates = []
            for _ in range(a.iters):
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                generate(m16, PROMPT_IDS, a.gen)
                torch.cuda.synchronize()
                rates.append(a.gen / (time.perf_counter() - t0))
            r["tokens_per_sec"] = rates
            r["tokens_per_sec_mean"] = sum(rates) / len(rates)
            r["peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
            del m16
            torch.cuda.empty_cache()
        print("pyref %-8s fp16 eager: %8.1f tok/s (peak %.1f MiB)" % (name, r["tokens_per_sec_mean"], r["peak_mib"]))
        res["models"][name] = r
    with open(a.out, "w") as f:
        json.dump(res, f)


if __name__ == "__main__":
    main()
