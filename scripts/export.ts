// `npm run export -- --run <dir> --format onnx|safetensors --out <file> [--round <n>]`: a run's
// weights as a file for other tools (src/export).
import { exportCommand } from '../src/export';

process.exitCode = await exportCommand(process.argv.slice(2));
