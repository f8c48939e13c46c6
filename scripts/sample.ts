// `npm run sample -- --run <dir> --prompt <text> [--tokens 50]`: continues a prompt with a run's
// weights on the CPU reference model (src/export).
import { sampleCommand } from '../src/export';

process.exitCode = await sampleCommand(process.argv.slice(2));
