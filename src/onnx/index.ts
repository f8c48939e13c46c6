// A small ONNX model writer (protobuf encoding of ModelProto), for benchmarks and model export.

// The GPT (flat weights of src/model/layout.ts) as an ONNX model, for "try the model".
export { exportGptOnnx, GPT_ONNX_INPUT, GPT_ONNX_OUTPUT } from './gpt';
export {
  type ElemType,
  encodeOnnxModel,
  type OnnxGraph,
  type OnnxInitializer,
  type OnnxNode,
  type OnnxValue,
} from './model';
