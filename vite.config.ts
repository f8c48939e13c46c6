import { defineConfig } from 'vite';

export default defineConfig({
  server: { host: '127.0.0.1' },
  // Workers are ES modules so they can import the GPU runtime and comlink.
  worker: { format: 'es' },
  build: { target: 'es2022' },
});
