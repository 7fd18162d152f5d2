/**
 * Trailing metadata keys of the contract (docs/ARCHITECTURE.md, "API and errors"),
 * shared by the server, which sets them, and the SDK, which reads them.
 */

/** The server's error code (an {@link ErrorCode}) on every refused call. */
export const LICENSE_ERROR_KEY = 'license-error';

/** `host:port` of the active node, sent by a standby with UNAVAILABLE when it knows it. */
export const LICENSE_LEADER_KEY = 'license-leader';
