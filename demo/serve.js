// Serve the repository over HTTP for the browser demo: `npm run demo`, then open the printed address.
// serveStatic(root, port) is also what the headless-browser test uses (port 0: any free port).
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const types = { '.html': 'text/html', '.js': 'text/javascript', '.map': 'application/json', '.json': 'application/json', '.css': 'text/css' };

/** A static file server over `root` on 127.0.0.1; resolves to the listening server. */
export function serveStatic(root, port = 8080) {
  const server = createServer((request, response) => {
    const path = normalize(join(root, decodeURIComponent(new URL(request.url, 'http://x').pathname)));
    let file = path;
    try {
      if (!path.startsWith(root + sep) && path !== root) throw new Error('outside the root');
      if (statSync(file).isDirectory()) file = join(file, 'index.html');
      const size = statSync(file).size;
      response.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream', 'content-length': size });
      createReadStream(file).pipe(response);
    } catch {
      response.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${request.url}`);
    }
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const server = await serveStatic(root, Number(process.env.PORT ?? 8080));
  console.log(`llamats demo: http://127.0.0.1:${server.address().port}/demo/ (Ctrl-C to stop)`);
}
