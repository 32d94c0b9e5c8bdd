/** The bounds-checked byte reader lives in src/model (the core reads stored property bytes too). */
export * from '../../model/byte-reader.js';
