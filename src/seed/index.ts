// The seed's public surface: start one in-process (tests, benchmarks) or from the CLI.
export type { SeedStatus } from './documents';
export * from './limits';
export { type Seed, type SeedOptions, startSeed } from './seed';
export type { SentBytes } from './traffic';
