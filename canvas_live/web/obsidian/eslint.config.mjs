/** The plugin's lint: Obsidian's own review rules (eslint-plugin-obsidianmd) over src/, type-aware. */

import obsidianmd from 'eslint-plugin-obsidianmd';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export default [
  ...obsidianmd.configs.recommended,
  {
    files: ['src/**/*.ts'],
    languageOptions: {
      parserOptions: { project: path.join(here, 'tsconfig.json'), tsconfigRootDir: here },
    },
    rules: {
      // The declarative settings API is Obsidian 1.13's; the plugin supports the minAppVersion of its manifest.
      'obsidianmd/settings-tab/prefer-setting-definitions': 'off',
    },
  },
  { ignores: ['main.js', 'build.mjs', 'eslint.config.mjs'] },
];
