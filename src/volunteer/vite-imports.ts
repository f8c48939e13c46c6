// Node module hooks that load our page modules in Node the way Vite serves them to a page:
// `import source from './x.wgsl?raw'` gives the file's text, and a root-relative specifier such as
// '/src/gpu/index.ts' (what the specs import inside a page) means that file of the repository.
// Registered by the runs on Dawn in Node: `npm run volunteer -- --gpu`, the `dawn` test project and
// `npm run bench -- <name> --node`.
// This file is also the hooks module itself: register() loads it again in Node's hooks thread.
import { existsSync, readFileSync } from 'node:fs';
import { type LoadHook, type ResolveHook, register } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The repository root, which Vite serves at '/'. */
const ROOT = new URL('../../', import.meta.url);

export const resolve: ResolveHook = (specifier, context, next) => {
  if (specifier.startsWith('/') && !specifier.startsWith('//')) {
    const inRepo = new URL(`.${specifier}`, ROOT);
    const path = specifier.split('?')[0] ?? specifier;
    if (!existsSync(path) && existsSync(fileURLToPath(inRepo))) return next(inRepo.href, context);
  }
  return next(specifier, context);
};

export const load: LoadHook = (url, context, next) => {
  const parsed = new URL(url);
  if (parsed.protocol === 'file:' && parsed.searchParams.has('raw')) {
    const text = readFileSync(fileURLToPath(parsed), 'utf8');
    return { format: 'module', source: `export default ${JSON.stringify(text)};`, shortCircuit: true };
  }
  return next(url, context);
};

let registered = false;

/** Installs the hooks in this process (once); later imports, dynamic ones included, go through them. */
export function registerViteImports(): void {
  if (registered) return;
  register(import.meta.url);
  registered = true;
}
