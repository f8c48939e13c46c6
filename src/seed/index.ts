// The seed's public surface: start one in-process (tests, benchmarks) or from the CLI.
export { startSeed, type Seed, type SeedOptions, type SeedStatus } from './seed';
