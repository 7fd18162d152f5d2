import { ErrorCode, LicenseError } from '../errors';
import { FEATURE_PATTERN } from '../license/license-file';

/** Limits of the contract (docs/ARCHITECTURE.md, "Input limits"). */
export const LIMITS = Object.freeze({
  clientFieldMax: 256,
  requestIdMax: 128,
  idPattern: /^[A-Za-z0-9_-]{1,64}$/,
});

function invalid(field: string, problem: string): LicenseError {
  return new LicenseError(ErrorCode.INVALID_ARGUMENT, `${field}: ${problem}`, { field });
}

export function checkText(field: string, value: string, max: number, required: boolean): string {
  if (required && value.length === 0) throw invalid(field, 'is required');
  // Characters are Unicode code points, not UTF-16 units: 200 emoji are 200 characters.
  const length = [...value].length;
  if (length > max) throw invalid(field, `must be at most ${max} characters, got ${length}`);
  if (/\p{Surrogate}/u.test(value)) throw invalid(field, 'must be valid Unicode (it has a lone surrogate)');
  // Control characters (C0, DEL, C1) would corrupt log lines and CLI tables.
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  if (/[\u0000-\u001f\u007f-\u009f]/.test(value)) throw invalid(field, 'must not contain control characters');
  return value;
}

export function checkId(field: string, value: string): string {
  if (!LIMITS.idPattern.test(value)) throw invalid(field, value === '' ? 'is required' : 'is not a valid id (1-64 of A-Za-z0-9_-)');
  return value;
}

export function checkFeatureName(value: string, field = 'feature'): string {
  if (value === '') throw invalid(field, 'is required');
  if (!FEATURE_PATTERN.test(value)) throw invalid(field, 'must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$');
  return value;
}

export function checkCount(value: number, seats: number, feature: string): number {
  if (!Number.isInteger(value) || value < 1) throw invalid('count', `must be at least 1, got ${value}`);
  if (value > seats) throw invalid('count', `must be at most the ${seats} seat(s) licensed for ${feature}, got ${value}`);
  return value;
}

export function checkPid(value: number): number {
  if (!Number.isInteger(value) || value < 0) throw invalid('pid', `must be a whole number >= 0, got ${value}`);
  return value;
}
