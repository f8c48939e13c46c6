import { defineConfig } from 'vite';

/** Test and benchmark runs set VGPU_NO_RELOAD=1: an edit elsewhere in the tree must not reload their pages mid-run. */
const noReload = process.env.VGPU_NO_RELOAD === '1';

export default defineConfig({
  server: { host: '127.0.0.1', hmr: !noReload, ...(noReload ? { watch: null } : {}) },
  // Workers are ES modules so they can import the GPU runtime and comlink.
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    // Two pages: the volunteer's, and the seed's dashboard (served at /dashboard).
    rolldownOptions: { input: { main: 'index.html', dashboard: 'dashboard.html' } },
  },
});
