#!/usr/bin/python3
"""Independent float64 NumPy re-check of the fixtures written by make_fixtures.py.

Reads only the files on disk (ckpt.pt, model.safetensors, ref.json), runs the
SPEC section 1-2 forward and both generation paths in NumPy float64, and
compares with the float32 references. Run: /usr/bin/python3 testdata/gen/check_fixtures.py
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from make_fixtures import read_safetensors  # noqa: E402

M = Path(__file__).resolve().parents[1] / "models"
TOL = 1e-4


def erf(x):
    return np.vectorize(math.erf)(x)


class Ref:
    def __init__(self, cfg, sd):
        self.c, self.w = cfg, {k: v.double().numpy() for k, v in sd.items()}

    def ln(self, x, p):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-5) * self.w[p + ".weight"] + self.w[p + ".bias"]

    def lin(self, x, p):
        y = x @ self.w[p + ".weight"].T
        return y + self.w[p + ".bias"] if p + ".bias" in self.w else y

    def rope(self, x, pos):  # x [T, hd], interleaved pairs
        hd = x.shape[-1]
        out = x.copy()
        for t, p in enumerate(pos):
            for j in range(hd // 2):
                a = p * 10000.0 ** (-2 * j / hd)
                x0, x1 = x[t, 2 * j], x[t, 2 * j + 1]
                out[t, 2 * j], out[t, 2 * j + 1] = x0 * math.cos(a) - x1 * math.sin(a), x0 * math.sin(a) + x1 * math.cos(a)
        return out

    def forward(self, ids, wpe_pos, rope_pos, cache=None):
        c = self.c
        C, H, bs = c["n_embd"], c["n_head"], c["block_size"]
        hd = C // H
        x = self.w["wte.weight"][ids]
        if not c["use_rope"]:
            x = x + self.w["wpe.weight"][wpe_pos]
        T = len(ids)
        for i in range(c["n_layer"]):
            p = f"h.{i}."
            qkv = self.lin(self.ln(x, p + "ln_1"), p + "attn.c_attn")
            y = np.zeros((T, C))
            for h in range(H):
                q, k, v = (qkv[:, s * C + h * hd : s * C + (h + 1) * hd] for s in range(3))
                if c["use_rope"]:
                    q, k = self.rope(q, rope_pos), self.rope(k, rope_pos)
                if cache is not None:
                    key = (i, h)
                    if key in cache:
                        k, v = np.vstack([cache[key][0], k]), np.vstack([cache[key][1], v])
                    k, v = k[-bs:], v[-bs:]
                    cache[key] = (k, v)
                Tk = len(k)
                s_ = q @ k.T / math.sqrt(hd)
                s_ = np.where(np.tril(np.ones((T, Tk)), Tk - T) > 0, s_, -np.inf)
                s_ = np.exp(s_ - s_.max(-1, keepdims=True))
                y[:, h * hd : (h + 1) * hd] = (s_ / s_.sum(-1, keepdims=True)) @ v
            x = x + self.lin(y, p + "attn.c_proj")
            hdn = self.lin(self.ln(x, p + "ln_2"), p + "mlp.c_fc")
            x = x + self.lin(0.5 * hdn * (1 + erf(hdn / math.sqrt(2))), p + "mlp.c_proj")
        return self.ln(x, "ln_f") @ self.w["lm_head.weight"].T


def check_case(m, prompt, g, label):
    bs = m.c["block_size"]
    worst = 0.0
    for path in ("kv", "nocache"):
        ids = g[path]["ids"]
        want = {s["step"]: np.array(s["logits"]) for s in g[path]["steps"]}
        cache = {}
        for s in range(max(want) + 1):
            if path == "nocache" or s == 0:
                ctx = (prompt + ids[:s])[-bs:]
                pos = list(range(len(ctx)))
                lg = m.forward(ctx, pos, pos, cache if path == "kv" else None)[-1]
            else:
                n = len(next(iter(cache.values()))[0])
                lg = m.forward([ids[s - 1]], [min(n, bs - 1)], [n], cache)[-1]
            if s in want:
                worst = max(worst, float(np.abs(lg - want[s]).max()))
    print(f"  {label}: max |float64 - ref| over recorded steps (kv and nocache) = {worst:.2e}")
    return worst


def main() -> int:
    bad = 0
    for name in ("learned_bias", "rope_nobias", "fp16"):
        ref = json.loads((M / name / "ref.json").read_text())
        ck = torch.load(M / name / "ckpt.pt", map_location="cpu")
        sd = ck["model_state_dict"]
        assert sd["wte.weight"].data_ptr() == sd["lm_head.weight"].data_ptr()
        print(name, {str(v.dtype) for v in sd.values()}, "step", ck["step"])
        m = Ref(ck["model_config"], sd)
        d = np.abs(m.forward(ref["prompt_ids"], list(range(len(ref["prompt_ids"]))),
                             list(range(len(ref["prompt_ids"])))) - np.array(ref["prompt_logits"])).max()
        print(f"  prompt logits: max |float64 - ref| = {d:.2e}")
        worst = max(d, check_case(m, ref["prompt_ids"], ref["greedy"], "ROMEO: greedy steps"))
        lp = ref["long_prompt"]
        worst = max(worst, check_case(m, lp["prompt_ids"], lp["greedy"], "long prompt greedy steps"))
        if (M / name / "model.safetensors").exists():
            st = read_safetensors(M / name / "model.safetensors")
            assert "wte.weight" not in st and all(torch.equal(st[k], sd[k]) for k in st)
            print("  model.safetensors: same tensors as ckpt.pt (lm_head.weight kept, wte.weight dropped)")
        bad += worst > TOL
    print("OK" if not bad else "FAIL")
    return int(bad > 0)


if __name__ == "__main__":
    sys.exit(main())
