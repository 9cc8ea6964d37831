#!/usr/bin/python3
"""Generate the PyTorch reference fixtures under testdata/models/.

Run from the repository root with PyTorch 1.13 (``make fixtures``):

    /usr/bin/python3 testdata/gen/make_fixtures.py

It contains its own compact implementation of the LabCore GPT as stated in
SPEC.md sections 1-2 (learned positions or interleaved RoPE, optional Linear
bias, tied wte/lm_head, exact erf GELU, LayerNorm eps 1e-5, nn.Linear [out,in]
weights, upstream state-dict names) and the two generation paths of section 2:
the sliding-window KV cache and the no-cache full forward. It trains three tiny
character models on tinyshakespeare with AdamW (seeded, single-threaded, fixed
step counts) and writes, per model, the artifacts upstream would write
(ckpt.pt, meta.json; for learned_bias also the export_hf trio) and ref.json
with float32 reference logits and greedy token ids for both paths.

Everything is deterministic for a given machine and torch build: the seed is
fixed and torch runs on one thread.
"""

from __future__ import annotations

import json
import math
import os
import struct
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("TINYSHAKESPEARE", "/work/shared/data/tinyshakespeare.txt"))
OUT = ROOT / "testdata" / "models"
SEED = 1337
PROMPT = "ROMEO:"

# ---------------------------------------------------------------------------
# Model (SPEC section 1)
# ---------------------------------------------------------------------------


class Attention(nn.Module):
    def __init__(self, cfg: dict) -> None:
        super().__init__()
        C, H = cfg["n_embd"], cfg["n_head"]
        assert C % H == 0, "n_embd must divide by n_head"
        self.n_head, self.hd, self.bs = H, C // H, cfg["block_size"]
        self.use_rope, self.p = cfg["use_rope"], cfg["dropout"]
        assert not self.use_rope or self.hd % 2 == 0, "RoPE needs an even head size"
        self.c_attn = nn.Linear(C, 3 * C, bias=cfg["bias"])
        self.c_proj = nn.Linear(C, C, bias=cfg["bias"])

    def rope(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        # inv_freq[j] = 10000^(-2j/hd); rotate interleaved pairs (x[2j], x[2j+1]).
        inv_freq = 1.0 / (10000.0 ** (torch.arange(0, self.hd, 2, dtype=torch.float32) / self.hd))
        ang = torch.outer(pos.to(torch.float32), inv_freq)  # [T, hd/2]
        cos, sin = ang.cos(), ang.sin()
        xe, xo = x[..., 0::2], x[..., 1::2]
        return torch.stack((xe * cos - xo * sin, xe * sin + xo * cos), dim=-1).flatten(-2)

    def forward(self, x: torch.Tensor, rope_pos: torch.Tensor, cache: dict | None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, self.hd).transpose(1, 2) for t in (q, k, v))
        if self.use_rope:
            q, k = self.rope(q, rope_pos), self.rope(k, rope_pos)
        if cache is not None:
            # SPEC 2: append the new k/v, keep the newest block_size entries,
            # the new queries attend over what remains. Cached keys keep their
            # rotation.
            if "k" in cache:
                assert T == 1, "only single tokens are fed to a non-empty cache"
                k = torch.cat((cache["k"], k), dim=2)
                v = torch.cat((cache["v"], v), dim=2)
            k, v = k[:, :, -self.bs :], v[:, :, -self.bs :]
            cache["k"], cache["v"] = k, v
        Tk = k.size(2)
        att = (q @ k.transpose(-2, -1)) * (self.hd ** -0.5)
        # query i is key index Tk-T+i: causal mask aligned at the end.
        keep = torch.ones(T, Tk, dtype=torch.bool).tril(diagonal=Tk - T)
        att = att.masked_fill(~keep, float("-inf")).softmax(dim=-1)
        att = F.dropout(att, self.p, self.training)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return F.dropout(self.c_proj(y), self.p, self.training)


class MLP(nn.Module):
    def __init__(self, cfg: dict) -> None:
        super().__init__()
        C = cfg["n_embd"]
        self.c_fc = nn.Linear(C, 4 * C, bias=cfg["bias"])
        self.c_proj = nn.Linear(4 * C, C, bias=cfg["bias"])
        self.p = cfg["dropout"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(self.c_proj(F.gelu(self.c_fc(x))), self.p, self.training)  # exact erf GELU


class Block(nn.Module):
    def __init__(self, cfg: dict) -> None:
        super().__init__()
        C = cfg["n_embd"]
        self.ln_1 = nn.LayerNorm(C, eps=1e-5)
        self.attn = Attention(cfg)
        self.ln_2 = nn.LayerNorm(C, eps=1e-5)
        self.mlp = MLP(cfg)

    def forward(self, x, rope_pos, cache):
        x = x + self.attn(self.ln_1(x), rope_pos, cache)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, cfg: dict) -> None:
        super().__init__()
        self.cfg = dict(cfg)
        V, C = cfg["vocab_size"], cfg["n_embd"]
        self.wte = nn.Embedding(V, C)
        self.wpe = None if cfg["use_rope"] else nn.Embedding(cfg["block_size"], C)
        self.h = nn.ModuleList(Block(cfg) for _ in range(cfg["n_layer"]))
        self.ln_f = nn.LayerNorm(C, eps=1e-5)
        self.lm_head = nn.Linear(C, V, bias=False)
        self.wte.weight = self.lm_head.weight  # tied, as upstream
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, 0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, idx, wpe_pos, rope_pos, caches=None):
        x = self.wte(idx)
        if self.wpe is not None:
            x = x + self.wpe(wpe_pos)
        x = F.dropout(x, self.cfg["dropout"], self.training)
        for i, blk in enumerate(self.h):
            x = blk(x, rope_pos, None if caches is None else caches[i])
        return self.lm_head(self.ln_f(x))

    def params_m(self) -> float:
        return sum(p.numel() for p in self.parameters()) / 1e6  # tied matrix once


# ---------------------------------------------------------------------------
# Generation paths (SPEC section 2), batch 1, float32
# ---------------------------------------------------------------------------


def full_forward(model: GPT, ids: list[int]) -> torch.Tensor:
    """No-cache forward over the newest block_size ids at positions 0..T-1: [T, V]."""
    ids = ids[-model.cfg["block_size"] :]
    pos = torch.arange(len(ids))
    return model(torch.tensor([ids]), pos, pos)[0]


def new_cache(model: GPT) -> list[dict]:
    return [{} for _ in range(model.cfg["n_layer"])]


def cache_len(caches: list[dict]) -> int:
    return caches[0]["k"].size(2) if "k" in caches[0] else 0


def prefill(model: GPT, caches: list[dict], ids: list[int]) -> torch.Tensor:
    """Run the last block_size prompt ids at positions 0..T-1 into an empty cache: [T, V]."""
    assert cache_len(caches) == 0
    return full_forward_with(model, ids[-model.cfg["block_size"] :], caches)


def full_forward_with(model, ids, caches):
    pos = torch.arange(len(ids))
    return model(torch.tensor([ids]), pos, pos, caches)[0]


def step_kv(model: GPT, caches: list[dict], tok: int) -> tuple[torch.Tensor, int, int]:
    """Feed one token with the cache: wpe position min(cache_len, bs-1), RoPE position cache_len."""
    n = cache_len(caches)
    wpe_pos = min(n, model.cfg["block_size"] - 1)
    logits = model(torch.tensor([[tok]]), torch.tensor([wpe_pos]), torch.tensor([n]), caches)[0, -1]
    return logits, wpe_pos, n


def greedy(model: GPT, prompt: list[int], n_new: int, use_kv: bool):
    """Greedy (argmax) generation. Returns (new ids, per-step logits, per-step info).

    Step s holds the logits the s-th new token is chosen from: step 0 comes
    from the prompt (prefill), step s>0 from feeding token s-1.
    """
    bs = model.cfg["block_size"]
    out, logits_per_step, info = [], [], []
    caches = new_cache(model) if use_kv else None
    for s in range(n_new):
        if s == 0:
            if use_kv:
                lg = prefill(model, caches, prompt)[-1]
            else:
                lg = full_forward(model, prompt)[-1]
            kept = min(len(prompt), bs)
            info.append({"cache_len_before": 0, "wpe_pos": kept - 1, "rope_pos": kept - 1, "context_len": kept})
        elif use_kv:
            lg, wpe_pos, n = step_kv(model, caches, out[-1])
            info.append({"cache_len_before": n, "wpe_pos": wpe_pos, "rope_pos": n, "context_len": cache_len(caches)})
        else:
            ctx = prompt + out
            lg = full_forward(model, ctx)[-1]
            kept = min(len(ctx), bs)
            info.append({"cache_len_before": None, "wpe_pos": kept - 1, "rope_pos": kept - 1, "context_len": kept})
        logits_per_step.append(lg)
        out.append(int(lg.argmax()))
    return out, logits_per_step, info


def margin(lg: torch.Tensor) -> float:
    top = lg.topk(2).values
    return float(top[0] - top[1])


# ---------------------------------------------------------------------------
# Data, training
# ---------------------------------------------------------------------------


def load_corpus():
    text = CORPUS.read_text(encoding="utf-8")
    vocab = sorted(set(text))
    stoi = {c: i for i, c in enumerate(vocab)}
    return text, vocab, stoi


def train(cfg: dict, data: torch.Tensor, tcfg: dict, seed: int):
    torch.manual_seed(seed)
    model = GPT(cfg)
    opt = torch.optim.AdamW(
        model.parameters(), lr=tcfg["learning_rate"], betas=(tcfg["beta1"], tcfg["beta2"]),
        weight_decay=tcfg["weight_decay"],
    )
    n = int(0.9 * len(data))
    splits = {"train": data[:n], "val": data[n:]}
    gen = torch.Generator().manual_seed(seed)
    bs, B = cfg["block_size"], tcfg["batch_size"]

    def batch(split):
        d = splits[split]
        ix = torch.randint(len(d) - bs - 1, (B,), generator=gen)
        x = torch.stack([d[i : i + bs] for i in ix])
        y = torch.stack([d[i + 1 : i + 1 + bs] for i in ix])
        return x, y

    pos = torch.arange(bs)

    def loss_of(x, y):
        logits = model(x, pos, pos)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))

    steps, lr0, lrmin, warm = tcfg["max_iters"], tcfg["learning_rate"], tcfg["min_lr"], tcfg["warmup_iters"]
    t0 = time.time()
    model.train()
    for it in range(steps):
        if it < warm:
            lr = lr0 * (it + 1) / warm
        else:
            lr = lrmin + 0.5 * (1 + math.cos(math.pi * (it - warm) / (steps - warm))) * (lr0 - lrmin)
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = batch("train")
        loss = loss_of(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg["grad_clip"])
        opt.step()
        if it % 100 == 0 or it == steps - 1:
            print(f"  step {it:5d} loss {loss.item():.4f} lr {lr:.2e} ({time.time() - t0:.0f}s)", flush=True)
    model.eval()
    losses = {}
    with torch.no_grad():
        for split in ("train", "val"):
            losses[split] = float(np.mean([loss_of(*batch(split)).item() for _ in range(tcfg["eval_iters"])]))
    print(f"  final losses {losses}  ({time.time() - t0:.0f}s)")
    return model, opt, losses


# ---------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------


def f32list(t: torch.Tensor):
    """float32 tensor -> nested lists of floats with the shortest float32 repr."""
    def conv(a):
        return [conv(r) for r in a] if a.ndim > 1 else [float(str(v)) for v in a]

    return conv(t.detach().to(torch.float32).numpy())


def write_json(path: Path, obj, indent=None) -> None:
    path.write_text(json.dumps(obj, indent=indent, ensure_ascii=False) + "\n", encoding="utf-8")


ST_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def write_safetensors(path: Path, sd: dict) -> None:
    """Write the safetensors format by hand, keeping only lm_head.weight of the tied pair.

    Layout: u64 little-endian header length N, N bytes of JSON header (padded
    with spaces to a multiple of 8), then the raw little-endian tensor data.
    Tensors are laid out sorted by name, as safetensors does for one dtype.
    """
    tensors = {k: v for k, v in sd.items() if k != "wte.weight"}  # save_model keeps lm_head.weight
    header = {"__metadata__": {"format": "pt"}}
    blobs, off = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        raw = t.numpy().astype(t.numpy().dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * (-len(hb) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)


def read_safetensors(path: Path) -> dict:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    base = 8 + n
    inv = {v: k for k, v in ST_DTYPES.items()}
    out = {}
    for name, m in header.items():
        if name == "__metadata__":
            continue
        b, e = m["data_offsets"]
        out[name] = torch.frombuffer(bytearray(raw[base + b : base + e]), dtype=inv[m["dtype"]]).view(m["shape"])
    return out


BASE_TOML = """\
# Shape of upstream LabCore LLM configs/base.toml (fixture for the TOML loader).
# NOTE: `seed = null` below is NOT valid TOML on purpose: upstream files
# contain it and it must be read as "no seed".

[general]
project = "labcore-llm"
run_name = "base"

[data]
dataset = "tinyshakespeare"
processed_dir = "data/processed"
tokenizer = "char"

[model]
n_layer = 6
n_head = 8
n_embd = 256
block_size = 512
vocab_size = 65
dropout = 0.1
bias = true
use_rope = false
use_flash = false

[training]
batch_size = 8
max_iters = 10000
eval_interval = 200
eval_iters = 50
log_interval = 20
learning_rate = 3e-4
weight_decay = 0.01
grad_clip = 1.0
grad_accum_steps = 1
precision = "fp32"
device = "cuda"
checkpoint_dir = "checkpoints"
data_format = "txt"

[generation]
max_new_tokens = 200
temperature = 0.6
top_k = 50
top_p = 0.95
repetition_penalty = 1.1
use_kv_cache = true
deterministic = false
seed = null
"""

TINY_TOML = """\
# Matches testdata/models/learned_bias (the bundled benchmark model). Valid TOML.

[general]
project = "tokbench-fixtures"
run_name = "learned_bias"

[data]
dataset = "tinyshakespeare"
processed_dir = "testdata/models/learned_bias"
tokenizer = "char"

[model]
n_layer = 3
n_head = 4
n_embd = 64
block_size = 32
vocab_size = 65
dropout = 0.1
bias = true
use_rope = false
use_flash = false

[training]
batch_size = 16
max_iters = {max_iters}
learning_rate = 4e-3
weight_decay = 0.01
grad_clip = 1.0
precision = "fp32"
device = "cpu"

[generation]
max_new_tokens = 96
temperature = 0.9
top_k = 40
top_p = 1.0
repetition_penalty = 1.0
use_kv_cache = true
deterministic = true
seed = 1337
"""


# ---------------------------------------------------------------------------
# Per-model fixture
# ---------------------------------------------------------------------------

MODELS = [
    # name, config, training overrides, storage dtype
    ("learned_bias", dict(n_layer=3, n_head=4, n_embd=64, block_size=32, dropout=0.1, bias=True, use_rope=False),
     dict(max_iters=650), torch.float32),
    ("rope_nobias", dict(n_layer=2, n_head=4, n_embd=64, block_size=32, dropout=0.0, bias=False, use_rope=True),
     dict(max_iters=600), torch.float32),
    ("fp16", dict(n_layer=2, n_head=2, n_embd=48, block_size=24, dropout=0.0, bias=True, use_rope=False),
     dict(max_iters=900), torch.float16),
]


def trainer_config(cfg: dict, over: dict) -> dict:
    t = dict(
        batch_size=16, block_size=cfg["block_size"], max_iters=500, eval_interval=500, eval_iters=10,
        log_interval=100, learning_rate=4e-3, weight_decay=0.01, grad_clip=1.0, gradient_accumulation_steps=1,
        warmup_iters=30, lr_decay_iters=500, min_lr=4e-4, save_interval=500, beta1=0.9, beta2=0.95,
        tokenizer_name="char", data_format="txt", meta_path="data/processed/meta.json", device="cpu",
        checkpoint_dir="checkpoints", precision="fp32", seed=SEED,
    )
    t.update(over)
    if os.environ.get("FIXTURE_ITERS"):  # development only: quick, NOT the committed fixtures
        t["max_iters"] = int(os.environ["FIXTURE_ITERS"])
    t["lr_decay_iters"] = t["max_iters"]
    t["eval_interval"] = t["save_interval"] = t["max_iters"]
    return t


def sample_text(model, stoi, itos, n=200, temperature=0.8, top_k=20, seed=SEED):
    """A seeded top-k sample through the no-cache path, only to eyeball quality."""
    g = torch.Generator().manual_seed(seed)
    ids = [stoi[c] for c in PROMPT]
    for _ in range(n):
        lg = full_forward(model, ids)[-1] / temperature
        v, _ = lg.topk(top_k)
        lg[lg < v[-1]] = float("-inf")
        ids.append(int(torch.multinomial(lg.softmax(-1), 1, generator=g)))
    return "".join(itos[i] for i in ids)


def path_case(model, prompt_ids, n_new, steps, itos):
    """Greedy ids, margins and selected-step logits for both paths."""
    res = {}
    for key, kv in (("kv", True), ("nocache", False)):
        ids, lgs, info = greedy(model, prompt_ids, n_new, kv)
        res[key] = {
            "ids": ids,
            "text": "".join(itos[i] for i in ids),
            "min_margin": min(margin(l) for l in lgs),
            "margins": [float(str(np.float32(margin(l)))) for l in lgs],
            "steps": [dict(step=s, **info[s], argmax=ids[s], logits=f32list(lgs[s])) for s in steps if s < n_new],
        }
        res[key]["_lgs"] = lgs
    return res


def diverge_report(name, model, prompt_ids, case, bs, label):
    a, b = case["kv"]["ids"], case["nocache"]["ids"]
    first = next((i for i in range(len(a)) if a[i] != b[i]), None)
    # Logit gap between the paths on the SAME context (the KV sequence),
    # step by step, to show where positions make them differ.
    kv_lgs = case["kv"]["_lgs"]
    first_diff_step, maxdiff_pre = None, 0.0
    for s in range(len(a)):
        nc = full_forward(model, prompt_ids + a[:s])[-1]
        d = float((nc - kv_lgs[s]).abs().max())
        total = len(prompt_ids) + s  # tokens in the context before step s
        if total <= bs:
            maxdiff_pre = max(maxdiff_pre, d)
        elif first_diff_step is None and d > 1e-4:
            first_diff_step = s
    print(f"  [{name}/{label}] KV vs no-cache on the same context: max |dlogit| while context <= block_size: "
          f"{maxdiff_pre:.2e}; first step with |dlogit|>1e-4 after the slide: {first_diff_step}; "
          f"greedy ids first differ at step {first}")
    return {"greedy_ids_first_differ_at_step": first, "max_abs_logit_diff_before_slide": maxdiff_pre,
            "first_step_logits_differ_after_slide": first_diff_step}


def make_model(name, arch, over, dtype, text, vocab, stoi, data):
    print(f"== {name}", flush=True)
    cfg = dict(vocab_size=len(vocab), **arch, use_flash=False)
    # key order as upstream's GPTConfig
    cfg = {k: cfg[k] for k in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "dropout", "bias",
                                "use_rope", "use_flash")}
    tcfg = trainer_config(cfg, over)
    model, opt, losses = train(cfg, data, tcfg, SEED)
    itos = vocab
    d = OUT / name
    d.mkdir(parents=True, exist_ok=True)

    if dtype != torch.float32:
        model.half()  # tie survives: one Parameter object
    sd = model.state_dict()
    assert sd["wte.weight"].data_ptr() == sd["lm_head.weight"].data_ptr(), "tied weights must share storage"
    tok = {"type": "char", "vocab": vocab}
    payload = {
        "step": tcfg["max_iters"] - 1,
        "model_config": cfg,
        "model_state_dict": sd,
        "optimizer_state_dict": opt.state_dict(),
        "trainer_config": tcfg,
        "losses": losses,
        "tokenizer": tok,
    }
    torch.save(payload, d / "ckpt.pt")
    write_json(d / "meta.json", {"dataset": "tinyshakespeare", "vocab_size": len(vocab), "tokenizer": tok,
                                 "dtype": "uint16", "output_format": "bin"}, indent=2)

    # References always come from the weights exactly as stored, widened to fp32.
    ref_model = GPT(cfg)
    # torch 1.13's weights_only unpickler lacks BINFLOAT, so load normally (our own file).
    ck = torch.load(d / "ckpt.pt", map_location="cpu")
    ref_model.load_state_dict({k: v.float() for k, v in ck["model_state_dict"].items()}, strict=True)
    ref_model.eval()
    assert all(v.dtype == dtype for v in ck["model_state_dict"].values())

    bs = cfg["block_size"]
    prompt_ids = [stoi[c] for c in PROMPT]
    n_new = 3 * bs + 8
    P = len(prompt_ids)
    steps = sorted({0, 1, bs - P - 1, bs - P, bs - P + 1, bs - P + 2} | set(range(bs - 2, bs + 4)) |
                   {2 * bs + 1, n_new - 1})
    long_prompt = text[:50]
    long_ids = [stoi[c] for c in long_prompt]
    with torch.no_grad():
        full = full_forward(ref_model, prompt_ids)
        case = path_case(ref_model, prompt_ids, n_new, steps, itos)
        rep = diverge_report(name, ref_model, prompt_ids, case, bs, "ROMEO:")
        assert case["kv"]["ids"][: bs - P + 1] == case["nocache"]["ids"][: bs - P + 1], "paths differ before slide"
        long_full = full_forward(ref_model, long_ids)
        n_long = bs + 8
        long_case = path_case(ref_model, long_ids, n_long, [0, 1, 2, bs, n_long - 1], itos)
        long_rep = diverge_report(name, ref_model, long_ids, long_case, bs, "long")
        sample = sample_text(ref_model, stoi, itos)
    for c in (case, long_case):
        for k in ("kv", "nocache"):
            del c[k]["_lgs"]
    print("  greedy (kv):", repr(PROMPT + case["kv"]["text"][:80]))
    print("  sample     :", repr(sample[:160]))

    ref = {
        "about": "float32 references from testdata/gen/make_fixtures.py; see testdata/README.md",
        "config": cfg,
        "params_m": ref_model.params_m(),
        "weights_dtype": {torch.float32: "float32", torch.float16: "float16"}[dtype],
        "compute_dtype": "float32",
        "prompt": PROMPT,
        "prompt_ids": prompt_ids,
        "prompt_logits_last": f32list(full[-1]),
        "prompt_logits": f32list(full),
        "greedy": {"n_new": n_new, **case, "divergence": rep},
        "long_prompt": {
            "prompt": long_prompt,
            "prompt_ids": long_ids,
            "kept_ids": long_ids[-bs:],
            "prefill_logits_last": f32list(long_full[-1]),
            "prefill_logits": f32list(long_full),
            "greedy": {"n_new": n_long, **long_case, "divergence": long_rep},
        },
        "sample_top_k": {"temperature": 0.8, "top_k": 20, "torch_seed": SEED, "text": sample},
        "train_losses": losses,
    }
    write_json(d / "ref.json", ref)

    if name == "learned_bias":
        write_safetensors(d / "model.safetensors", ck["model_state_dict"])
        st = read_safetensors(d / "model.safetensors")
        assert set(st) == set(sd) - {"wte.weight"}
        for k, v in st.items():
            assert torch.equal(v, ck["model_state_dict"][k]), k
        write_json(d / "config.json", {"architectures": ["GPT"], "model_type": "labcore_gpt", **cfg}, indent=2)
        write_json(d / "tokenizer.json", tok, indent=2)
    if dtype == torch.float16:
        fp16_sensitivity(model, ref_model, prompt_ids, ref)
    return ref


def fp16_sensitivity(trained_half, ref_model, prompt_ids, ref):
    """Report how far fp16 arithmetic could move the logits, for README's tolerance.

    Emulates an fp16 engine by rounding every activation to fp16 after each
    op (accumulation in fp32, like GPU tensor cores) and compares with the
    fp32-compute reference on the same fp16 weights.
    """
    def r(t):
        return t.half().float()

    m = ref_model
    ids = prompt_ids
    with torch.no_grad():
        pos = torch.arange(len(ids))
        x = r(m.wte(torch.tensor([ids])) + m.wpe(pos))
        for blk in m.h:
            a = blk.attn
            h = r(blk.ln_1(x))
            B, T, C = h.shape
            q, k, v = r(a.c_attn(h)).split(C, dim=2)
            q, k, v = (t.view(B, T, a.n_head, a.hd).transpose(1, 2) for t in (q, k, v))
            att = r((q @ k.transpose(-2, -1)) * (a.hd ** -0.5))
            att = r(att.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf")).softmax(-1))
            y = r(att @ v).transpose(1, 2).reshape(B, T, C)
            x = r(x + r(a.c_proj(y)))
            x = r(x + r(blk.mlp.c_proj(r(F.gelu(r(blk.mlp.c_fc(r(blk.ln_2(x)))))))))
        lg = r(m.lm_head(r(m.ln_f(x))))[0, -1]
    ref32 = torch.tensor(ref["prompt_logits_last"])
    d = float((lg - ref32).abs().max())
    print(f"  fp16-activation emulation: max |dlogit| vs fp32 compute = {d:.3e} (logit range "
          f"{float(ref32.min()):.2f}..{float(ref32.max()):.2f})")


def main() -> int:
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    text, vocab, stoi = load_corpus()
    assert len(vocab) == 65, len(vocab)
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    OUT.mkdir(parents=True, exist_ok=True)
    only = set(sys.argv[1:])
    for name, arch, over, dtype in MODELS:
        if only and name not in only:
            continue
        make_model(name, arch, over, dtype, text, vocab, stoi, data)
    cdir = OUT / "configs"
    cdir.mkdir(exist_ok=True)
    (cdir / "base.toml").write_text(BASE_TOML, encoding="utf-8")
    (cdir / "tiny.toml").write_text(TINY_TOML.format(max_iters=MODELS[0][2]["max_iters"]), encoding="utf-8")
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"fixtures under {OUT.relative_to(ROOT)}: {total / 2**20:.2f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
