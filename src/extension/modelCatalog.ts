/**
 * The curated small models offered by "Relay: Select Model". Sizes are of the default
 * (smallest) ONNX variant as published; the hub ids are onnx-community's exports.
 */
export interface CatalogModel {
  id: string;
  label: string;
  hubRepo?: string;
  sizeLabel: string;
  needs: string;
  relayTrained: boolean;
}

export const MODEL_CATALOG: CatalogModel[] = [
  { id: 'embedded-demo', label: 'Relay demo model (embedded)', sizeLabel: 'ships with the extension', needs: 'nothing: works offline; a toy arithmetic model trained to call', relayTrained: true },
  { id: 'qwen3-0.6b', label: 'Qwen3-0.6B', hubRepo: 'onnx-community/Qwen3-0.6B-ONNX', sizeLabel: 'about 0.5 GB (q4)', needs: '2 GB RAM; confidence mode', relayTrained: false },
  { id: 'qwen3-1.7b', label: 'Qwen3-1.7B', hubRepo: 'onnx-community/Qwen3-1.7B-ONNX', sizeLabel: 'about 1.3 GB (q4)', needs: '4 GB RAM; confidence mode', relayTrained: false },
  { id: 'llama-3.2-1b', label: 'Llama-3.2-1B-Instruct', hubRepo: 'onnx-community/Llama-3.2-1B-Instruct-ONNX', sizeLabel: 'about 1.0 GB (q4)', needs: '3 GB RAM; confidence mode', relayTrained: false },
  { id: 'smollm2-360m', label: 'SmolLM2-360M-Instruct', hubRepo: 'HuggingFaceTB/SmolLM2-360M-Instruct', sizeLabel: 'about 0.3 GB (q4)', needs: '1 GB RAM; confidence mode', relayTrained: false },
];
