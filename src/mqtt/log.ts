/**
 * Failures nobody waits for (a background write, a will whose exchange went away) are reported
 * as process warnings, the broker's channel for them, rather than dropped.
 */

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A rejection handler that reports `what` failed. */
export function warn(what: string): (e: unknown) => void {
  return (e) => process.emitWarning(`mqtt: ${what}: ${errorText(e)}`);
}
