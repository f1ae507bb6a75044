/** A safetensors file of Hugging Face tensors (test-only), by our flat names, q/k rows in our interleaved layout. */
import { readSafetensorsHeader, readSafetensorsTensor } from '../io/safetensors.js';
import { metaNameFromHf, permuteRopeRows } from '../io/tensor-names.js';

export function readHfTensorsAsOurs(file: string, heads: number, kvHeads: number): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, info] of readSafetensorsHeader(file)) {
    const ours = metaNameFromHf(name)!;
    const rows = ours.endsWith('.wq') ? heads : ours.endsWith('.wk') ? kvHeads : 0;
    const t = readSafetensorsTensor(info);
    out.set(ours, rows ? permuteRopeRows(t, rows).data : t.data);
  }
  return out;
}
