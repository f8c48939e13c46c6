// The seed's public surface: start one in-process (tests, benchmarks) or from the CLI.
export type { SeedStatus } from './documents';
export { LEDGER_FILE, type Ledger, memoryLedger, openLedger } from './ledger';
export * from './limits';
export { type Seed, type SeedOptions, startSeed } from './seed';
export type { SentBytes } from './traffic';
