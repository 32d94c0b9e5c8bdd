/** Value types shared by the store and the core (DESIGN.md section 8: util → model → store → core). */
export {
  Decimal,
  type HeaderTable,
  type HeaderValue,
  type Properties,
  type PropertiesCodec,
} from './values.js';
export { headerJson, headerText, type JsonValue } from './header-text.js';
