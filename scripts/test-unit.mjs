// Unit and integration tests (real ONNX sessions, real HTTP servers on 127.0.0.1).
import { findTests, runNodeTests } from './run-node-tests.mjs';

const files = process.argv.length > 2 ? process.argv.slice(2) : findTests('test/unit');
const result = await runNodeTests(files);
console.log(`${result.passed} passed, ${result.failed} failed, ${result.skipped} skipped`);
process.exit(result.code === 0 && result.failed === 0 ? 0 : 1);
