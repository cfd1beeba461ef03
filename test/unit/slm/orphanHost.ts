/**
 * A host of the SLM process for processRuntimeFailures.test.ts: starts the runtime on the
 * model folder argv[2], has it render the looping chat template of argv[3], says
 * "slm <pid>" then "looping", and then exits (argv[4] 'exit': as the extension host does
 * when its window closes) or stays until it is killed ('stay').
 */
import { createProcessRuntime } from '../../../src/core/slm/onnx/processRuntime';

async function main(): Promise<void> {
  const [folder, templateFolder, how] = process.argv.slice(2);
  // A deadline far off: here only the host's going away may end the render.
  const runtime = await createProcessRuntime(folder, { renderTimeoutMs: 10 * 60_000 });
  console.log(`slm ${runtime.pid}`);
  void runtime.renderWithTemplate(templateFolder, [{ role: 'user', content: 'hi' }]).catch(() => undefined);
  // Time for the request to reach the SLM process and its loop to begin.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  console.log('looping');
  if (how === 'exit') process.exit(0);
  setInterval(() => undefined, 60_000);
}

void main();
