"""Reads a model folder written by export_model.py back into a torch checkpoint (the int8
weights dequantised, i.e. exactly the weights the folder ships), so later stages can reuse
a shipped model without retraining it, e.g. the LLM (its pre-training is most of
retrain.sh's time):

    /usr/bin/python3 import_onnx.py ../models/relay-demo-llm runs/llm_base.pt

The weights of each Linear are found through the MatMul node that reads them (torch's
exporter names it after the module, e.g. /model/blocks.0/qkv/MatMul)."""
import argparse
import json
import os
import re

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from model import ModelConfig, TinyGPT, save_checkpoint


def dequantised_initializers(graph):
    """name -> float32 array, with the Cast+Mul dequantisation of export_model.quantize_onnx undone."""
    raw = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    values = {name: arr for name, arr in raw.items() if arr.dtype == np.float32}
    for node in graph.node:
        if node.op_type == 'Mul' and node.name.startswith('dequantize_'):
            base = node.name[len('dequantize_'):]
            values[node.output[0]] = raw[f'{base}_int8'].astype(np.float32) * raw[f'{base}_scale']
    return values


def import_folder(folder):
    with open(os.path.join(folder, 'config.json')) as f:
        config = json.load(f)
    if config.get('model_type') != 'relay_tiny_gpt':
        raise SystemExit(f'{folder}/config.json: model_type {config.get("model_type")!r} is not relay_tiny_gpt (export_model.py writes it)')
    onnx_dir = os.path.join(folder, 'onnx')
    (name,) = [n for n in os.listdir(onnx_dir) if n.endswith('.onnx')]
    graph = onnx.load(os.path.join(onnx_dir, name)).graph
    values = dequantised_initializers(graph)
    cfg = ModelConfig(vocab_size=config['vocab_size'], n_layer=config['num_hidden_layers'], n_embd=config['hidden_size'],
                      n_head=config['num_attention_heads'], max_positions=config['max_position_embeddings'])
    model = TinyGPT(cfg)
    state = {}
    for node in graph.node:
        m = re.fullmatch(r'/model/(blocks\.\d+)/(qkv|proj|fc|fc_out)/MatMul', node.name)
        if m:
            state[f'{m.group(1)}.{m.group(2)}.weight'] = torch.from_numpy(values[node.input[1]].T.copy())
    for key in model.state_dict():
        if key not in state:
            state[key] = torch.from_numpy(values[f'model.{key}'].copy())
    model.load_state_dict(state)
    model.eval()
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('folder')
    ap.add_argument('out')
    args = ap.parse_args()
    model = import_folder(args.folder)
    save_checkpoint(model, args.out, {'stage': 'imported', 'folder': args.folder})
    print(f'imported {args.folder} -> {args.out}')


if __name__ == '__main__':
    main()
