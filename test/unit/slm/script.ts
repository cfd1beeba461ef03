// The scripted SLM timeline shared by the generation and child-process tests.
import type { ScriptSpec } from '../../fixtures/fixtures';

export const SCRIPT: ScriptSpec = {
  prompt: '<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n',
  timeline: [
    { text: 'Let me see' },
    { text: ' <call>2</call>' },
    { text: ' it is four', source: 'external' },
    { text: '. Done', top1: 0.3 },
    { text: ' for real' },
  ],
  endWithEos: true,
};
