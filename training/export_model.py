"""Exports a checkpoint as a model folder laid out like an onnx-community download:
config.json, generation_config.json, tokenizer.json, tokenizer_config.json (with a chat
template) and onnx/model_<variant>.onnx with the real exports' input/output names and
KV layout. Weights ship as int8 (per-channel scales, Cast and Mul to float32 in the graph,
so no contrib ops are needed) or fp32. A reference file of torch's greedy answers lets
verify_onnx.mjs check the ONNX model from Node."""
import argparse
import json
import os

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

import decode
import relay_task as task
from model import load_checkpoint

OPSET = 14
QUANT_MIN_SIZE = 1024

CHAT_TEMPLATE = (
    "{%- set ns = namespace(question='', answer=none) -%}"
    "{%- for message in messages -%}"
    "{%- if message.role == 'user' -%}{%- set ns.question = message.content -%}{%- set ns.answer = none -%}"
    "{%- elif message.role == 'assistant' -%}{%- set ns.answer = message.content -%}{%- endif -%}"
    "{%- endfor -%}"
    "{{- '<|im_start|>Q: ' + (ns.question | trim) + '\\n' -}}"
    "{%- if ns.answer is not none and not add_generation_prompt -%}{{- ns.answer + '<|im_end|>' -}}{%- endif -%}"
)


def fake_quantize_(model):
    """Rounds every matrix to int8 per row (per output channel / per embedding row), in
    place, so torch evaluates exactly the weights the int8 ONNX file holds."""
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2 and p.numel() >= QUANT_MIN_SIZE:
                w = p.detach().numpy().astype(np.float64)
                scale = np.maximum(np.abs(w).max(axis=1, keepdims=True), 1e-12) / 127.0
                q = np.clip(np.round(w / scale), -127, 127)
                p.copy_(torch.from_numpy((q * scale).astype(np.float32)))


class OnnxDecoder(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, position_ids, *past_flat):
        past = [(past_flat[2 * i], past_flat[2 * i + 1]) for i in range(len(past_flat) // 2)]
        logits, present = self.model(input_ids, attention_mask, position_ids, past)
        flat = []
        for k, v in present:
            flat += [k, v]
        return (logits, *flat)


def export_onnx(model, path):
    cfg = model.cfg
    n = cfg.n_layer
    past_names = [f'past_key_values.{i}.{kv}' for i in range(n) for kv in ('key', 'value')]
    present_names = [f'present.{i}.{kv}' for i in range(n) for kv in ('key', 'value')]
    batch, seq, past_len = 2, 2, 3
    dummy = (
        torch.randint(3, cfg.vocab_size, (batch, seq)),
        torch.ones(batch, past_len + seq, dtype=torch.long),
        torch.arange(past_len, past_len + seq).unsqueeze(0).repeat(batch, 1),
        *[torch.randn(batch, cfg.n_head, past_len, cfg.head_dim) for _ in range(2 * n)],
    )
    axes = {'input_ids': {0: 'batch_size', 1: 'sequence_length'},
            'attention_mask': {0: 'batch_size', 1: 'total_sequence_length'},
            'position_ids': {0: 'batch_size', 1: 'sequence_length'},
            'logits': {0: 'batch_size', 1: 'sequence_length'}}
    for name in past_names:
        axes[name] = {0: 'batch_size', 2: 'past_sequence_length'}
    for name in present_names:
        axes[name] = {0: 'batch_size', 2: 'total_sequence_length'}
    torch.onnx.export(OnnxDecoder(model), dummy, path, input_names=['input_ids', 'attention_mask', 'position_ids', *past_names],
                      output_names=['logits', *present_names], dynamic_axes=axes, opset_version=OPSET, do_constant_folding=True)


def quantize_onnx(path_in, path_out):
    """Every large float matrix becomes int8 + per-channel scale, dequantised in the graph."""
    m = onnx.load(path_in)
    g = m.graph
    kept, added_nodes = [], []
    for init in g.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype != np.float32 or arr.ndim != 2 or arr.size < QUANT_MIN_SIZE:
            kept.append(init)
            continue
        # Torch rounded each matrix per row; after export a matrix may be transposed, so
        # take the axis on which it is already exactly on an int8 grid.
        best = None
        for axis in (0, 1):
            w = arr.astype(np.float64)
            scale = np.maximum(np.abs(w).max(axis=1 - axis), 1e-12) / 127.0
            shape = (-1, 1) if axis == 0 else (1, -1)
            q = np.clip(np.round(w / scale.reshape(shape)), -127, 127)
            err = np.abs(q * scale.reshape(shape) - w).max()
            if best is None or err < best[0]:
                best = (err, axis, scale, q.astype(np.int8))
        _, axis, scale, q = best
        base = init.name.replace('::', '_').replace('.', '_')
        # Cast + Mul rather than DequantizeLinear: onnxruntime's extended optimisations
        # fuse DequantizeLinear+MatMul into a kernel that also quantises the activations
        # (about 3e-3 relative logit error); Cast+Mul on constants is folded to float32.
        scale_shape = (-1, 1) if axis == 0 else (1, -1)
        kept += [numpy_helper.from_array(q, f'{base}_int8'),
                 numpy_helper.from_array(scale.astype(np.float32).reshape(scale_shape), f'{base}_scale')]
        added_nodes.append(helper.make_node('Cast', [f'{base}_int8'], [f'{base}_float'], name=f'cast_{base}', to=onnx.TensorProto.FLOAT))
        added_nodes.append(helper.make_node('Mul', [f'{base}_float', f'{base}_scale'], [init.name], name=f'dequantize_{base}'))
    del g.initializer[:]
    g.initializer.extend(kept)
    nodes = added_nodes + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    onnx.checker.check_model(m)
    onnx.save(m, path_out)


def tokenizer_files():
    added = [{'id': task.VOCAB[t], 'content': t, 'single_word': False, 'lstrip': False, 'rstrip': False,
              'normalized': False, 'special': True} for t in task.SPECIAL_TOKENS]
    byte_level = {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': False, 'use_regex': False}
    tokenizer = {
        'version': '1.0', 'truncation': None, 'padding': None, 'added_tokens': added, 'normalizer': None,
        'pre_tokenizer': byte_level, 'post_processor': byte_level, 'decoder': byte_level,
        # BPE with no merges over the byte alphabet: one token per byte (character).
        'model': {'type': 'BPE', 'dropout': None, 'unk_token': None, 'continuing_subword_prefix': '', 'end_of_word_suffix': '',
                  'fuse_unk': False, 'byte_fallback': False, 'ignore_merges': False,
                  'vocab': {t: i for t, i in task.VOCAB.items() if t not in task.SPECIAL_TOKENS}, 'merges': []},
    }
    config = {
        'add_bos_token': False, 'add_prefix_space': False, 'bos_token': None, 'eos_token': task.IM_END,
        'pad_token': task.END_OF_TEXT, 'unk_token': None, 'model_max_length': task.MAX_POSITIONS,
        'clean_up_tokenization_spaces': False, 'split_special_tokens': False, 'tokenizer_class': 'PreTrainedTokenizerFast',
        'added_tokens_decoder': {str(a['id']): {k: v for k, v in a.items() if k != 'id'} for a in added},
        'chat_template': CHAT_TEMPLATE,
    }
    return tokenizer, config


def model_config(model, role, extra):
    cfg = model.cfg
    out = {
        'architectures': ['RelayTinyGPTForCausalLM'], 'model_type': 'relay_tiny_gpt',
        'vocab_size': cfg.vocab_size, 'hidden_size': cfg.n_embd, 'intermediate_size': 4 * cfg.n_embd,
        'num_hidden_layers': cfg.n_layer, 'num_attention_heads': cfg.n_head, 'num_key_value_heads': cfg.n_head,
        'head_dim': cfg.head_dim, 'max_position_embeddings': cfg.max_positions, 'hidden_act': 'gelu',
        'tie_word_embeddings': True, 'bos_token_id': task.BOS_ID, 'eos_token_id': task.EOS_ID, 'pad_token_id': task.PAD_ID,
        'torch_dtype': 'float32', 'relay_role': role,
        'relay_task': 'a*b+c=? with worked steps, character-level (one token per character); see training/README.md',
    }
    if role == 'slm-base':
        out['relay_role'] = 'slm'  # a small model never taught to call: no command syntax
    if role == 'slm':
        out['relay_trained'] = True
        out['relay_call_syntax'] = '<call>N</call>'
        # relay.py trains and evaluates with the commands removed from the LLM's context (no space).
        out['relay_llm_context'] = 'commands_removed'
    out.update(extra)
    return out


def write_folder(model, folder, role, variant='int8', reference_questions=40, extra=None):
    os.makedirs(os.path.join(folder, 'onnx'), exist_ok=True)
    for name in os.listdir(os.path.join(folder, 'onnx')):
        os.remove(os.path.join(folder, 'onnx', name))
    if variant == 'int8':
        fake_quantize_(model)
    fp32_path = os.path.join(folder, 'onnx', 'model.onnx')
    export_onnx(model, fp32_path)
    if variant == 'int8':
        quantize_onnx(fp32_path, os.path.join(folder, 'onnx', 'model_int8.onnx'))
        os.remove(fp32_path)
    tokenizer, tok_config = tokenizer_files()
    files = {
        'config.json': model_config(model, role, extra or {}),
        'generation_config.json': {'bos_token_id': task.BOS_ID, 'eos_token_id': [task.EOS_ID], 'pad_token_id': task.PAD_ID,
                                   'do_sample': True, 'temperature': 0.7, 'max_length': task.MAX_POSITIONS},
        'tokenizer.json': tokenizer,
        'tokenizer_config.json': tok_config,
    }
    for name, content in files.items():
        with open(os.path.join(folder, name), 'w') as f:
            json.dump(content, f, indent=1 if name != 'tokenizer.json' else None, ensure_ascii=False)
            f.write('\n')
    # Torch's greedy answers (with the shipped, rounded weights) for the Node check.
    qs = [q for q, _ in task.held_out_questions()[:reference_questions]]
    answers = decode.generate_alone(model, qs)
    with torch.no_grad():
        ids = torch.tensor([task.encode(task.render_prompt(qs[0]))])
        first_logits = model.forward_full(ids, torch.ones_like(ids))[0, -1].tolist()
    probe = task.render_prompt(qs[0]) + '47*6=2<call>3</call>82. A: 282' + task.IM_END
    return {'questions': qs, 'answers': answers, 'tokenizer_probe': probe, 'tokenizer_ids': task.encode(probe),
            'first_step_logits': first_logits}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--checkpoint', required=True)
    ap.add_argument('--folder', required=True)
    ap.add_argument('--role', choices=['slm', 'slm-base', 'llm'], required=True,
                    help='slm: trained to write <call>N</call>; slm-base: the SLM before relay training; llm')
    ap.add_argument('--describe', help='how this model was trained, shown as its row label by relay eval (config.json relay_training)')
    ap.add_argument('--variant', choices=['int8', 'fp32'], default='int8')
    ap.add_argument('--reference-out', required=True, help='JSON of torch greedy answers for verify_onnx.mjs')
    ap.add_argument('--shipped-checkpoint', help='where to save the torch model with the shipped (rounded) weights')
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = load_checkpoint(args.checkpoint)
    ref = write_folder(model, args.folder, args.role, args.variant, extra={'relay_training': args.describe} if args.describe else None)
    with open(args.reference_out, 'w') as f:
        json.dump(ref, f)
    if args.shipped_checkpoint:
        from model import save_checkpoint
        save_checkpoint(model, args.shipped_checkpoint, {'variant': args.variant})
    sizes = {n: os.path.getsize(os.path.join(args.folder, 'onnx', n)) for n in os.listdir(os.path.join(args.folder, 'onnx'))}
    print(f'exported {args.folder}: {sizes}')


if __name__ == '__main__':
    main()
