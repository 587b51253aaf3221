// Lint: typescript-eslint's type-checked rules. They read the compiler's types, so they catch what a
// syntax-only linter cannot: unawaited promises, promises where a callback's result is ignored, awaits
// of non-promises. Formatting is Prettier's job (.prettierrc.json); no rule here is about layout.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

// An eslint-disable comment must say why on the same line: `// eslint-disable-line rule -- reason`.
const disableNeedsReason = {
  meta: { type: 'problem', schema: [], messages: { reason: 'eslint-disable needs a reason on the same line: `-- why`.' } },
  create(context) {
    return {
      Program() {
        for (const c of context.sourceCode.getAllComments()) {
          const text = c.value.trim();
          if (/^eslint-disable(-next-line|-line)?\b/.test(text) && !/\s--\s*\S/.test(text)) context.report({ loc: c.loc, messageId: 'reason' });
        }
      },
    };
  },
};

const NODE_GLOBALS = { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', URL: 'readonly' };

export default defineConfig(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.bench/'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { project: ['./tsconfig.test.json'], tsconfigRootDir: import.meta.dirname } },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    plugins: { local: { rules: { 'disable-needs-reason': disableNeedsReason } } },
    rules: {
      'local/disable-needs-reason': 'error',
      // Kept on purpose (they catch real bugs): no-floating-promises, no-misused-promises, await-thenable,
      // no-base-to-string, restrict-template-expressions, no-explicit-any (the gate where `any` enters).
      // Off: the no-unsafe-* family flags every use of a value already typed `any` (parsed JSON bodies);
      // no-explicit-any already stops `any` at the door, and these would mean rewriting every JSON read.
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // Off: an async function without await is harmless (route handlers return promises by contract).
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
      '@typescript-eslint/no-empty-object-type': ['error', { allowInterfaces: 'with-single-extends' }],
    },
  },
  {
    // A terminal console and its tests match ANSI escapes on purpose.
    files: ['tui/**', 'test/**'],
    rules: { 'no-control-regex': 'off' },
  },
  {
    // vitest's expect(obj.method) and mock objects pass methods around without calling them.
    files: ['test/**'],
    rules: { '@typescript-eslint/unbound-method': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: NODE_GLOBALS },
  },
);
