import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';

/**
 * Host ids bind a licensed server to one machine (`servers[].host_id` in the license).
 * `licensectl hostid` prints this machine's id; the customer sends it to the vendor, who
 * signs it into the license, and a node on any other machine refuses to start.
 *
 * The id is derived from the machine's own identity, the systemd/D-Bus machine id, which
 * is set once at install and survives reboots, and never from anything an operator
 * configures (no LICENSE_* key, no file of ours), so it cannot be chosen by configuration.
 * It is an HMAC of a fixed, product-specific string keyed with the machine id, as
 * machine-id(5) asks of applications: the machine id itself is not revealed, and the id
 * means nothing to any other product.
 */
export const HOST_ID_PREFIX = 'lch1-';
export const HOST_ID_PATTERN = /^lch1-[0-9a-f]{32}$/;

/** Where the machine id lives: systemd, then the older D-Bus location. */
export const MACHINE_ID_FILES: readonly string[] = ['/etc/machine-id', '/var/lib/dbus/machine-id'];

const APP_ID = 'license-cluster host id v1';
const MACHINE_ID = /^[0-9a-f]{32}$/;

/** The host id of a machine id (32 hex digits, as in /etc/machine-id). */
export function hostIdFromMachineId(machineId: string): string {
  const id = machineId.trim().toLowerCase();
  if (!MACHINE_ID.test(id)) throw new Error(`not a machine id (32 hex digits): "${machineId.trim().slice(0, 40)}"`);
  return `${HOST_ID_PREFIX}${createHmac('sha256', Buffer.from(id, 'hex')).update(APP_ID).digest('hex').slice(0, 32)}`;
}

/**
 * This machine's host id, from the first of `files` that holds a machine id. Throws one
 * line naming the files and how to create a machine id when none does (an empty or
 * "uninitialized" /etc/machine-id, as in many container images, does not count).
 */
export function readHostId(files: readonly string[] = MACHINE_ID_FILES): string {
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    if (MACHINE_ID.test(text.trim().toLowerCase())) return hostIdFromMachineId(text);
  }
  throw new Error(
    `cannot tell this machine's host id: none of ${files.join(', ')} holds a machine id (32 hex digits); create one with systemd-machine-id-setup (or dbus-uuidgen --ensure) and keep it`,
  );
}
