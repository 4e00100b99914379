// The node flags an executable in bin/ asks for on its `#!/usr/bin/env -S node ...` line. Launchers that
// start it as `node <flags> bin/x` (the cluster supervisor, test helpers, the torture harness) read them
// from there, so there is one place that says how a component runs, and starting it does not depend on
// the system's `env` understanding -S.
import { readFileSync } from 'node:fs';

export function nodeFlagsOf(exe: string): string[] {
  const first = readFileSync(exe, 'utf8').split('\n', 1)[0]!;
  const m = /^#!\S*env\s+-S\s+node\s+(.*)$/.exec(first);
  return m ? m[1]!.trim().split(/\s+/) : [];
}
