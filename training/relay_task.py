"""The task, its text format and the character-level vocabulary shared by both models.

A question is a two-step arithmetic chain `a*b+c` (a, c in 10..99, b in 2..9); the answer
writes the worked steps and the result: `47*6=282. 282+28=310. A: 310`.
Every character is one token (byte-level alphabet, so any text tokenises); three special
tokens frame a conversation the way Qwen's chat template does.
"""
import json
import random
import re

IM_START = '<|im_start|>'
IM_END = '<|im_end|>'
END_OF_TEXT = '<|endoftext|>'
SPECIAL_TOKENS = [END_OF_TEXT, IM_START, IM_END]
CALL_PATTERN = re.compile(r'<call>.*?</call>', re.S)
CALL_N_PATTERN = re.compile(r'<call>\s*(\d+)')
ANSWER_PATTERN = re.compile(r'A:\s*(-?\d+)\s*$')
MAX_POSITIONS = 128
HELD_OUT_SEED = 20260105
HELD_OUT_SIZE = 500


def _bytes_to_unicode():
    """GPT-2's byte-level map: printable bytes keep their character, others move above 255."""
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + list(range(ord('®'), ord('ÿ') + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


BYTE_TO_CHAR = _bytes_to_unicode()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}
# Ids: the special tokens first, then the 256 byte symbols in byte order.
VOCAB = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
for _b in range(256):
    VOCAB[BYTE_TO_CHAR[_b]] = len(VOCAB)
ID_TO_TOKEN = {i: t for t, i in VOCAB.items()}
VOCAB_SIZE = len(VOCAB)
PAD_ID = VOCAB[END_OF_TEXT]
BOS_ID = VOCAB[IM_START]
EOS_ID = VOCAB[IM_END]


def encode(text):
    """Text to ids; special tokens are recognised, everything else is one id per byte."""
    ids = []
    pos = 0
    while pos < len(text):
        for special in SPECIAL_TOKENS:
            if text.startswith(special, pos):
                ids.append(VOCAB[special])
                pos += len(special)
                break
        else:
            for byte in text[pos].encode('utf-8'):
                ids.append(VOCAB[BYTE_TO_CHAR[byte]])
            pos += 1
    return ids


def decode(ids, skip_special=False):
    out = bytearray()
    text = ''
    for i in ids:
        tok = ID_TO_TOKEN[int(i)]
        if tok in SPECIAL_TOKENS:
            text += out.decode('utf-8', errors='replace')
            out = bytearray()
            if not skip_special:
                text += tok
        else:
            out.append(CHAR_TO_BYTE[tok])
    return text + out.decode('utf-8', errors='replace')


def render_prompt(question):
    """What the chat template renders for one user message with the generation prompt."""
    return f'{IM_START}Q: {question}\n'


def make_question(rng):
    a, b, c = rng.randint(10, 99), rng.randint(2, 9), rng.randint(10, 99)
    return f'{a}*{b}+{c}=?', a * b + c


def worked_answer(question):
    a, rest = question.rstrip('=?').split('*')
    b, c = rest.split('+')
    a, b, c = int(a), int(b), int(c)
    return f'{a}*{b}={a * b}. {a * b}+{c}={a * b + c}. A: {a * b + c}'


def parse_final_answer(text):
    m = ANSWER_PATTERN.search(text.replace(IM_END, '').strip())
    return int(m.group(1)) if m else None


def strip_commands(text):
    """The LLM's view of the answer: every <call>N</call> removed (see README: no space)."""
    return CALL_PATTERN.sub('', text)


def held_out_questions():
    """The fixed evaluation split; training never sees these questions."""
    rng = random.Random(HELD_OUT_SEED)
    seen, out = set(), []
    while len(out) < HELD_OUT_SIZE:
        q, ans = make_question(rng)
        if q not in seen:
            seen.add(q)
            out.append((q, ans))
    return out


def training_questions(count, seed):
    held = {q for q, _ in held_out_questions()}
    rng = random.Random(seed)
    out = []
    while len(out) < count:
        q, ans = make_question(rng)
        if q not in held:
            out.append((q, ans))
    return out


def write_eval_jsonl(path):
    with open(path, 'w') as f:
        for q, ans in held_out_questions():
            f.write(json.dumps({'question': q, 'answer': str(ans)}) + '\n')


if __name__ == '__main__':
    import sys
    write_eval_jsonl(sys.argv[1])
