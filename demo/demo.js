// The browser demo: fetch a GGUF, load it on WebGPU (or the reference backend), stream generated text.
// `?autorun` starts at once and leaves the result on `window.llamatsDemo` (the headless-browser test reads it).
import { generate, loadModel, loadTokenizer } from '../dist/browser/llamats.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
for (const key of ['model', 'prompt', 'backend', 'tokens', 'temperature']) if (params.has(key)) $(key).value = params.get(key);

async function run() {
  const status = $('status'), output = $('output');
  output.textContent = '';
  let model;
  try {
    const url = $('model').value;
    status.textContent = `fetching ${url} ...`;
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    const file = { name: url, bytes: new Uint8Array(await response.arrayBuffer()) };
    let backend = $('backend').value;
    if (backend === 'webgpu' && !navigator.gpu) {
      backend = 'reference';
      status.textContent = 'no WebGPU in this browser: using the reference backend';
    }
    model = await loadModel(file, { backend });
    const tokenizer = loadTokenizer(file);
    const adapter = model.ops.device;
    status.textContent = `generating on ${adapter} ...`;
    const ids = [];
    const stream = generate(model, tokenizer, $('prompt').value, {
      maxTokens: Number($('tokens').value), temperature: Number($('temperature').value), seed: 1,
    });
    let step;
    while (!(step = await stream.next()).done) {
      ids.push(step.value.id);
      output.textContent += step.value.text;
    }
    const stats = step.value;
    const rate = stats.decodeTokens / Math.max(stats.decodeSeconds, 1e-9);
    status.textContent = `${ids.length} tokens on ${adapter}, ${rate.toFixed(1)} tokens/s (${stats.stopReason})`;
    window.llamatsDemo = { ids, text: output.textContent, device: adapter, stats };
  } catch (e) {
    status.textContent = `error: ${e.message}`;
    window.llamatsDemo = { error: String(e.stack ?? e) };
  } finally {
    model?.ops.dispose();
  }
}

$('run').addEventListener('click', run);
if (params.has('autorun')) run();
