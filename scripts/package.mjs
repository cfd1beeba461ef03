// `npm run package`: runs the TypeScript packaging script (scripts/packaging/main.ts) through
// tsx, passing the arguments on (`npm run package -- --target linux-arm64`, `--all`).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('./packaging/main.ts', import.meta.url));
const result = spawnSync(process.execPath, ['--import', 'tsx', main, ...process.argv.slice(2)], { stdio: 'inherit' });
if (result.error) {
  console.error(`package: could not start node: ${result.error.message}`);
  process.exit(1);
}
process.exit(result.status ?? 1);
