// gen_bpe_refs.mjs writes bpe_refs.json: reference GPT-2 token ids computed by
// the real tiktoken (the npm package is the WASM build of tiktoken's Rust
// core, the same code the Python package runs).
//
// Usage (outside the repo, so node_modules never lands in it):
//
//	mkdir -p /tmp/tk && cd /tmp/tk && npm init -y && npm install tiktoken@1.0.22
//	cd /work/main/gpt/tokenizer/testdata
//	TIKTOKEN_DIR=/tmp/tk node gen_bpe_refs.mjs ../../../../shared/data/tinyshakespeare.txt > bpe_refs.json
//
// The Shakespeare path is optional; without it those cases are left out.

import { createRequire } from "node:module";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";

const base = process.env.TIKTOKEN_DIR
  ? path.join(path.resolve(process.env.TIKTOKEN_DIR), "noop.cjs")
  : import.meta.url;
const require = createRequire(base);
const { get_encoding } = require("tiktoken");
const version = JSON.parse(
  readFileSync(path.join(path.dirname(require.resolve("tiktoken")), "package.json"), "utf8"),
).version;

const enc = get_encoding("gpt2");
// Non-fatal: U+FFFD like Python's errors="replace"; ignoreBOM keeps a leading
// U+FEFF, which Python's "utf-8" codec keeps too.
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });

const texts = [
  // empty and whitespace
  "", " ", "  ", "\t", "\n", "\n\n\n", "\r\n", "line1\r\nline2\r\n",
  "a b", "a  b", "a   b", "a\tb", "a \tb", "a\t b", "trailing   ", "trailing\n", "trailing \n",
  "  leading", "\t\tindented", "x\t \ny", " \n ", "\n \n", " ".repeat(50) + "x", "\n".repeat(10) + "x",
  "a\u00a0b", "a\u00a0\u00a0b", "ideographic\u3000space", "line\u2028sep", "next\u0085line",
  "zero\u200bwidth", "\ufeffbom", "\u000b\u000c", "end with spaces  ",
  // plain English
  "Hello world", "Hello, World!", "hello world ", "The quick brown fox jumps over the lazy dog.",
  "ROMEO:", "JULIET:\nO Romeo, Romeo! wherefore art thou Romeo?",
  // contractions
  "I'm", "don't", "you're", "we've", "he'll", "she'd", "it's", "IT'S", "It'S", "I'M", "DON'T",
  "'s", "'S", "''s", "'", "''", "rock'n'roll", "y'all", "o'clock", "'tis", "'ll'd've",
  "the cat's toy", "the cats' toys", "he said 'hello'", "’s curly",
  // digits
  "0", "12", "123", "1234", "12345678901234567890", "3.14159", "1,000,000", " 42", "  42",
  "x42y", "2024-06-01T12:34:56Z", "\u0663\u0664\u0665", "x\u00b2 + y\u00b3", "\u216b", "\u00bd",
  // unicode letters, scripts, emoji, combining marks
  "café", "naïve", "Ærøskøbing", "Straße", "ﬁ ligature", "日本語のテキスト", "中文 测试", "한국어",
  "Привет, мир!", "مرحبا بالعالم", "עברית", "ελληνικά", "हिन्दी", "ภาษาไทย",
  "😀", "😀😀", " 😀", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "I ❤️ Go", "e\u0301", "a\u0308\u0304",
  "\u0301alone", " \u0301", "cafe\u0301 ole\u0301", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "\u{10ffff}", "\u{e000}",
  // punctuation and code
  "!!!???", "...", "--", "—", "«guillemets»", "“quoted”", "<html><body></body></html>",
  "a_b", "foo@bar.com", "https://example.com/path?x=1&y=2#frag", "```go\nfunc main() {}\n```",
  "    def f(x):\n        return x\n", "if (a && b) { return; }", "$$\\frac{1}{2}$$", "#!/bin/sh",
  // control characters
  "\u0000", "a\u0000b", "\u007f", "\u0001\u0002\u0003", "bell\u0007",
  // special token text
  "<|endoftext|>", "Hello<|endoftext|>World", "Hello <|endoftext|> World", "<|endoftext|><|endoftext|>",
  "a\n<|endoftext|>\nb", "<|endoftext", "endoftext|>", "<|endoftext|", "<|fim_prefix|>", "<|im_start|>",
];

function shakespeareCases(file) {
  const text = readFileSync(file, "utf8");
  const cases = [];
  cases.push(["shakespeare[0:3000]", text.slice(0, 3000)]);
  const mid = Math.floor(text.length / 2);
  cases.push(["shakespeare[mid:+4000]", text.slice(mid, mid + 4000)]);
  cases.push(["shakespeare[-2000:]", text.slice(text.length - 2000)]);
  const paras = text.split("\n\n");
  for (const i of [1, 100, 1000, 5000]) {
    if (i < paras.length) cases.push([`shakespeare paragraph ${i}`, paras[i]]);
  }
  return cases;
}

function hex(bytes) {
  return Buffer.from(bytes).toString("hex");
}

function encodeCase(name, text) {
  const c = { name, text };
  try {
    c.ids = Array.from(enc.encode(text, [], "all")); // Python's encode() defaults
  } catch (e) {
    c.ids = null;
    c.error = String(e.message ?? e);
  }
  c.ids_allow_special = Array.from(enc.encode(text, "all"));
  const bytes = enc.decode(Uint32Array.from(c.ids_allow_special));
  c.decoded = utf8.decode(bytes);
  return c;
}

const encodeCases = texts.map((t, i) => encodeCase(`text ${i}`, t));
if (process.argv[2]) {
  for (const [name, t] of shakespeareCases(process.argv[2])) encodeCases.push(encodeCase(name, t));
}

// Decode cases: single tokens that hold part of a multi-byte character, and
// sequences that leave invalid UTF-8 behind, decoded with replacement.
const decodeIds = [[], [50256], [15496, 50256, 15496]];
for (const t of ["😀", "日本", "é", "👨‍👩‍👧‍👦", "𝔘𝔫", "€"]) {
  const ids = Array.from(enc.encode(t));
  for (const id of ids) decodeIds.push([id]);
  decodeIds.push(ids.slice(1));
  decodeIds.push(ids.slice(0, -1));
  decodeIds.push([...ids.slice(0, 1), 64, ...ids.slice(1)]);
  decodeIds.push([...ids].reverse());
}
for (const id of [0, 1, 127, 128, 187, 188, 220, 255, 256, 1000, 30000, 50000, 50255]) decodeIds.push([id]);
// Random runs of single-byte tokens (deterministic PRNG): arbitrary byte
// strings, mostly invalid UTF-8, to pin down where U+FFFD replaces what.
const byteToken = new Map();
for (let id = 0; id < 50256; id++) {
  const b = enc.decode_single_token_bytes(id);
  if (b.length === 1) byteToken.set(b[0], id);
}
let seed = 12345;
const rand = (n) => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed % n;
};
const interesting = [0x41, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec,
  0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff];
for (let k = 0; k < 60; k++) {
  const n = 1 + rand(8);
  const ids = [];
  for (let i = 0; i < n; i++) ids.push(byteToken.get(interesting[rand(interesting.length)]));
  decodeIds.push(ids);
}

const decodeCases = decodeIds.map((ids) => {
  const bytes = enc.decode(Uint32Array.from(ids));
  return { ids, bytes_hex: hex(bytes), text: utf8.decode(bytes) };
});

// Digest of the whole vocabulary: sha256 over, for each id in order, the
// token's byte length as 4 little-endian bytes followed by its bytes.
const h = createHash("sha256");
const n = 50257;
for (let id = 0; id < n; id++) {
  const b = enc.decode_single_token_bytes(id);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(b.length);
  h.update(len);
  h.update(b);
}

// Unicode sweep: for every code point c (surrogates excluded), the probes
// "a"+c+"1" and " "+c+c are encoded; sha256 over each probe's id count and
// ids (uint32 little-endian) is taken per block of 0x1000 code points. This
// pins the pretokenizer's character classes (\p{L}, \p{N}, \s) everywhere.
const sweepBlocks = [];
for (let block = 0; block <= 0x10f; block++) {
  const bh = createHash("sha256");
  for (let cp = block * 0x1000; cp < (block + 1) * 0x1000; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const c = String.fromCodePoint(cp);
    for (const probe of ["a" + c + "1", " " + c + c]) {
      const ids = enc.encode(probe, "all");
      const buf = Buffer.alloc(4 * (ids.length + 1));
      buf.writeUInt32LE(ids.length, 0);
      ids.forEach((id, i) => buf.writeUInt32LE(id, 4 * (i + 1)));
      bh.update(buf);
    }
  }
  sweepBlocks.push(bh.digest("hex"));
}

const out = {
  generator: "gpt/tokenizer/testdata/gen_bpe_refs.mjs",
  tiktoken_npm_version: version,
  encoding: "gpt2",
  n_vocab: n,
  vocab_sha256: h.digest("hex"),
  encode: encodeCases,
  decode: decodeCases,
  unicode_sweep_sha256: sweepBlocks,
};
enc.free();
process.stdout.write(JSON.stringify(out, null, 1) + "\n");
