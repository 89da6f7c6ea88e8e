/**
 * Build main.js, the file Obsidian loads, from src/ with the pinned esbuild: one CommonJS file with
 * web/client.js bundled in and `obsidian` left to Obsidian. The output depends on nothing but the
 * sources (no timestamps, paths relative to this folder), so the checked-in main.js can be compared
 * with a fresh build.
 *
 * `node build.mjs [OUTFILE]`; the default is main.js beside this file (`make obsidian-plugin`).
 */

import { build } from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

await build({
  absWorkingDir: here,
  entryPoints: ['src/main.ts'],
  outfile: process.argv[2] ?? path.join(here, 'main.js'),
  bundle: true,
  format: 'cjs',
  platform: 'browser',
  target: 'es2022',
  external: ['obsidian'],
  charset: 'utf8',
  legalComments: 'inline',
  banner: { js: '/* canvas-live for Obsidian: built from src/ by `make obsidian-plugin`; do not edit. */' },
  logLevel: 'warning',
});
