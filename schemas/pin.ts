/**
 * Account PINs (issue #16: port-out validation and care authentication) are stored hashed, never in clear:
 * `hmac-sha256$<salt>$<hex>` = HMAC-SHA256 over `salt:PIN` with a per-deployment key.
 *
 * Why a keyed HMAC and not a slow password hash alone: a PIN has 4 to 8 digits, so any unkeyed hash (even
 * scrypt) of it is inverted by trying every PIN. With the key kept outside the data (a file or an environment
 * variable, never in ClickHouse or the reference files), a leaked snapshot gives nothing away (the same
 * reasoning as NIST SP 800-63B §5.1.1.2 "keyed hash ... secret key stored separately"). The per-account salt
 * keeps two accounts with the same PIN from sharing a hash. Comparison is constant-time.
 *
 * The key: CDR_PORTING_PIN_KEY (the value) or CDR_PORTING_PIN_KEY_FILE (a file holding it, one trailing
 * newline removed). Generated test data uses DEVELOPMENT_PIN_KEY when neither is set; so does validation,
 * with a warning, so the demo works out of the box. Never use it for real accounts.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

export const DEVELOPMENT_PIN_KEY = 'cdr-pipeline development PIN key: not for production';

/** 4 to 8 digits. */
export const PIN_PATTERN = /^\d{4,8}$/;

export function hashPin(pin: string, salt: string, key: string): string {
  if (!PIN_PATTERN.test(pin)) throw new RangeError('a PIN is 4 to 8 digits');
  if (!/^[A-Za-z0-9]{4,64}$/.test(salt)) throw new RangeError('a PIN salt is 4 to 64 letters or digits');
  return `hmac-sha256$${salt}$${createHmac('sha256', key).update(`${salt}:${pin}`).digest('hex')}`;
}

/** True when `pin` is the PIN behind `stored` (constant-time); false for a malformed stored value. */
export function verifyPin(pin: string, stored: string | null | undefined, key: string): boolean {
  if (!stored || !PIN_PATTERN.test(pin)) return false;
  const parts = stored.split('$');
  if (parts.length !== 3 || parts[0] !== 'hmac-sha256') return false;
  const expected = Buffer.from(parts[2]!, 'hex');
  const got = createHmac('sha256', key).update(`${parts[1]}:${pin}`).digest();
  return expected.length === got.length && timingSafeEqual(expected, got);
}

/** The PIN key of this deployment, and whether it is the development key (then the caller warns). */
export function pinKeyFromEnv(env: NodeJS.ProcessEnv = process.env): { key: string; development: boolean } {
  const file = env.CDR_PORTING_PIN_KEY_FILE;
  const value = env.CDR_PORTING_PIN_KEY;
  if (file && value) throw new Error('set CDR_PORTING_PIN_KEY or CDR_PORTING_PIN_KEY_FILE, not both');
  if (file) {
    const key = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    if (key.length < 16) throw new Error(`the PIN key in ${file} is shorter than 16 characters`);
    return { key, development: false };
  }
  if (value) {
    if (value.length < 16) throw new Error('CDR_PORTING_PIN_KEY is shorter than 16 characters');
    return { key: value, development: false };
  }
  return { key: DEVELOPMENT_PIN_KEY, development: true };
}
