import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'out/**', 'node_modules/**', 'test-results/**', 'test/fixtures/generated/**', '.cache/**', 'training/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
      eqeqeq: ['error', 'smart'],
    },
  },
  {
    // The engine knows nothing of VS Code: adapters import it, never the other way round.
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'vscode', message: 'src/core must not depend on VS Code; put this in src/extension.' }],
          patterns: [{ group: ['**/extension/**', '**/cli/**'], message: 'src/core must not import adapters.' }],
        },
      ],
    },
  },
);
