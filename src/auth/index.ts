/** Users, passwords and permissions (RabbitMQ's model): what the core asks before it acts. */
export { hashPassword, parseHash, RABBIT_HASHING, type RabbitHashing, rabbitHash } from './passwords.js';
export {
  compilePermission,
  type Permission,
  type PermissionEntry,
  PermissionTable,
  type TopicPermissionEntry,
  type TopicVariables,
} from './permissions.js';
export { isLoopback, type UserDef, type UserSpec, UserTable, userDefs } from './users.js';
