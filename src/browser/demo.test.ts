/**
 * The browser demo (demo/index.html over the bundle dist/browser/llamats.js), run in headless Chromium: it fetches
 * the stories260K GGUF, loads it from bytes on WebGPU (and on the reference backend), and must generate the same
 * greedy tokens as Node does from the same file. Skipped, with the reason, where no Chromium is installed (CI
 * installs Debian's `chromium`); CHROMIUM_PATH picks another binary.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { generate } from '../infer/generate.js';
import { loadModel } from '../io/load-model.js';
import { loadTokenizer } from '../io/load-tokenizer.js';
import { fixturePath, packageRoot } from '../io/package-paths.js';

const chromium = process.env['CHROMIUM_PATH'] ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find(existsSync);
const bundle = join(packageRoot(), 'dist', 'browser', 'llamats.js');
const skip = !chromium ? 'no Chromium installed (Debian: apt-get install chromium)' : !existsSync(bundle) ? 'no browser bundle (npm run build makes it)' : false;

const PROMPT = 'Once upon a time';
const TOKENS = 40;

interface DemoResult { ids?: number[]; text?: string; device?: string; error?: string }

test('the browser demo generates the same greedy tokens as Node, on WebGPU and on the reference backend', { skip, timeout: 300_000 }, async () => {
  const gguf = fixturePath('stories260K', 'stories260K.gguf');
  const model = await loadModel(gguf, { backend: 'reference' });
  const want: number[] = [];
  for await (const t of generate(model, loadTokenizer(gguf), PROMPT, { maxTokens: TOKENS, temperature: 0 })) want.push(t.id);
  model.ops.dispose();

  const { serveStatic } = (await import(new URL('../../demo/serve.js', import.meta.url).href)) as { serveStatic(root: string, port: number): Promise<Server> };
  const server = await serveStatic(packageRoot(), 0);
  const { launch } = await import('puppeteer-core');
  const browser = await launch({
    executablePath: chromium as string,
    headless: true,
    args: ['--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan'],
  });
  try {
    const address = server.address() as { port: number };
    for (const backend of ['webgpu', 'reference']) {
      const page = await browser.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(String(e)));
      const query = new URLSearchParams({ backend, tokens: String(TOKENS), prompt: PROMPT, temperature: '0' });
      await page.goto(`http://127.0.0.1:${address.port}/demo/?autorun&${query}`);
      await page.waitForFunction(() => (window as { llamatsDemo?: unknown }).llamatsDemo !== undefined, { timeout: 240_000 });
      const got = (await page.evaluate(() => (window as { llamatsDemo?: unknown }).llamatsDemo)) as DemoResult;
      assert.deepEqual(pageErrors, []);
      assert.equal(got.error, undefined, `demo error on ${backend}: ${got.error}`);
      assert.deepEqual(got.ids, want, `${backend} (${got.device}) tokens`);
      if (backend === 'webgpu') assert.match(got.device!, /^GPU/);
      console.log(`browser demo on ${got.device}: ${JSON.stringify(got.text)}`);
      await page.close();
    }
  } finally {
    await browser.close();
    server.close();
  }
});
