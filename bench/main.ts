// `npm run bench -- NAME [flags]`: runs the benchmark bench/NAME.ts, which prints a table and writes JSON.
const known = ['raft', 'wal', 'store', 'cluster', 'apiserver', 'control-plane'];
const [name, ...rest] = process.argv.slice(2);
if (!name || name === '--help' || name === '-h') {
  console.log(`usage: npm run bench -- <${known.join('|')}> [flags]`);
  process.exit(name ? 0 : 2);
}
if (!known.includes(name)) {
  console.error(`unknown benchmark "${name}" (known: ${known.join(', ')})`);
  process.exit(2);
}
let mod: { run(args: string[]): Promise<void> };
try {
  mod = await import(`./${name}.js`);
} catch (err) {
  console.error(`benchmark "${name}" is not built yet: ${(err as Error).message}`);
  process.exit(2);
}
try {
  await mod.run(rest);
} catch (err) {
  // A bad flag is one line, like every other command's; anything else keeps its stack.
  if ((err as Error).name !== 'UsageError') throw err;
  console.error(`bench ${name}: ${(err as Error).message}`);
  process.exit(2);
}
