// `npm run test:e2e`: only the end-to-end suite (code-server + headless Chromium).
// `npm test` runs the same files after the unit tests (scripts/test-all.mjs).
import { findTests, runNodeTests } from '../../scripts/run-node-tests.mjs';

const files = process.argv.length > 2 ? process.argv.slice(2) : findTests('test/e2e');
const result = await runNodeTests(files);
console.log(`${result.passed} passed, ${result.failed} failed, ${result.skipped} skipped`);
process.exit(result.code === 0 && result.failed === 0 ? 0 : 1);
