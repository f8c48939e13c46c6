// The trained model out of a run folder, which it only reads: the weights of a round as ONNX or
// safetensors, and text continued by the CPU reference model; and the two commands over them
// (`npm run export`, `npm run sample`). Node only: it reads files.
export type { Printer } from '../util/printer';
export { exportCommand, sampleCommand } from './cli';
export { EXPORT_FORMATS, type ExportFormat, encodeWeights } from './formats';
export { type RunWeights, readRunTokenizer, readRunWeights } from './run';
export { continueTokens, type SampleSettings } from './sample';
