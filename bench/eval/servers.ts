/**
 * bench:eval's servers, run in a child process so that the bench process's CPU time is
 * Relay's own: an SLM server that speaks the OpenAI-compatible /v1/completions wire form
 * as vLLM does (token ids in, `token_id:N` tokens with top log-probabilities out) and an
 * LLM server (/v1/completions, text), both on 127.0.0.1, both answering like a batching
 * GPU server: a fixed delay per token whatever the number of requests in flight.
 *
 * What they write is scripted from the question `a*b+c=?` found in the context: the SLM
 * writes `First a*b. a*b=P, <call>12</call>`, the LLM the next piece `P+c=R` (its own
 * tokens: one per character), the SLM then `. So the answer is \boxed{R}.` and its end of
 * sequence, in the tokens of the model folder's tokenizer (Qwen3's in the bench). A request
 * continues the script from the answer so far in its context; a client that closes the
 * request stops it. Prints one JSON line with the two addresses on stdout.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readTokenizerFolder } from '../../src/core/slm/modelFolder';
import { SlmTokenizer } from '../../src/core/slm/tokenizer';

const folder = process.argv[2];
const msPerToken = Number(process.argv[3] ?? 20);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function question(text: string): { a: number; b: number; c: number; p: number; r: number } | undefined {
  const m = /(\d+)\*(\d+)\+(\d+)=\?/.exec(text);
  if (!m) return undefined;
  const [a, b, c] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return { a, b, c, p: a * b, r: a * b + c };
}

function readBody(req: IncomingMessage): Promise<any> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

async function main(): Promise<void> {
  const files = readTokenizerFolder(folder);
  const tokenizer = await SlmTokenizer.create(files.tokenizerJson, files.tokenizerConfig);
  const eosId = files.eosTokenIds[0];

  const slm = createServer((req, res) => void serveSlm(req, res).catch(() => res.destroy()));
  async function serveSlm(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const context = Array.isArray(body.prompt) ? tokenizer.decode(body.prompt) : String(body.prompt);
    const q = question(context);
    const script = q ? `First ${q.a}*${q.b}. ${q.a}*${q.b}=${q.p}, <call>12</call>${q.p}+${q.c}=${q.r}. So the answer is \\boxed{${q.r}}.` : '';
    // The answer so far: from where the script starts in the context (any chat template before it).
    const start = q ? context.lastIndexOf(script.slice(0, 6)) : -1;
    const soFar = start >= 0 ? context.slice(start) : '';
    const rest = script.startsWith(soFar) ? script.slice(soFar.length) : '';
    const ids = [...tokenizer.encode(rest), eosId].slice(0, Number(body.max_tokens) + 1);
    let gone = false;
    res.on('close', () => (gone = true));
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const chunk = (text: string, id: number | undefined, finish: string | null) =>
      `data: ${JSON.stringify({
        object: 'text_completion',
        choices: [
          {
            index: 0,
            text,
            logprobs:
              id === undefined
                ? null
                : { tokens: [`token_id:${id}`], token_logprobs: [Math.log(0.99)], top_logprobs: [{ [`token_id:${id}`]: Math.log(0.99) }] },
            finish_reason: finish,
          },
        ],
      })}\n\n`;
    let written = 0;
    for (const id of ids) {
      await sleep(msPerToken);
      if (gone) return;
      const eos = id === eosId;
      res.write(chunk(eos ? '' : tokenizer.decode([id]), id, null));
      if (eos) break;
      written++;
    }
    res.write(chunk('', undefined, written >= Number(body.max_tokens) ? 'length' : 'stop'));
    res.end('data: [DONE]\n\n');
  }

  const llm = createServer((req, res) => void serveLlm(req, res).catch(() => res.destroy()));
  async function serveLlm(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const q = question(String(body.prompt));
    const piece = q ? `${q.p}+${q.c}=${q.r}` : '';
    const chars = [...piece].slice(0, Number(body.max_tokens));
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const ch of chars) {
      await sleep(msPerToken);
      res.write(`data: ${JSON.stringify({ object: 'text_completion', choices: [{ index: 0, text: ch, finish_reason: null }] })}\n\n`);
    }
    res.write(`data: ${JSON.stringify({ object: 'text_completion', choices: [{ index: 0, text: '', finish_reason: 'length' }] })}\n\n`);
    res.end('data: [DONE]\n\n');
  }

  const listen = (server: ReturnType<typeof createServer>) =>
    new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
  const [slmPort, llmPort] = [await listen(slm), await listen(llm)];
  process.stdout.write(`${JSON.stringify({ slmUrl: `http://127.0.0.1:${slmPort}/v1`, llmUrl: `http://127.0.0.1:${llmPort}/v1` })}\n`);
  // Bounded: the bench closes stdin when it is done (or dies); the servers go with it.
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

void main();
