/**
 * The architecture as rules (docs/ARCHITECTURE.md, "Where things live"): the contract
 * stands alone, the SDK sees only the contract, the server never reaches into the SDK
 * or the tools, and nothing in src/ imports tests. Plus no import cycles anywhere.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'Import cycles make start-up order and mocking fragile.', from: {}, to: { circular: true } },
    {
      name: 'contract-stands-alone',
      severity: 'error',
      comment: 'src/contract is shared by server and SDK: it imports neither, nor the tools.',
      from: { path: '^src/contract' },
      to: { path: '^src/(server|sdk|tools)/' },
    },
    {
      name: 'sdk-sees-only-the-contract',
      severity: 'error',
      comment: 'The SDK ships as its own package with the contract bundled; server or tools code would not be in it.',
      from: { path: '^src/sdk' },
      to: { path: '^src/(server|tools)/' },
    },
    {
      name: 'sdk-and-contract-npm-dependencies',
      severity: 'error',
      comment: 'An application that installs the SDK gets @grpc/grpc-js and @grpc/proto-loader only.',
      from: { path: '^src/(sdk|contract)' },
      to: {
        dependencyTypes: ['npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-no-pkg', 'npm-unknown'],
        pathNot: 'node_modules/@grpc/(grpc-js|proto-loader)/',
      },
    },
    {
      name: 'server-not-into-sdk-or-tools',
      severity: 'error',
      comment: 'The product does not depend on the client library or the development tooling.',
      from: { path: '^src/server' },
      to: { path: '^src/(sdk|tools)/' },
    },
    { name: 'src-not-into-test', severity: 'error', from: { path: '^src' }, to: { path: '^test/' } },
    {
      name: 'product-not-on-dev-dependencies',
      severity: 'error',
      comment: 'What the server package ships must run with production dependencies only.',
      from: { path: '^src/(server|contract|sdk)' },
      to: { dependencyTypes: ['npm-dev'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)dist/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.json'],
    },
  },
};
