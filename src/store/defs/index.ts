/** The definitions store: what must survive a restart besides messages (docs/storage-decisions.md). */
export {
  type Definitions,
  DefinitionsStore,
  type DefinitionsStoreOptions,
  type OpenReport,
} from './store.js';
export {
  type BindingDef,
  type ExchangeDef,
  isRecoverableQueue,
  type QueueDef,
  type StoredQueue,
  type VhostDef,
} from './state.js';
