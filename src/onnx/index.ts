// A small ONNX model writer (protobuf encoding of ModelProto), for benchmarks and model export.
export { encodeOnnxModel, type ElemType, type OnnxGraph, type OnnxInitializer, type OnnxNode, type OnnxValue } from './model';
