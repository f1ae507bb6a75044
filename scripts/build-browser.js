// Bundle the library for browsers: dist/browser/llamats.js, one ES module. Node's built-in modules become stubs
// whose functions throw a clear error, so the parts that need a file system or worker threads (paths, the `cpu`
// backend, training's files) fail by name when called, and everything else (the model, tokenizers, generation, the
// `webgpu` and `reference` backends, models and tokenizers from bytes) runs. Run after tsc (it reads dist/).
import { build } from 'esbuild';
import { builtinModules } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** A module exporting every name of the built-in `name`, each a function that throws when called. */
async function stub(name) {
  const real = await import(name);
  const names = Object.keys(real).filter((k) => k !== 'default' && /^[A-Za-z_$][\w$]*$/.test(k));
  return [
    `const unavailable = (what) => function () { throw new Error('llamats: ' + what + ' is not available in a browser: ` +
      `pass a file\\'s bytes ({ name, bytes }) instead of a path, and use the webgpu or reference backend'); };`,
    ...names.map((k) => `export const ${k} = unavailable(${JSON.stringify(`${name}.${k}`)});`),
    `export default new Proxy({}, { get: (_, k) => unavailable(${JSON.stringify(name)} + '.' + String(k)) });`,
  ].join('\n');
}

const nodeBuiltinsAsStubs = {
  name: 'node-builtins-as-stubs',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => (builtins.has(args.path) ? { path: args.path, namespace: 'node-stub' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'node-stub' }, async (args) => ({ contents: await stub(args.path), loader: 'js' }));
  },
};

await build({
  entryPoints: [join(root, 'dist/index.js')],
  outfile: join(root, 'dist/browser/llamats.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  sourcemap: true,
  external: ['webgpu'], // Node's Dawn package; a browser has navigator.gpu
  plugins: [nodeBuiltinsAsStubs],
  logLevel: 'warning',
});
