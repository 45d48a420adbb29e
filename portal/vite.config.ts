/**
 * Builds the citizen portal into `dist/`, which every node serves at `/` (node/src/http/routes/portal.ts).
 * Run by the root `prepare` script during `npm install`/`npm ci`. No inline script or style is
 * emitted, so the node's Content-Security-Policy can forbid both.
 */
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

const root = fileURLToPath(new URL('.', import.meta.url))

export default defineConfig({
  root,
  base: '/',
  resolve: {
    // TypeBox's compiler generates code (new Function): the CSP forbids it. See the module.
    alias: {
      '@sinclair/typebox/compiler': fileURLToPath(new URL('src/typebox-compiler-csp.ts', import.meta.url)),
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Inlined assets would be data: URLs; keep every asset a file of its own.
    assetsInlineLimit: 0,
    // The module preload polyfill is not needed by current browsers.
    modulePreload: { polyfill: false },
    target: 'es2022',
    rolldownOptions: {
      // The service worker is a file of its own at the root, under a name that never changes.
      input: {
        main: fileURLToPath(new URL('index.html', import.meta.url)),
        sw: fileURLToPath(new URL('src/sw.ts', import.meta.url)),
      },
      output: { entryFileNames: (chunk) => (chunk.name === 'sw' ? 'sw.js' : 'assets/[name]-[hash].js') },
    },
  },
  // `npm run dev`: the API of a node started with `npm start`, on the dev server's origin.
  server: {
    proxy: { '/v1': 'http://127.0.0.1:8080', '/portal/config.json': 'http://127.0.0.1:8080' },
  },
  css: {
    preprocessorOptions: {
      scss: {
        loadPaths: [fileURLToPath(new URL('../node_modules', import.meta.url))],
        quietDeps: true,
      },
    },
  },
})
