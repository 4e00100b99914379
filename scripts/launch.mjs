// Shared by the executables in bin/: loads a compiled entry point from dist/ with a clear message when
// the project has not been built.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';

export async function launch(entry) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const file = join(root, 'dist', entry);
  if (!existsSync(file)) {
    console.error(`error: ${file} not found; run \`npm install && npm run build\` first`);
    process.exit(1);
  }
  await import(pathToFileURL(file).href);
}
