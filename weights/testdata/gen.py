#!/usr/bin/python3
"""Generates the weights package's test files with real PyTorch.

Run from anywhere with /usr/bin/python3 (PyTorch 1.13 or 2.x):

    /usr/bin/python3 weights/testdata/gen.py

It writes, next to itself:
  ckpt_fp32.pt  ckpt_fp16.pt  ckpt_bf16.pt   training-style checkpoints (pickle
        protocols 2, 4 and 5): model_config, model_state_dict (an OrderedDict
        from a tiny module whose lm_head is tied to wte), tokenizer, step,
        optimizer_state_dict (AdamW after one step), trainer_config, losses,
        special (sets, bytes, inf)
  ckpt_views.pt        tensors that are contiguous slices of one storage,
                        a scalar and an empty tensor
  ckpt_archive.pt      ckpt_views.pt re-zipped under the top folder "archive/"
                        (the name PyTorch 2.x uses)
  ckpt_noncontig.pt    a transposed (non-contiguous) tensor
  ckpt_evil_posix.pt   torch.save of an object whose __reduce__ is os.system
  ckpt_evil_os.pt      a hand-written protocol 4 pickle calling os.system
  tensors.safetensors  F32, F16 and BF16 tensors plus __metadata__
  expected.json        the values the Go tests compare against
"""
import collections
import json
import os
import struct
import zipfile

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
V, C, B = 11, 8, 4


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(V, C)
        self.wpe = nn.Embedding(B, C)
        self.c_attn = nn.Linear(C, 3 * C)
        self.ln_f = nn.LayerNorm(C)
        self.lm_head = nn.Linear(C, V, bias=False)
        self.lm_head.weight = self.wte.weight  # tied

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        q, k, v = self.c_attn(x).split(C, dim=2)
        return self.lm_head(self.ln_f(x + q * k + v))


def trainer_config():
    shared = [7, 8]
    return {
        "name": "tiny",
        "lr": 3e-4,
        "betas": (0.9, 0.95),
        "flags": [True, False, None],
        "small": -5,
        "int1": 200,
        "int2": 60000,
        "int4": -123456789,
        "big": 2 ** 40,
        "neg_big": -(2 ** 62),
        "unicode": "h\u00e9llo \u2713 \U0001F680",
        "nested": {"a": {"b": [1, [2, [3, {"c": "d"}]]]}},
        "empty_list": [],
        "empty_dict": {},
        "empty_tuple": (),
        "int_keys": {0: "zero", 1: "one"},
        "shared_a": shared,
        "shared_b": shared,
        "neg_zero": -0.0,
        "many": list(range(1500)),
    }


def special():
    return {
        "bytes": b"\x00\x01\xffabc",
        "empty_bytes": b"",
        "set": {3, 1, 2},
        "frozenset": frozenset({"x"}),
        "inf": float("inf"),
    }


def to_json(v):
    if isinstance(v, (tuple, list)):
        return [to_json(e) for e in v]
    if isinstance(v, dict):
        return {str(k): to_json(e) for k, e in v.items()}
    return v


def tensor_json(sd):
    return {
        k: {
            "dtype": str(t.dtype).replace("torch.", ""),
            "shape": list(t.shape),
            "values": t.detach().float().flatten().tolist(),
        }
        for k, t in sd.items()
    }


def writestr(z, name, data):
    """Adds a stored entry with a fixed date, so reruns give the same bytes."""
    z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)


def save(obj, name, protocol=2):
    torch.save(obj, os.path.join(HERE, name), pickle_protocol=protocol)


def main():
    torch.manual_seed(1234)
    model = Tiny()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    idx = torch.randint(0, V, (2, B))
    loss = nn.functional.cross_entropy(model(idx).view(-1, V), idx.view(-1))
    loss.backward()
    opt.step()

    expected = {"trainer_config": to_json(trainer_config())}
    cfg = {"vocab_size": V, "block_size": B, "n_layer": 0, "n_head": 2,
           "n_embd": C, "dropout": 0.1, "bias": True, "use_rope": False}
    vocab = list("\n !abcdefg\u00e9")[:V]
    for name, dtype, protocol in [("ckpt_fp32.pt", torch.float32, 2),
                                  ("ckpt_fp16.pt", torch.float16, 4),
                                  ("ckpt_bf16.pt", torch.bfloat16, 5)]:
        m = Tiny()
        m.load_state_dict(model.state_dict())
        m = m.to(dtype)
        sd = m.state_dict()
        assert isinstance(sd, collections.OrderedDict)
        assert sd["wte.weight"].data_ptr() == sd["lm_head.weight"].data_ptr()
        ckpt = {
            "model_config": cfg,
            "model_state_dict": sd,
            "tokenizer": {"type": "char", "vocab": vocab},
            "step": 1,
            "optimizer_state_dict": opt.state_dict(),
            "trainer_config": trainer_config(),
            "losses": [float(loss)],
            "special": special(),
        }
        save(ckpt, name, protocol)
        expected[name] = tensor_json(sd)
    expected["model_config"] = cfg
    expected["vocab"] = vocab

    base = torch.arange(12, dtype=torch.float32) * 0.5
    views = collections.OrderedDict([
        ("a", base[2:8].view(2, 3)),
        ("b", base[8:]),
        ("scalar", torch.tensor(3.25)),
        ("empty", torch.zeros(0, 4)),
    ])
    save({"model_state_dict": views}, "ckpt_views.pt")
    expected["ckpt_views.pt"] = tensor_json(views)

    # The same checkpoint under the folder name of PyTorch 2.x.
    with zipfile.ZipFile(os.path.join(HERE, "ckpt_views.pt")) as src, \
            zipfile.ZipFile(os.path.join(HERE, "ckpt_archive.pt"), "w",
                            zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            rest = info.filename.split("/", 1)[1]
            writestr(dst, "archive/" + rest, src.read(info.filename))

    save({"model_state_dict": {"w": torch.arange(6.0).view(2, 3).t()}},
         "ckpt_noncontig.pt")

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    save({"model_state_dict": {}, "x": Evil()}, "ckpt_evil_posix.pt")

    # Protocol 4: STACK_GLOBAL "os" "system", then REDUCE.
    evil = (b"\x80\x04}\x94\x8c\x10model_state_dict\x94}\x94s"
            b"\x8c\x01x\x94\x8c\x02os\x94\x8c\x06system\x94\x93\x94"
            b"\x8c\x0aecho pwned\x94\x85\x94R\x94s.")
    with zipfile.ZipFile(os.path.join(HERE, "ckpt_evil_os.pt"), "w",
                         zipfile.ZIP_STORED) as z:
        writestr(z, "archive/data.pkl", evil)
        writestr(z, "archive/version", "3\n")

    # safetensors, written by hand following the format.
    st = collections.OrderedDict([
        ("f32", torch.randn(2, 3)),
        ("f16", torch.randn(5).half()),
        ("bf16", torch.randn(3, 1).to(torch.bfloat16)),
    ])
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for k, t in st.items():
        raw = t.contiguous().view(torch.uint8).numpy().tobytes() if t.dtype != torch.float32 \
            else t.numpy().tobytes()
        dt = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}[t.dtype]
        header[k] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    hb = json.dumps(header).encode()
    hb += b" " * (-len(hb) % 8)
    with open(os.path.join(HERE, "tensors.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb + b"".join(blobs))
    expected["tensors.safetensors"] = tensor_json(st)

    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
