export { createDevPki as createTestPki, type DevPki as TestPki } from '../../src/tools/local/dev-pki';
