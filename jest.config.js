/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: { warnOnly: false } }] },
  // The docs' snippets import the package by name (test/docs); tsconfig.json maps it too.
  moduleNameMapper: { '^express-response-cache$': '<rootDir>/middleware/index.ts' },
  globalSetup: '<rootDir>/test/helpers/global-setup.ts',
  globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
  testTimeout: 20000,
  // Two cores: keep Redis-heavy files from starving each other.
  maxWorkers: 2,
};
