/**
 * The one place where other projects' tensor names and layouts meet ours (Meta's names, see model/weights.ts).
 *
 * RoPE layouts: Meta's checkpoints, llama2.c and GGUF rotate interleaved pairs (2i, 2i+1) of each head, and so do
 * we. Hugging Face checkpoints rotate (i, i + Dh/2) ("rotate_half"); their conversion script permuted the rows of
 * wq and wk so that the same model computes the same function. Loading an HF checkpoint undoes that permutation.
 */
import type { EncodedTensor, HostTensor } from '../tensor/tensor.js';

const hfLayer: Record<string, string> = {
  'self_attn.q_proj': 'wq', 'self_attn.k_proj': 'wk', 'self_attn.v_proj': 'wv', 'self_attn.o_proj': 'wo',
  'mlp.gate_proj': 'w1', 'mlp.down_proj': 'w2', 'mlp.up_proj': 'w3',
  input_layernorm: 'attnNorm', post_attention_layernorm: 'ffnNorm',
};

const ggufLayer: Record<string, string> = {
  attn_q: 'wq', attn_k: 'wk', attn_v: 'wv', attn_output: 'wo',
  ffn_gate: 'w1', ffn_down: 'w2', ffn_up: 'w3', attn_norm: 'attnNorm', ffn_norm: 'ffnNorm',
};

/** `model.layers.3.mlp.up_proj.weight` -> `layers.3.w3`; null for names we do not use (e.g. rotary buffers). */
export function metaNameFromHf(name: string): string | null {
  if (name === 'model.embed_tokens.weight') return 'tokEmbeddings';
  if (name === 'model.norm.weight') return 'norm';
  if (name === 'lm_head.weight') return 'output';
  const m = /^model\.layers\.(\d+)\.(.+)\.weight$/.exec(name);
  const ours = m && hfLayer[m[2]!];
  return ours ? `layers.${m[1]}.${ours}` : null;
}

/** `layers.3.w3` -> `model.layers.3.mlp.up_proj.weight` (the inverse of metaNameFromHf). */
export function hfNameFromMeta(name: string): string {
  if (name === 'tokEmbeddings') return 'model.embed_tokens.weight';
  if (name === 'norm') return 'model.norm.weight';
  if (name === 'output') return 'lm_head.weight';
  const m = /^layers\.(\d+)\.(\w+)$/.exec(name);
  const theirs = m && Object.entries(hfLayer).find(([, ours]) => ours === m[2])?.[0];
  if (!theirs) throw new Error(`llamats: no Hugging Face name for tensor ${name}`);
  return `model.layers.${m[1]}.${theirs}.weight`;
}

/** `blk.3.ffn_up.weight` -> `layers.3.w3`; null for names we do not use (e.g. `rope_freqs.weight`). */
export function metaNameFromGguf(name: string): string | null {
  if (name === 'token_embd.weight') return 'tokEmbeddings';
  if (name === 'output_norm.weight') return 'norm';
  if (name === 'output.weight') return 'output';
  const m = /^blk\.(\d+)\.(\w+)\.weight$/.exec(name);
  const ours = m && ggufLayer[m[2]!];
  return ours ? `layers.${m[1]}.${ours}` : null;
}

/** `layers.3.w3` -> `blk.3.ffn_up.weight` (the inverse of metaNameFromGguf); null for names GGUF has no slot for. */
export function ggufNameFromMeta(name: string): string | null {
  if (name === 'tokEmbeddings') return 'token_embd.weight';
  if (name === 'norm') return 'output_norm.weight';
  if (name === 'output') return 'output.weight';
  const m = /^layers\.(\d+)\.(\w+)$/.exec(name);
  const theirs = m && Object.entries(ggufLayer).find(([, ours]) => ours === m[2])?.[0];
  return theirs ? `blk.${m[1]}.${theirs}.weight` : null;
}

/**
 * Reorder the rows of a q or k weight (heads*Dh, D) from HF's rotate_half layout to interleaved pairs:
 * interleaved row h*Dh + 2j + c comes from HF row h*Dh + c*Dh/2 + j (c in {0, 1}, j < Dh/2).
 * `toHf` applies the inverse, for writing HF checkpoints. Rows move whole, so any row encoding works.
 */
export function permuteRopeRows<T extends HostTensor | EncodedTensor>(t: T, heads: number, toHf = false): T {
  const rows = t.shape[0]!;
  const src = 'bytes' in t ? t.bytes : new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const rowBytes = src.byteLength / rows;
  const out = new Uint8Array(src.byteLength);
  const dh = rows / heads;
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < dh / 2; j++) {
      for (let c = 0; c < 2; c++) {
        const interleaved = h * dh + 2 * j + c;
        const rotateHalf = h * dh + c * (dh / 2) + j;
        const [dst, from] = toHf ? [rotateHalf, interleaved] : [interleaved, rotateHalf];
        out.set(src.subarray(from * rowBytes, (from + 1) * rowBytes), dst * rowBytes);
      }
    }
  }
  return ('bytes' in t ? { ...t, bytes: out } : { ...t, data: new Float32Array(out.buffer) }) as T;
}
