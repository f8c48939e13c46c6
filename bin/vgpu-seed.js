#!/usr/bin/env node
// The seed CLI, run from its TypeScript source through tsx's loader.
import { register } from 'tsx/esm/api';

register();
await import('../src/seed/cli.ts');
