// The seed's public surface: start one in-process (tests, benchmarks) or from the CLI.
export { type Seed, type SeedOptions, type SeedStatus, startSeed } from './seed';
