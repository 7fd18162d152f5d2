/**
 * The contract shared by the server and the SDK: the `license.v1` protos (loader and
 * generated types), the `license-error` codes and the trailing metadata keys. It
 * imports nothing from the server, the SDK or the tools.
 */
export { ErrorCode, isErrorCode } from './error-codes';
export { LICENSE_ERROR_KEY, LICENSE_LEADER_KEY, LICENSE_RETRY_AFTER_KEY } from './metadata';
export { loadLicensePackageDefinition, loadLicenseProto, PROTO_DIR, PROTO_FILES, PROTO_LOADER_OPTIONS, type LicenseV1 } from './proto';
