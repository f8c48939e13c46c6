// A volunteer without a browser: the tab's participant loop and swarm client in a Node process,
// on the CPU reference trainer (`npm run volunteer -- --seed <URL>`).
export { createCpuTrainer } from './cpu-trainer';
export { memoryPieceCache, memoryVolunteerStorage, PIECE_CACHE_BYTES } from './storage';
export { type NodeVolunteerOptions, runNodeVolunteer, type VolunteerEvent } from './volunteer';
