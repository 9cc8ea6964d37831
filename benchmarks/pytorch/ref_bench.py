#!/usr/bin/python3
"""PyTorch reference for BenchmarkGenerate: the same LabCore GPT shape in
eager PyTorch (the fixture generator's model, testdata/gen/make_fixtures.py,
which keeps a KV cache as upstream's does), timing greedy generation of
--gen tokens with the cache after an untimed warmup, as SPEC section 3 does.

    /usr/bin/python3 benchmarks/pytorch/ref_bench.py --config testdata/models/configs/base.toml

Weights are random (normal(0, 0.02), as upstream initialises them): speed
does not depend on their values. Prints one line per run and the mean.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "testdata" / "gen"))
import make_fixtures as mf  # noqa: E402


def model_section(path: Path) -> dict:
    """The [model] section of an upstream TOML config (ints, bools, floats).

    Read line by line: upstream configs hold `seed = null`, which tomllib
    rejects.
    """
    cfg, section = {}, None
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"\[([^\]]+)\]", line)
        if m:
            section = m.group(1).strip()
            continue
        if section != "model" or "=" not in line:
            continue
        k, v = (s.strip() for s in line.split("=", 1))
        if v in ("true", "false"):
            cfg[k] = v == "true"
        elif re.fullmatch(r"-?\d+", v):
            cfg[k] = int(v)
        else:
            try:
                cfg[k] = float(v)
            except ValueError:
                cfg[k] = v.strip('"')
    return cfg


def generate(model, prompt: list[int], n: int) -> tuple[float, float]:
    """Greedy generation of n tokens with the KV cache; (total s, prefill s)."""
    start = time.perf_counter()
    caches = mf.new_cache(model)
    lg = mf.prefill(model, caches, prompt)[-1]
    prefill = time.perf_counter() - start
    tok = int(lg.argmax())
    for _ in range(n - 1):
        lg, _, _ = mf.step_kv(model, caches, tok)
        tok = int(lg.argmax())
    return time.perf_counter() - start, prefill


def save_checkpoint(d: Path, cfg: dict, model) -> None:
    """Write model as upstream's trainer does (ckpt.pt, meta.json)."""
    _, vocab, _ = mf.load_corpus()
    if len(vocab) != cfg["vocab_size"]:
        sys.exit(f"--save-checkpoint: the corpus {mf.CORPUS} has {len(vocab)} characters, "
                 f"the config's vocab_size is {cfg['vocab_size']}")
    d.mkdir(parents=True, exist_ok=True)
    tok = {"type": "char", "vocab": vocab}
    keys = ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "dropout", "bias", "use_rope", "use_flash")
    model_config = {k: cfg.get(k, False) for k in keys}
    torch.save({"step": 0, "model_config": model_config, "model_state_dict": model.state_dict(), "tokenizer": tok},
               d / "ckpt.pt")
    mf.write_json(d / "meta.json", {"dataset": "tinyshakespeare", "vocab_size": len(vocab), "tokenizer": tok,
                                    "dtype": "uint16", "output_format": "bin"}, indent=2)
    print(f"wrote {d / 'ckpt.pt'} and {d / 'meta.json'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="upstream TOML config; its [model] section gives the shape")
    ap.add_argument("--gen", type=int, default=256, help="tokens per timed generation")
    ap.add_argument("--warmup", type=int, default=64, help="tokens of the untimed warmup")
    ap.add_argument("--runs", type=int, default=3, help="timed generations")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--dtype", choices=("fp32", "fp16"), default="fp32",
                    help="fp16 stores the weights as half and computes in half (CPU PyTorch has no mixed mode)")
    ap.add_argument("--save-checkpoint", metavar="DIR",
                    help="also write the timed model as an upstream checkpoint, DIR/ckpt.pt and DIR/meta.json "
                         "(char tokenizer of the corpus; its vocabulary must have vocab_size characters), so that "
                         "tools/benchinfer can time the very same weights")
    args = ap.parse_args()

    cfg = model_section(Path(args.config))
    cfg = {"dropout": 0.0, "bias": True, "use_rope": False, **cfg}
    cfg["dropout"] = 0.0
    torch.manual_seed(1337)
    torch.set_num_threads(args.threads)
    model = mf.GPT(cfg).eval()
    if args.dtype == "fp16":
        model = model.half()
    if args.save_checkpoint:
        save_checkpoint(Path(args.save_checkpoint), cfg, model)
    prompt = [i % cfg["vocab_size"] for i in (1, 2, 3, 4, 5, 6)]  # six tokens, like "ROMEO:"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.config}: "
          f"{cfg['n_layer']} layers, {cfg['n_head']} heads, {cfg['n_embd']} wide, vocab {cfg['vocab_size']}, "
          f"{model.params_m():.2f} M params, {args.dtype}")
    rates, decodes = [], []
    with torch.inference_mode():
        if args.warmup:
            generate(model, prompt, args.warmup)
        for i in range(args.runs):
            total, prefill = generate(model, prompt, args.gen)
            rates.append(args.gen / total)
            decodes.append((args.gen - 1) / (total - prefill))
            print(f"run {i}: {args.gen / total:.1f} tokens/s, decode {(args.gen - 1) / (total - prefill):.1f} tokens/s, "
                  f"prefill {prefill * 1e3:.2f} ms")
    print(f"mean: {sum(rates) / len(rates):.1f} tokens/s, best {max(rates):.1f}, spread {min(rates):.1f}-{max(rates):.1f}; "
          f"decode best {max(decodes):.1f} tokens/s")


if __name__ == "__main__":
    main()
