export { createDevPki as createTestPki, type DevPki as TestPki } from '../../src/local/dev-pki';
