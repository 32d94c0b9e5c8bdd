/** Switchyard's public API: named re-exports only. */
export { loadConfig } from './config/load.js';
export { type Config, configSchema } from './config/schema.js';
export { Broker, type BrokerOptions } from './core/index.js';
export { ERRORS, type ErrorCode, SwitchyardError } from './errors/index.js';
export { type ListenerInfo, type RunningServer, startServer } from './server/index.js';
