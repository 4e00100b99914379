// A private copy of the compiled store for one torture run, so a long run keeps using one build of
// bin/store even if the tree is rebuilt meanwhile (a half-emitted dist/ would otherwise crash members on
// restart and read as a fault of the store). It lives under node_modules/.cache so imports of packages
// still resolve, and is removed at the end.
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT, run } from '../support/index.js';

export interface FrozenBuild {
  /** The store's entry point inside the copy. */
  entry: string;
  /** peer-dns.js inside the copy. */
  peerDns: string;
  remove(): void;
}

export async function freezeStoreBuild(): Promise<FrozenBuild> {
  const dir = join(ROOT, 'node_modules', '.cache', 'torture', `${process.pid}-${Date.now()}`);
  const remove = () => rmSync(dir, { recursive: true, force: true });
  let last = '';
  for (let attempt = 0; attempt < 20; attempt++) {
    remove();
    mkdirSync(dir, { recursive: true });
    for (const part of ['store', 'common'])
      cpSync(join(ROOT, 'dist', part), join(dir, part), { recursive: true });
    cpSync(join(ROOT, 'store', 'api', 'proto'), join(dir, 'store', 'api', 'proto'), { recursive: true });
    const entry = join(dir, 'store', 'server', 'main.js');
    // A copy taken in the middle of someone's build fails to load; take it again.
    const r = await run(process.execPath, [entry, '--help'], { timeoutMs: 20_000 });
    const peerDns = join(dir, 'peer-dns.js');
    cpSync(fileURLToPath(new URL('./peer-dns.js', import.meta.url)), peerDns);
    if (r.code === 0) return { entry, peerDns, remove };
    last = r.stderr.slice(-1000);
    await new Promise((res) => setTimeout(res, 1000));
  }
  remove();
  throw new Error(`the compiled store does not load (is the tree built?):\n${last}`);
}
