#!/usr/bin/env python3
"""summarize.py RESULTS_DIR: read run.sh's logs and pyref.json, print a
summary and write RESULTS_DIR/summary.json."""
import json
import os
import re
import sys

R = sys.argv[1] if len(sys.argv) > 1 else "."


def read(name):
    try:
        with open(os.path.join(R, name)) as f:
            return f.read()
    except OSError:
        return ""


def rc(log):
    m = re.findall(r"^rc=(\d+)$", log, re.M)
    return int(m[-1]) if m else None


def bench_lines(log):
    """Go benchmark result lines -> {name: {unit: [values...]}}."""
    out = {}
    for line in log.splitlines():
        if not line.startswith("Benchmark"):
            continue
        f = line.split()
        name = re.sub(r"-\d+$", "", f[0])
        d = out.setdefault(name, {})
        vals = f[2:]
        for i in range(0, len(vals) - 1, 2):
            try:
                d.setdefault(vals[i + 1], []).append(float(vals[i]))
            except ValueError:
                pass
    return out


def mean(x):
    return sum(x) / len(x) if x else None


s = {"gpu": read("gpu.txt").strip()}
try:
    s["commit"] = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "COMMIT")).read().strip()
except OSError:
    s["commit"] = None

test = read("cudakern-test.log")
s["tests"] = {
    "rc": rc(test),
    "passed": len(re.findall(r"^\s*--- PASS", test, re.M)),
    "failed": re.findall(r"^\s*--- FAIL: (\S+)", test, re.M),
    "skipped": re.findall(r"^\s*--- SKIP: (\S+)", test, re.M),
    "measured": [l.strip() for l in test.splitlines() if re.search(r"vs PyTorch|vs CPU|ambiguous|greedy:|bytes for", l)],
}

py = {}
try:
    py = json.loads(read("pyref.json") or "{}")
except ValueError:
    pass
s["pytorch"] = {"torch": py.get("torch"), "device": py.get("device"), "rc": rc(read("pyref.log"))}

ours = bench_lines(read("cudakern-bench.log"))
models = {}
for name in ("fixture", "base", "gpt2"):
    o = ours.get("BenchmarkDecode/model=" + name, {})
    p = py.get("models", {}).get(name, {})
    m = {
        "tokbench_tokens_per_sec": mean(o.get("tokens/s", [])),
        "tokbench_decode_tokens_per_sec": mean(o.get("decode-tokens/s", [])),
        "tokbench_prefill_ms": mean([v / 1e6 for v in o.get("prefill-ns", [])]),
        "tokbench_vram_mib": mean(o.get("vram-MiB", [])),
        "tokbench_hbm_roofline_pct": mean(o.get("hbm-roofline-%", [])),
        "pytorch_eager_tokens_per_sec": p.get("tokens_per_sec_mean"),
        "pytorch_peak_mib": p.get("peak_mib"),
    }
    if m["tokbench_tokens_per_sec"] and m["pytorch_eager_tokens_per_sec"]:
        m["speedup_vs_pytorch"] = m["tokbench_tokens_per_sec"] / m["pytorch_eager_tokens_per_sec"]
    models[name] = m
s["decode_benchmark"] = models


def met(v, bound):
    """True or False against bound, None when the figure was not measured."""
    return None if v is None else v >= bound


s["targets"] = {
    "base_decode_5x_pytorch": met(models["base"].get("speedup_vs_pytorch"), 5),
    "gpt2_40pct_hbm_roofline": met(models["gpt2"].get("tokbench_hbm_roofline_pct"), 40),
}

gen = {}
for log in ("benchgen-local.log", "benchgen-cpu.log", "benchgen-gpt2.log"):
    text = read(log)
    dev = re.findall(r'^# tokbench-config .*"device-type":"(\w+)"', text, re.M)
    for name, d in bench_lines(text).items():
        gen[name] = {"tokens_per_sec_mean": mean(d.get("tokens/s", [])),
                     "decode_tokens_per_sec_mean": mean(d.get("decode-tokens/s", [])),
                     "prefill_ms_mean": mean([v / 1e6 for v in d.get("prefill-ns", [])])}
    gen[log + ":device-types"] = dev
    gen[log + ":rc"] = rc(text)
for v in ("vram-local.json", "vram-gpt2.json"):
    try:
        gen[v] = json.loads(read(v))
    except ValueError:
        pass
s["benchmark_generate"] = gen

print("== summary")
print("GPU:", s["gpu"].splitlines()[0] if s["gpu"] else "?")
t = s["tests"]
print("cudakern tests: rc=%s passed=%d failed=%s" % (t["rc"], t["passed"], t["failed"] or "none"))


def fmt(v):
    return "-" if v is None else "%.1f" % v


for name, m in models.items():
    print("%-8s tokbench %s tok/s (decode %s, prefill %s ms, %s MiB, roofline %s%%) | PyTorch eager %s tok/s | x%s" % (
        name, fmt(m["tokbench_tokens_per_sec"]),
        fmt(m["tokbench_decode_tokens_per_sec"]), fmt(m["tokbench_prefill_ms"]), fmt(m["tokbench_vram_mib"]),
        fmt(m["tokbench_hbm_roofline_pct"]), fmt(m["pytorch_eager_tokens_per_sec"]), fmt(m.get("speedup_vs_pytorch"))))
print("targets:", s["targets"])
for k, v in gen.items():
    if k.startswith("Benchmark"):
        print("%s: %.1f tok/s" % (k, v["tokens_per_sec_mean"] or 0))
with open(os.path.join(R, "summary.json"), "w") as f:
    json.dump(s, f, indent=1)
print("summary written to", os.path.join(R, "summary.json"))
