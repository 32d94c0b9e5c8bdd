/** The durable implementations against the store contracts (test/support/store-contract.ts). */
import { join } from 'node:path';
import { messageStoreContract, recordStoreContract } from '../../test/support/store-contract.js';
import { DefinitionsStore } from './defs/index.js';
import { MessageLog } from './log/index.js';
import { tempDir } from './log/test-util.js';
import { LogMessageStore } from './message-store.js';

messageStoreContract('segment log', async (t) => {
  const { log } = await MessageLog.open(await tempDir(t), {});
  t.after(() => log.close());
  return new LogMessageStore(log);
});

recordStoreContract('definitions store', async (t) => {
  const defs = await DefinitionsStore.open(join(await tempDir(t), 'definitions'));
  t.after(() => defs.close());
  return defs;
});
