/**
 * Header tables, user properties and metadata maps are keyed by names a client chose. Plain
 * assignment of the key "__proto__" changes the object's prototype instead of adding an entry: the
 * header would vanish (or, with an object value, reshape that one object). This always adds data.
 */
export function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}
